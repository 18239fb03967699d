/**
 * The dashboard at `/`: one self-contained page, no framework and no build step. It reads everything
 * through the same API as any client (so it needs the token like any client): status, recent runs and
 * conflicts by fetch, live progress by EventSource.
 *
 * The token: open `http://host:port/#token=…` once (a fragment never reaches the server or its logs), or
 * type it when asked; the page keeps it in localStorage. EventSource cannot send headers, so the stream
 * gets it as `?token=`, which the daemon accepts on that route only and never logs.
 *
 * Values from the API are only ever inserted as text (textContent), never as HTML; the Content-Security-
 * Policy allows exactly this page's inline script and style (by hash) and requests to this origin.
 */
import { createHash } from "node:crypto";

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dt{color:#666}dd{margin:0}
progress{width:100%;height:1.2rem}button{margin:0 .3rem .3rem 0}.err{color:#b00}.muted{color:#666}
.hidden{display:none}td:last-child{white-space:nowrap}code{font-size:.9em}#auth{background:#fff4d6;padding:.8rem;margin-bottom:1rem}
`;

const SCRIPT = `
"use strict";
const KEY = "syncd.token";
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem(KEY) || "";
const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fromHash) {
  token = decodeURIComponent(fromHash[1]);
  localStorage.setItem(KEY, token);
  history.replaceState(null, "", location.pathname + location.search);
}
let events = null;
let running = false;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function emptyRow(text) {
  const tr = el("tr");
  tr.append(el("td", text, "muted"));
  return tr;
}
function bytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(v < 10 ? 1 : 0) + " " + u[i];
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : "never"; }
function describe(s) {
  if (s.skipped) return "up to date (version " + s.version + ")";
  return "version " + s.version + ": " + s.uploaded + " up, " + s.downloaded + " down, " +
    (s.deletedLocal + s.deletedRemote) + " deleted, " + (s.metadataPushed + s.metadataPulled) + " metadata, " +
    s.conflicts + " conflicts, " + bytes(s.bytesUp) + " / " + bytes(s.bytesDown) + ", " + (s.durationMs / 1000).toFixed(1) + " s";
}

async function api(path, init) {
  init = init || {};
  const headers = Object.assign({}, init.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, Object.assign({}, init, { headers }));
  if (res.status === 401) { askToken(); throw new Error("The daemon needs its token."); }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body && body.error ? body.error.message : "HTTP " + res.status);
  return body;
}

function askToken() {
  $("auth").classList.remove("hidden");
  if (events) { events.close(); events = null; }
}
$("auth-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  localStorage.setItem(KEY, token);
  $("auth").classList.add("hidden");
  start();
});

async function refreshStatus() {
  let s;
  try { s = await api("/api/v1/sync/status"); } catch (e) { $("status-error").textContent = e.message; return; }
  $("status-error").textContent = "";
  const d = s.daemon;
  const rows = [
    ["Instance", d.instance ? d.instance.name : ""],
    ["Unsynced changes", s.unsynced],
    ["Local version", s.localVersion === null ? "never synced" : s.localVersion],
    ["Share version", s.remoteVersion === null ? "unknown" : s.remoteVersion],
    ["Sync needed", s.syncNeeded === null ? "unknown (share unreachable)" : s.syncNeeded ? "yes" : "no"],
    ["Last sync", when(s.lastSyncAt)],
    ["Open conflicts", s.conflicts],
    ["Next run", d.running ? "running now" : d.nextRunAt ? when(d.nextRunAt) + " (" + d.nextRunReason + ")" : "not scheduled"],
    ["Last error", d.lastError ? d.lastError.message : s.lastError || "none"],
  ];
  const dl = $("status");
  dl.replaceChildren();
  for (const [k, v] of rows) { dl.append(el("dt", k), el("dd", v)); }
  setRunning(d.running);
  const tbody = $("runs");
  tbody.replaceChildren();
  for (const r of d.recentRuns) {
    const tr = el("tr");
    tr.append(el("td", when(r.finishedAt)), el("td", r.trigger + (r.force ? " (forced)" : "")),
      el("td", r.ok ? describe(r.summary) : r.error.message, r.ok ? "" : "err"));
    tbody.append(tr);
  }
  if (d.recentRuns.length === 0) tbody.append(emptyRow("no runs yet"));
}

function side(s) {
  if (s.deleted) return "deleted";
  return s.name + " · " + bytes(s.size) + " · " + s.hash.slice(0, 10) + " · " + JSON.stringify(s.meta);
}
async function refreshConflicts() {
  let list;
  try { list = await api("/api/v1/sync/conflicts"); } catch (e) { $("conflicts-error").textContent = e.message; return; }
  $("conflicts-error").textContent = "";
  const tbody = $("conflicts");
  tbody.replaceChildren();
  for (const c of list) {
    const tr = el("tr");
    tr.dataset.conflict = c.id;
    const actions = el("td");
    for (const [strategy, label] of [["local_wins", "Keep local"], ["remote_wins", "Keep remote"], ["keep_both", "Keep both"]]) {
      const b = el("button", label);
      b.dataset.strategy = strategy;
      b.addEventListener("click", () => resolve(c.id, strategy, tr));
      actions.append(b);
    }
    tr.append(el("td", c.local.name), el("td", c.kind + (c.fields.length ? ": " + c.fields.join(", ") : "")),
      el("td", side(c.local)), el("td", side(c.remote)), actions);
    tbody.append(tr);
  }
  if (list.length === 0) tbody.append(emptyRow("no open conflicts"));
}
async function resolve(id, strategy, row) {
  for (const b of row.querySelectorAll("button")) b.disabled = true;
  try {
    await api("/api/v1/sync/resolve-conflict", { method: "POST", body: JSON.stringify({ id, strategy }) });
    $("conflicts-error").textContent = "";
  } catch (e) {
    $("conflicts-error").textContent = e.message;
  }
  await Promise.all([refreshConflicts(), refreshStatus()]);
}

function setRunning(on) {
  running = on;
  $("sync-now").disabled = on;
}
function showProgress(p) {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.total > 0 ? p.done / p.total : 0;
  $("bar").value = Math.round(Math.min(1, frac) * 1000);
  $("phase").textContent = p.phase + " " + p.done + "/" + p.total + (p.bytesTotal > 0 ? " · " + bytes(p.bytesDone) + " of " + bytes(p.bytesTotal) : "");
}
$("sync-now").addEventListener("click", async () => {
  setRunning(true);
  $("result").textContent = "syncing…";
  $("result").className = "";
  try {
    const s = await api("/api/v1/sync", { method: "POST", body: "{}" });
    $("result").textContent = "done: " + describe(s);
  } catch (e) {
    $("result").textContent = "failed: " + e.message;
    $("result").className = "err";
  }
  await Promise.all([refreshStatus(), refreshConflicts()]);
});

function connect() {
  if (events) events.close();
  events = new EventSource("/api/v1/sse/subscribe" + (token ? "?token=" + encodeURIComponent(token) : ""));
  events.addEventListener("open", () => { $("live").textContent = "live"; });
  events.addEventListener("error", () => { $("live").textContent = "reconnecting…"; });
  events.addEventListener("sync.started", () => { setRunning(true); $("bar").value = 0; $("phase").textContent = "starting"; });
  events.addEventListener("sync.progress", (e) => showProgress(JSON.parse(e.data)));
  events.addEventListener("sync.completed", (e) => {
    const s = JSON.parse(e.data).summary;
    $("bar").value = 1000;
    $("phase").textContent = "completed: " + describe(s);
    setRunning(false);
    refreshStatus(); refreshConflicts();
  });
  events.addEventListener("sync.failed", (e) => {
    $("phase").textContent = "failed: " + JSON.parse(e.data).error.message;
    setRunning(false);
    refreshStatus();
  });
  events.addEventListener("conflict", () => refreshConflicts());
}

function start() {
  connect();
  refreshStatus();
  refreshConflicts();
}
setInterval(() => { if (!running) refreshStatus(); }, 15000);
start();
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>syncd</title>
<style>${STYLE}</style>
</head>
<body>
<h1>syncd <small class="muted" id="live">connecting…</small></h1>
<section id="auth" class="hidden">
  <form id="auth-form">
    <label>This daemon needs its token (<code>server.token</code>): <input id="token" type="password" autocomplete="off"></label>
    <button type="submit">Use token</button>
  </form>
</section>
<section>
  <h2>Status</h2>
  <p class="err" id="status-error"></p>
  <dl id="status"></dl>
</section>
<section>
  <h2>Sync</h2>
  <button id="sync-now">Sync now</button> <span id="result"></span>
  <progress id="bar" max="1000" value="0"></progress>
  <div id="phase" class="muted">idle</div>
</section>
<section>
  <h2>Open conflicts</h2>
  <p class="err" id="conflicts-error"></p>
  <table><thead><tr><th>Entry</th><th>Kind</th><th>Local</th><th>Remote</th><th>Resolve</th></tr></thead><tbody id="conflicts"></tbody></table>
</section>
<section>
  <h2>Recent runs</h2>
  <table><thead><tr><th>Finished</th><th>Trigger</th><th>Result</th></tr></thead><tbody id="runs"></tbody></table>
</section>
<script>${SCRIPT}</script>
</body>
</html>
`;
