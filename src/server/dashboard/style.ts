/** The dashboard's style sheet (dashboard.ts): inline in the page, allowed by its hash. */
export const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem;color:#1d2125;background:#f6f7f9;overflow-wrap:anywhere}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem 1rem;margin-bottom:1rem}
h1{font-size:1.3rem;margin:0}h2{font-size:1.05rem;margin:0 0 .6rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:1rem;margin-bottom:1rem}
.muted{color:#5f6b7a}.small{font-size:.85rem}.err{color:#a4141b}.hidden{display:none}
#state{font-size:1.5rem;font-weight:600;margin:0}
#state-reason{margin:.3rem 0 0}
.clamp{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2;overflow:hidden;cursor:pointer}
#state.ok{color:#17803d}#state.busy{color:#1f5fbf}#state.wait{color:#8a5a00}#state.bad{color:#a4141b}
.row{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
button{font:inherit;padding:.35rem .8rem;border:1px solid #b8c0ca;border-radius:6px;background:#fff;cursor:pointer}
button.primary{background:#1f5fbf;border-color:#1f5fbf;color:#fff}button:disabled{opacity:.55;cursor:default}
button.on{background:#e7eefb;border-color:#1f5fbf}
progress{width:100%;height:1rem;margin:.6rem 0 .2rem}
#transfer{margin-top:.8rem}
table{border-collapse:collapse;width:100%;table-layout:fixed}
td,th{border-bottom:1px solid #e6e9ed;padding:.35rem .4rem;text-align:left;vertical-align:top}
th{font-weight:600;color:#5f6b7a;font-size:.85rem}
.conflict{border:1px solid #e8c3c5;border-radius:6px;padding:.7rem;margin-bottom:.8rem}
.conflict h3{font-size:1rem;margin:0 0 .3rem}
.conflict .differs td{background:#fff4d6;font-weight:600}
.conflict table th:first-child{width:22%}
.entries td:nth-child(2),.entries th:nth-child(2){width:6.5rem}
.entries td:nth-child(3),.entries th:nth-child(3){width:8rem}
.entries td:nth-child(4),.entries th:nth-child(4){width:6.5rem}
input[type=search],input[type=password]{font:inherit;padding:.35rem .5rem;border:1px solid #b8c0ca;border-radius:6px;width:100%;max-width:28rem}
pre{background:#f0f2f5;padding:.5rem .7rem;border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0}
ul.plain{list-style:none;padding:0;margin:0}ul.plain li{padding:.3rem 0;border-bottom:1px solid #eef0f3}
#auth{background:#fff4d6}
@media (max-width:40rem){body{padding:.5rem}section{padding:.7rem}.entries td:nth-child(3),.entries th:nth-child(3){display:none}
.entries td:nth-child(2),.entries th:nth-child(2){width:4.5rem}.entries td:nth-child(4),.entries th:nth-child(4){width:5.5rem}#state{font-size:1.25rem}}
`;
