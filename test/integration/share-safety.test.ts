/**
 * Issue 11 ("Safety"): the daemon's embedded share against web pages and stray requests, on the real
 * `syncd daemon` process (a crash shows as its exit, not as a test runner error).
 * - What a page of another origin can make a browser send without a preflight (GET, POST, and requests a
 *   page marks only with Sec-Fetch-Site) is refused, no answer carries a CORS grant, a MOVE/COPY cannot
 *   name another host, and methods outside WebDAV's (POST was PUT to webdav-server) are 405.
 * - The requests known to kill webdav-server 2.6.3 (FIELD-NOTES) are refused or made harmless before it
 *   sees them: the daemon stays up and logs no fault for them.
 * - A seeded fuzz of methods, paths, headers and bodies does not stop the daemon, and a sync works after.
 * - The last-resort containment (share-faults.ts) ends the one request a webdav-server fault broke, and
 *   only that: an exception elsewhere still exits the process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { fuzzRequests } from "../helpers/dav-fuzz.js";
import { startDaemonProcess, writeConfig, type DaemonProcess } from "../helpers/daemon-process.js";

const TOKEN = "safety-test-token";
const BASIC = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString("base64")}`;
const EVIL = "http://evil.example";
const FUZZ_AREA = "/dav/fuzz/1/2/3/4"; // deep enough that "..", "%2f" and friends stay inside /dav/fuzz
const FUZZ_REQUESTS = 300;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const dir = mkdtempSync(join(tmpdir(), "syncd-safety-"));
let daemon: DaemonProcess;
let port: number;
let share: string; // the share's folder on disk

/** One request to the daemon, over its own connection, as given (no redirects, no header rewriting). */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  return sendTo(port, method, path, headers, body);
}

function sendTo(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path: path.replace(/[^\x21-\x7e]/g, encodeURIComponent), headers: { authorization: BASIC, ...headers }, agent: false, timeout: 10_000 },
      (res) => {
        let text = "";
        res.setEncoding("latin1");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Headers only, raw, for what node:http will not send (a 2 GB Content-Length with no body). */
function sendHead(head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(head));
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      text += d;
      if (text.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

async function expectAlive(): Promise<void> {
  expect(daemon.child.exitCode, `daemon exited; stderr: ${daemon.stderr()}`).toBeNull();
  expect((await send("GET", "/healthz")).status).toBe(200);
}

const faults = () => daemon.lines.filter((l) => l.msg === "share request failed inside webdav-server" || l.msg === "uncaught exception");

beforeAll(async () => {
  const config = join(dir, "syncd.json");
  writeConfig(config, {
    instanceName: "safety",
    dataDir: "./data",
    sync: { intervalSeconds: 3600 },
    server: { host: "127.0.0.1", port: 0, token: TOKEN },
  });
  daemon = await startDaemonProcess(config);
  port = Number(new URL(daemon.url).port);
  share = join(dir, "data", "share");
  const first = await send("POST", "/api/v1/sync", { authorization: `Bearer ${TOKEN}` });
  expect(first.status, first.body).toBe(200);
  let at = "";
  for (const level of FUZZ_AREA.split("/").slice(2)) {
    at += `/${level}`;
    expect((await send("MKCOL", `/dav${at}/`)).status).toBe(201);
  }
});

afterAll(async () => {
  if (daemon?.child.exitCode === null) {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe("a page of another origin", () => {
  it("cannot read metadata.db, even with the browser's cached credentials, nor with a no-cors load", async () => {
    const own = await send("GET", "/dav/syncd/metadata.db");
    expect(own.status).toBe(200);
    const foreign = await send("GET", "/dav/syncd/metadata.db", { origin: EVIL });
    expect(foreign.status).toBe(403);
    expect(foreign.body).not.toContain("SQLite");
    expect((await send("GET", "/dav/syncd/metadata.db", { origin: EVIL, authorization: "" })).status).toBe(403);
    // <img src=…> and friends send no Origin, but a browser marks them cross-site.
    expect((await send("GET", "/dav/syncd/metadata.db", { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await send("GET", "/dav/syncd/metadata.db", { "sec-fetch-site": "same-site" })).status).toBe(403);
    // The daemon's own origin, and typed URLs, are fine.
    expect((await send("GET", "/dav/syncd/version.txt", { origin: daemon.url, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await send("GET", "/dav/syncd/version.txt", { "sec-fetch-site": "none" })).status).toBe(200);
  });

  it("cannot rewrite metadata.db or version.txt with a POST (webdav-server took POST as PUT)", async () => {
    const before = readFileSync(join(share, "syncd", "version.txt"), "utf8");
    const db = readFileSync(join(share, "syncd", "metadata.db"));
    for (const name of ["version.txt", "metadata.db"]) {
      const forged = await send("POST", `/dav/syncd/${name}`, { origin: EVIL, "content-type": "text/plain" }, "999\nsha256=00\n");
      expect(forged.status).toBe(403);
      // Not from a browser either: POST is not a WebDAV method here.
      const post = await send("POST", `/dav/syncd/${name}`, { "content-type": "text/plain" }, "999\n");
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe("OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, MOVE, COPY, PROPFIND, PROPPATCH");
    }
    expect(readFileSync(join(share, "syncd", "version.txt"), "utf8")).toBe(before);
    expect(readFileSync(join(share, "syncd", "metadata.db")).equals(db)).toBe(true);
    for (const method of ["PUT", "DELETE", "PROPFIND", "MKCOL", "OPTIONS"]) {
      expect((await send(method, "/dav/syncd/version.txt", { origin: EVIL })).status, method).toBe(403);
    }
    expect((await send("PUT", "/dav/syncd/x", { origin: "null" }, "x")).status).toBe(403);
  });

  it("gets no CORS grant from any answer, preflight included", async () => {
    const answers = [
      await send("OPTIONS", "/dav/syncd/", { origin: EVIL, "access-control-request-method": "PUT" }),
      await send("OPTIONS", "/dav/syncd/"),
      await send("PROPFIND", "/dav/syncd/", { depth: "1" }),
      await send("GET", "/dav/syncd/version.txt"),
      await send("GET", "/dav/syncd/version.txt", { authorization: "" }),
    ];
    expect(answers.map((a) => a.status)).toEqual([403, 200, 207, 200, 401]);
    for (const a of answers) expect(Object.keys(a.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
  });
});

describe("requests the share does not take", () => {
  it("MOVE or COPY to another host, or out of the share: 502, nothing moved", async () => {
    for (const method of ["MOVE", "COPY"]) {
      for (const destination of [`${EVIL}/dav/syncd/stolen`, `//evil.example/dav/syncd/stolen`, `http://127.0.0.1:${port}/api/v1/files`, "/elsewhere/x"]) {
        expect((await send(method, "/dav/syncd/metadata.db", { destination })).status, `${method} → ${destination}`).toBe(502);
      }
    }
    expect(readFileSync(join(share, "syncd", "metadata.db")).length).toBeGreaterThan(0);
    // On this host and share it works (an absolute URL and a path).
    expect((await send("COPY", "/dav/syncd/version.txt", { destination: `${daemon.url}/dav/fuzz/v1.txt` })).status).toBe(201);
    expect((await send("MOVE", "/dav/fuzz/v1.txt", { destination: "/dav/fuzz/v2.txt" })).status).toBe(201);
  });

  it("no locks (they would lock nothing), and says so: DAV class 1, LOCK and UNLOCK 405", async () => {
    const options = await send("OPTIONS", "/dav/fuzz/");
    expect(options.headers.dav).toBe("1");
    expect(options.headers.allow).not.toMatch(/LOCK|POST/);
    const lockinfo = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
    expect((await send("LOCK", "/dav/fuzz/v2.txt", { "content-type": "text/xml" }, lockinfo)).status).toBe(405);
    expect((await send("UNLOCK", "/dav/fuzz/v2.txt", { "lock-token": "<opaquelocktoken:x>" })).status).toBe(405);
  });

  it("is reachable only where server.host says (loopback by default)", async () => {
    const canConnect = (host: string) =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host, port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
    expect(await canConnect("127.0.0.1")).toBe(true);
    const elsewhere = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal).map((a) => a!.address);
    for (const address of ["::1", ...elsewhere]) expect(await canConnect(address), address).toBe(false);
  });

  it("needs the token: Basic with any user name, or Bearer", async () => {
    const anonymous = await send("PROPFIND", "/dav/", { depth: "0", authorization: "" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["www-authenticate"]).toMatch(/^Basic /);
    expect((await send("PROPFIND", "/dav/", { depth: "0", authorization: `Basic ${Buffer.from("x:wrong").toString("base64")}` })).status).toBe(401);
    expect((await send("PROPFIND", "/dav/", { depth: "0", authorization: `Bearer ${TOKEN}` })).status).toBe(207);
  });
});

describe("requests that killed webdav-server", () => {
  const propertyupdate = (inner: string) => `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">${inner}</D:propertyupdate>`;
  const prop = (name: string, ns = "http://example.com/neon/litmus/") => `<D:prop><${name} xmlns="${ns}">v</${name}></D:prop>`;

  it("are refused or defused, the daemon stays up and has no fault to report", async () => {
    onTestFailed(() => console.log(daemon.lines.slice(-20).map((l) => JSON.stringify(l)).join("\n")));
    const file = "/dav/fuzz/killers.txt";
    expect((await send("PUT", file, {}, "x")).status).toBe(201);
    const cases: Array<[string, () => Promise<number>, number]> = [
      // Two <set> (neon sends one per property: litmus' props test 6) and two <remove>: 207, then ERR_HTTP_HEADERS_SENT.
      ["PROPPATCH, two <set>", async () => (await send("PROPPATCH", file, {}, propertyupdate(`<D:set>${prop("a")}</D:set><D:set>${prop("b")}</D:set>`))).status, 422],
      ["PROPPATCH, two <remove>", async () => (await send("PROPPATCH", file, {}, propertyupdate(`<D:remove>${prop("a")}</D:remove><D:remove>${prop("b")}</D:remove>`))).status, 422],
      ["PROPPATCH, <set> without <prop>", async () => (await send("PROPPATCH", file, {}, propertyupdate("<D:set/>"))).status, 400],
      ["PROPPATCH, DAV: property beside a <remove>", async () => (await send("PROPPATCH", file, {}, propertyupdate(`<D:set>${prop("getetag", "DAV:")}</D:set><D:remove>${prop("absent")}</D:remove>`))).status, 403],
      ["PROPPATCH, one <set> and one <remove>", async () => (await send("PROPPATCH", file, {}, propertyupdate(`<D:set>${prop("a")}</D:set><D:remove>${prop("b")}</D:remove>`))).status, 207],
      // A value nested 1,500 deep is stored; every later PROPFIND of the file or its folder overflows the stack.
      ["PROPPATCH, a value nested 1,500 deep", async () => (await send("PROPPATCH", file, {}, propertyupdate(`<D:set>${prop("deep").replace(">v<", `>${"<a>".repeat(1500)}${"</a>".repeat(1500)}<`)}</D:set>`))).status, 422],
      ["PROPFIND of its folder", async () => (await send("PROPFIND", "/dav/fuzz/", { depth: "1" })).status, 207],
      ["PROPFIND, malformed body", async () => (await send("PROPFIND", file, { depth: "0" }, "<D:propfind xmlns:D='DAV:'><D:prop>")).status, 400],
      // Untagged If: an undefined path looked up in a callback; MKCOL with any If: a null file system.
      ["PROPFIND, untagged If", async () => (await send("PROPFIND", file, { depth: "0", if: "(<opaquelocktoken:abc>)" })).status, 207],
      ["MKCOL, tagged If", async () => (await send("MKCOL", "/dav/fuzz/if/", { if: `<${daemon.url}/dav/fuzz/if/> (<opaquelocktoken:x>)` })).status, 201],
      ["DELETE, untagged If", async () => (await send("DELETE", "/dav/fuzz/if/", { if: "(<opaquelocktoken:abc>)" })).status, 200],
      // Malformed escapes (URIError) and NUL (fs throws) in the path and in the Destination.
      ["GET, bad escape", async () => (await send("GET", "/dav/fuzz/%E0%A4%A")).status, 400],
      ["PROPFIND, bad escape", async () => (await send("PROPFIND", "/dav/fuzz/%ZZ", { depth: "1" })).status, 400],
      ["GET, NUL", async () => (await send("GET", "/dav/fuzz/a%00b")).status, 400],
      ["MOVE, bad escape in Destination", async () => (await send("MOVE", file, { destination: "/dav/fuzz/%E0%A4%A" })).status, 400],
      ["COPY, bad escape in the Destination's query", async () => (await send("COPY", file, { destination: "/dav/fuzz/x?%E0%A4%A" })).status, 400],
      ["DELETE with a fragment", async () => (await send("DELETE", "/dav/fuzz/1/#x")).status, 400],
      // webdav-server reads "Content-Lengt-h" as Content-Length and allocates it.
      ["look-alike Content-Length", async () => (await send("PROPFIND", file, { "content-lengt-h": "2000000000", depth: "0" })).status, 400],
      ["PROPFIND, chunked body", async () => (await send("PROPFIND", file, { "transfer-encoding": "chunked", depth: "0" }, "<x/>")).status, 411],
      [
        "PROPFIND, 2 GB Content-Length",
        async () => Number((await sendHead(`PROPFIND ${file} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${BASIC}\r\nContent-Length: 2000000000\r\n\r\n`)).split(" ")[1]),
        413,
      ],
      ["GET, many ranges", async () => (await send("GET", file, { range: "bytes=0-0,0-0,0-0" })).status, 200],
    ];
    for (const [name, run, status] of cases) {
      expect(await run(), name).toBe(status);
      await expectAlive();
    }
    // COPY onto an existing file with Overwrite: F must fail (litmus copymove); webdav-server overwrote it.
    expect((await send("COPY", file, { destination: "/dav/fuzz/v2.txt", overwrite: "F" })).status).toBe(412);
    expect((await send("MKCOL", "/dav/fuzz/body/", { "content-type": "text/xml" }, "<x/>")).status).toBe(415);
    await new Promise((r) => setTimeout(r, 200)); // a fault in a callback would surface on a later tick
    await expectAlive();
    expect(faults()).toEqual([]);
  });
});

describe("a seeded fuzz of the share", () => {
  it(`${FUZZ_REQUESTS} random requests do not stop the daemon, and a sync works after them`, async () => {
    onTestFailed(() => console.log(daemon.lines.slice(-20).map((l) => JSON.stringify(l)).join("\n")));
    const requests = fuzzRequests(11, FUZZ_REQUESTS, FUZZ_AREA, `127.0.0.1:${port}`);
    const statuses = new Map<string, number>();
    const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    // Four at a time, as clients do; after each round the daemon must still be there.
    for (let i = 0; i < requests.length; i += 4) {
      await Promise.all(
        requests.slice(i, i + 4).map(async (r) => {
          try {
            count(String((await send(r.method, r.path, r.headers, r.body)).status));
          } catch (err) {
            count((err as Error).message.includes("no answer") ? "timeout" : "no answer");
          }
        }),
      );
      const round = requests.slice(i, i + 4).map((r) => ({ ...r, body: r.body?.toString("latin1") }));
      expect(daemon.child.exitCode, `daemon exited after request ${i}: ${JSON.stringify(round)}\n${daemon.stderr()}`).toBeNull();
    }
    console.log(`fuzz: ${requests.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, faults contained ${faults().length}`);
    await expectAlive();
    expect(statuses.get("timeout") ?? 0).toBe(0);
    expect(daemon.lines.filter((l) => l.msg === "uncaught exception")).toEqual([]);
    // The library's folder was never in reach, and the daemon still syncs through its share.
    const sync = await send("POST", "/api/v1/sync", { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, JSON.stringify({ force: true }));
    expect(sync.status, sync.body).toBe(200);
    expect(JSON.parse(sync.body)).toMatchObject({ skipped: false });
  }, 120_000);
});

describe("the last-resort containment (share-faults.ts)", () => {
  it("ends only the request whose webdav-server callback threw; any other exception still exits", async () => {
    const faultsModule = fileURLToPath(new URL("../../dist/remote/share-faults.js", import.meta.url));
    const script = join(dir, "contain.mjs");
    writeFileSync(
      script,
      `import { createServer } from "node:http";
import { containShareFault, runShareRequest } from ${JSON.stringify(faultsModule)};
process.on("uncaughtException", (err) => {
  if (containShareFault(err)) return;
  process.stdout.write("fatal: " + err.message + "\\n");
  process.exit(1);
});
const onFault = (err, req) => process.stdout.write("contained: " + req.url + " " + err.message + "\\n");
const server = createServer((req, res) => {
  if (req.url === "/elsewhere") return setTimeout(() => { throw new Error("not the share's"); }, 0);
  runShareRequest(req, res, onFault, () => {
    // As webdav-server does: the answer goes out, later callbacks throw or write again.
    if (req.url === "/throw") return setTimeout(() => process.nextTick(() => { throw new Error("in a callback"); }), 0);
    if (req.url === "/throw-late") { res.writeHead(207).end("done"); return setTimeout(() => { throw new Error("after the answer"); }, 0); }
    if (req.url === "/write-twice") { res.writeHead(207, { "Access-Control-Allow-Origin": "*", DAV: "1,2" }).end("once"); return setImmediate(() => { res.setHeader("Content-Type", "x"); res.write("twice"); res.end(); }); }
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write("port " + server.address().port + "\\n"));
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      await new Promise<void>((resolve) => child.stdout.on("data", () => out.includes("\n") && resolve()));
      const get = (path: string) => sendTo(Number(/port (\d+)/.exec(out)?.[1]), "GET", path);
      const thrown = await get("/throw");
      expect(thrown.status).toBe(500);
      expect(JSON.parse(thrown.body)).toMatchObject({ error: { code: "internal" } });
      expect(await get("/throw-late")).toMatchObject({ status: 207, body: "done" });
      const twice = await get("/write-twice");
      expect(twice).toMatchObject({ status: 207, body: "once" });
      expect(twice.headers["access-control-allow-origin"]).toBeUndefined();
      expect(twice.headers.dav).toBe("1");
      await new Promise((r) => setTimeout(r, 100));
      expect(child.exitCode).toBeNull();
      expect(out).toContain("contained: /throw in a callback");
      expect(out).toContain("contained: /throw-late after the answer");
      await get("/elsewhere").catch(() => undefined); // never answered: the process exits
      expect(await exited).toBe(1);
      expect(out).toContain("fatal: not the share's");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
