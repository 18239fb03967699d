/**
 * The HTTP API of `syncd daemon` (SPEC §6), route by route, over a real HTTP server in this process with
 * the embedded share: auth, bodies, errors, sync joins, conflicts, the changes feed, metrics.
 */
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeToken } from "../../src/server/changes-token.js";
import { openPeer, startTestDaemon, type Peer, type TestDaemon } from "../helpers/daemon.js";

interface EntryJson {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: Record<string, unknown>;
  version: number;
  deleted: boolean;
  syncStatus: string;
}
interface Summary {
  skipped: boolean;
  version: number;
  uploaded: number;
  downloaded: number;
  conflicts: number;
  bytesUp: number;
  durationMs: number;
}
interface ErrorJson {
  error: { code: string; message: string };
}

let td: TestDaemon;

beforeAll(async () => {
  td = await startTestDaemon({ token: "s3cret-token" });
});
afterAll(async () => {
  await td?.close();
});

async function expectError(res: Response, status: number, code: string): Promise<ErrorJson> {
  const body = (await res.json()) as ErrorJson;
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  expect(typeof body.error.message).toBe("string");
  return body;
}

async function upload(name: string, content: string | Buffer, meta?: Record<string, unknown>): Promise<EntryJson> {
  const q = new URLSearchParams({ name, ...(meta ? { meta: JSON.stringify(meta) } : {}) });
  const res = await td.api(`/api/v1/files?${q}`, { method: "POST", body: content });
  expect(res.status).toBe(201);
  return (await res.json()) as EntryJson;
}

const jsonInit = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("authentication", () => {
  const protectedRoutes: Array<[string, string]> = [
    ["GET", "/api/v1/sync/status"],
    ["POST", "/api/v1/sync"],
    ["GET", "/api/v1/sync/conflicts"],
    ["POST", "/api/v1/sync/resolve-conflict"],
    ["GET", "/api/v1/sse/subscribe"],
    ["GET", "/api/v1/files"],
    ["POST", "/api/v1/files?name=x"],
    ["GET", "/api/v1/files/01ABC"],
    ["PATCH", "/api/v1/files/01ABC"],
    ["DELETE", "/api/v1/files/01ABC"],
    ["GET", "/api/v1/files/01ABC/content"],
    ["GET", "/api/v1/changes"],
    ["GET", "/api/v1/instances"],
    ["GET", "/api/v1/invite"],
    ["GET", "/metrics"],
  ];

  it("every route but /healthz and the page needs the bearer token", async () => {
    for (const [method, path] of protectedRoutes) {
      for (const authorization of [undefined, "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer"]) {
        const res = await td.api(path, { method, auth: false, headers: authorization ? { authorization } : {} });
        const body = await expectError(res, 401, "unauthorized");
        expect(body.error.message).toMatch(/Bearer/);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      }
    }
    expect((await td.api("/healthz", { auth: false })).status).toBe(200);
    const page = await td.api("/", { auth: false });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    expect(await page.text()).toContain("Sync now");
  });

  it("?token= is accepted by the event stream only", async () => {
    const sse = await td.api(`/api/v1/sse/subscribe?token=${td.token}`, { auth: false });
    expect(sse.status).toBe(200);
    expect(sse.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await sse.body?.cancel();
    await expectError(await td.api(`/api/v1/files?token=${td.token}`, { auth: false }), 401, "unauthorized");
  });

  it("the share under /dav takes Basic auth with the token as password, any user name", async () => {
    const propfind = (authorization?: string) =>
      td.api("/dav/", { method: "PROPFIND", auth: false, headers: { depth: "0", ...(authorization ? { authorization } : {}) } });
    const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    const anonymous = await propfind();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect((await propfind(basic("me", "nope"))).status).toBe(401);
    for (const auth of [basic("me", td.token as string), basic("", td.token as string), `Bearer ${td.token}`]) {
      const res = await propfind(auth);
      expect(res.status).toBe(207);
      expect(await res.text()).toContain(`${td.url.replace("127.0.0.1", "127.0.0.1")}/dav/`);
    }
  });
});

describe("without a token, on loopback", () => {
  it("refuses foreign Host names (DNS rebinding) and cross-origin writes", async () => {
    const open = await startTestDaemon({ token: null });
    try {
      expect((await open.api("/api/v1/files")).status).toBe(200);
      const port = new URL(open.url).port;
      const status = (headers: Record<string, string>, method = "GET", path = "/api/v1/files") =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        });
      expect(await status({ host: `evil.example:${port}` })).toBe(403);
      expect(await status({ host: `evil.example:${port}` }, "PROPFIND", "/dav/")).toBe(403);
      expect(await status({ host: `localhost:${port}` })).toBe(200);
      expect(await status({ host: `localhost:${port}`, origin: "http://evil.example" }, "POST", "/api/v1/sync")).toBe(403);
    } finally {
      await open.close();
    }
  });
});

describe("library routes", () => {
  it("uploads a streamed body with name and meta from the query, and lists and reads it back", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 7, 1);
    big.write("start");
    const entry = await upload("papers/ü 1.pdf", big, { year: 2020, tags: ["a"] });
    expect(entry).toMatchObject({
      name: "papers/ü 1.pdf",
      size: big.length,
      hash: createHash("sha256").update(big).digest("hex"),
      meta: { year: 2020, tags: ["a"] },
      version: 1,
      deleted: false,
      syncStatus: "pending",
    });
    const list = await td.json<EntryJson[]>("/api/v1/files");
    expect(list.map((e) => e.id)).toContain(entry.id);
    expect(await td.json(`/api/v1/files/${entry.id}`)).toEqual(entry);

    const content = await td.api(`/api/v1/files/${entry.id}/content`);
    expect(content.status).toBe(200);
    expect(content.headers.get("content-length")).toBe(String(big.length));
    expect(content.headers.get("etag")).toBe(`"${entry.hash}"`);
    expect(content.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''%C3%BC%201.pdf");
    expect(Buffer.from(await content.arrayBuffer()).equals(big)).toBe(true);
    const cached = await td.api(`/api/v1/files/${entry.id}/content`, { headers: { "if-none-match": `"${entry.hash}"` } });
    expect(cached.status).toBe(304);
  });

  it("an empty body is an empty file; PUT content replaces it", async () => {
    const entry = await upload("empty", "");
    expect(entry.size).toBe(0);
    const res = await td.api(`/api/v1/files/${entry.id}/content`, { method: "PUT", body: "now full" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ size: 8, version: 2 });
    expect(await (await td.api(`/api/v1/files/${entry.id}/content`)).text()).toBe("now full");
  });

  it("PATCH renames and sets and unsets metadata in one request", async () => {
    const entry = await upload("a.txt", "a", { keep: 1, drop: 2 });
    const patched = await td.json<EntryJson>(`/api/v1/files/${entry.id}`, jsonInit("PATCH", { name: "b/a.txt", meta: { read: true }, unset: ["drop"] }));
    expect(patched).toMatchObject({ name: "b/a.txt", meta: { keep: 1, read: true } });
    expect(patched.meta).not.toHaveProperty("drop");
    expect(patched.version).toBe(entry.version + 1); // one change
  });

  it("DELETE leaves a tombstone; its content is gone (410) and it cannot be changed", async () => {
    const entry = await upload("gone.txt", "bye");
    const deleted = await td.json<EntryJson>(`/api/v1/files/${entry.id}`, { method: "DELETE" });
    expect(deleted).toMatchObject({ id: entry.id, deleted: true });
    expect(await td.json(`/api/v1/files/${entry.id}`)).toMatchObject({ deleted: true });
    await expectError(await td.api(`/api/v1/files/${entry.id}/content`), 410, "entry-deleted");
    await expectError(await td.api(`/api/v1/files/${entry.id}`, jsonInit("PATCH", { name: "x" })), 410, "entry-deleted");
    await expectError(await td.api(`/api/v1/files/${entry.id}`, { method: "DELETE" }), 410, "entry-deleted");
    const live = await td.json<EntryJson[]>("/api/v1/files");
    expect(live.map((e) => e.id)).not.toContain(entry.id);
    const all = await td.json<EntryJson[]>("/api/v1/files?deleted=true");
    expect(all.map((e) => e.id)).toContain(entry.id);
  });

  it("unknown ids and routes are 404 with a JSON error", async () => {
    await expectError(await td.api("/api/v1/files/01NOPE"), 404, "entry-not-found");
    await expectError(await td.api("/api/v1/files/01NOPE/content"), 404, "entry-not-found");
    await expectError(await td.api("/api/v1/files/01NOPE", jsonInit("PATCH", { name: "x" })), 404, "entry-not-found");
    await expectError(await td.api("/api/v1/nothing"), 404, "not-found");
  });

  it("bad uploads are refused before anything is stored", async () => {
    const tmp = join(td.config.dataDir, "tmp");
    const before = (await td.json<EntryJson[]>("/api/v1/files?deleted=true")).length;
    await expectError(await td.api("/api/v1/files", { method: "POST", body: "x" }), 400, "invalid-name");
    await expectError(await td.api("/api/v1/files?name=../etc/passwd", { method: "POST", body: "x" }), 400, "invalid-name");
    await expectError(await td.api("/api/v1/files?name=%2Fabs", { method: "POST", body: "x" }), 400, "invalid-name");
    await expectError(await td.api("/api/v1/files?name=a&meta=%7Bnot", { method: "POST", body: "x" }), 400, "invalid-meta");
    await expectError(await td.api("/api/v1/files?name=a&meta=%5B1%5D", { method: "POST", body: "x" }), 400, "invalid-meta");
    expect((await td.json<EntryJson[]>("/api/v1/files?deleted=true")).length).toBe(before);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("bad PATCH bodies get 4xx with a reason", async () => {
    const { id } = await upload("p.txt", "p");
    const path = `/api/v1/files/${id}`;
    await expectError(await td.api(path, jsonInit("PATCH", "{nope")), 400, "invalid-json");
    await expectError(await td.api(path, jsonInit("PATCH", {})), 400, "invalid-body");
    await expectError(await td.api(path, jsonInit("PATCH", { nmae: "x" })), 400, "invalid-body");
    await expectError(await td.api(path, jsonInit("PATCH", { meta: [1] })), 400, "invalid-body");
    await expectError(await td.api(path, jsonInit("PATCH", { meta: { a: 1 }, unset: ["a"] })), 400, "usage");
    await expectError(await td.api(path, jsonInit("PATCH", { name: "a//b" })), 400, "invalid-name");
    await expectError(await td.api(path, jsonInit("PATCH", { meta: { a: 1 }, name: "../p.txt" })), 400, "invalid-name");
    expect(await td.json(path)).toMatchObject({ name: "p.txt", version: 1, meta: {} }); // a bad field changed nothing
    await expectError(await td.api(path, { method: "PATCH", body: JSON.stringify({ name: "y" }), headers: { "content-type": "text/plain" } }), 415, "unsupported-media-type");
    await expectError(await td.api(path, { method: "PATCH", body: Buffer.from([0x7b, 0xff, 0x7d]), headers: { "content-type": "application/json" } }), 400, "invalid-json");
    // Over the size cap, with and without a Content-Length.
    const huge = JSON.stringify({ meta: { pad: "x".repeat(3 * 1024 * 1024) } });
    await expectError(await td.api(path, jsonInit("PATCH", huge)), 413, "payload-too-large");
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(huge));
        c.close();
      },
    });
    const res = await td.api(path, { method: "PATCH", body: chunked, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
    await expectError(res, 413, "payload-too-large");
    // Nothing changed, and the daemon is still serving.
    expect(await td.json(path)).toMatchObject({ name: "p.txt", version: 1 });
  });
});

describe("sync routes", () => {
  it("POST /sync runs a sync and returns its summary; bad bodies are 400", async () => {
    await expectError(await td.api("/api/v1/sync", jsonInit("POST", { force: "yes" })), 400, "invalid-body");
    await expectError(await td.api("/api/v1/sync", jsonInit("POST", { forse: true })), 400, "invalid-body");
    await expectError(await td.api("/api/v1/sync", jsonInit("POST", "[1,")), 400, "invalid-json");
    const summary = await td.json<Summary>("/api/v1/sync", { method: "POST" });
    expect(summary).toMatchObject({ skipped: false, version: 1 });
    expect(summary.uploaded).toBeGreaterThan(0);
    const again = await td.json<Summary>("/api/v1/sync", jsonInit("POST", {}));
    expect(again).toMatchObject({ skipped: true, version: 1 });
    const forced = await td.json<Summary>("/api/v1/sync", jsonInit("POST", { force: true }));
    expect(forced.skipped).toBe(false);
  });

  it("concurrent sync requests share runs, and every answer covers the changes made before it", async () => {
    await upload("join/1", "one");
    await upload("join/2", "two");
    type Runs = { daemon: { recentRuns: Array<{ startedAt: string; summary: Summary | null }> } };
    const lastBefore = (await td.json<Runs>("/api/v1/sync/status")).daemon.recentRuns[0]?.startedAt ?? "";
    const results = await Promise.all(Array.from({ length: 6 }, () => td.json<Summary>("/api/v1/sync", { method: "POST" })));
    // The first starts a run; those that came during it wait for it and one more run after it, which they
    // share (scheduler.ts): each answer counts the two uploads, which happened once.
    for (const r of results) expect(r).toMatchObject({ skipped: false, uploaded: 2 });
    const runs = (await td.json<Runs>("/api/v1/sync/status")).daemon.recentRuns.filter((r) => r.startedAt > lastBefore);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.length).toBeLessThan(results.length);
    expect(runs.reduce((n, r) => n + (r.summary?.uploaded ?? 0), 0)).toBe(2);
  });

  it("GET /sync/status is `syncd status --json` plus the scheduler's view", async () => {
    const status = await td.json<Record<string, unknown>>("/api/v1/sync/status");
    expect(status).toMatchObject({ unsynced: 0, syncNeeded: false, conflicts: 0, lastError: null });
    expect(status.localVersion).toBe(status.remoteVersion);
    expect(status.daemon).toMatchObject({ running: false, consecutiveFailures: 0, lastError: null, instance: { name: "daemon" } });
  });
});

describe("conflicts", () => {
  let peer: Peer;
  let id: string;
  beforeAll(async () => {
    peer = await openPeer(td);
  });
  afterAll(async () => {
    await peer?.close();
  });

  it("lists a held conflict and resolves it; bad requests are 4xx", async () => {
    id = (await upload("contested.txt", "v1", { k: "base" })).id;
    await td.json("/api/v1/sync", { method: "POST" });
    await peer.engine.sync();
    peer.library.updateMeta(id, { set: { k: "peer" } });
    await peer.engine.sync();
    await td.json(`/api/v1/files/${id}`, jsonInit("PATCH", { meta: { k: "daemon" } }));
    const run = await td.json<Summary>("/api/v1/sync", { method: "POST" });
    expect(run.conflicts).toBe(1);

    const conflicts = await td.json<Array<{ id: string; entryId: string; fields: string[] }>>("/api/v1/sync/conflicts");
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ entryId: id, fields: ["meta.k"] });
    const conflictId = (conflicts[0] as { id: string }).id;

    const resolve = (body: unknown) => td.api("/api/v1/sync/resolve-conflict", jsonInit("POST", body));
    await expectError(await resolve({ id: conflictId, strategy: "mine" }), 400, "invalid-body");
    await expectError(await resolve({ id: conflictId }), 400, "invalid-body");
    await expectError(await resolve("nope"), 400, "invalid-json");
    await expectError(await resolve({ id: "01NOSUCHCONFLICT", strategy: "local_wins" }), 404, "conflict-not-found");

    const resolved = await resolve({ id: conflictId, strategy: "local_wins" });
    expect(resolved.status).toBe(200);
    expect(await resolved.json()).toMatchObject({ id: conflictId, strategy: "local_wins", entry: { id, syncStatus: "pending" }, copy: null });
    await expectError(await resolve({ id: conflictId, strategy: "local_wins" }), 409, "conflict-resolved");
    expect(await td.json("/api/v1/sync/conflicts")).toEqual([]);

    await td.json("/api/v1/sync", { method: "POST" });
    await peer.engine.sync();
    expect(peer.library.require(id).meta).toEqual({ k: "daemon" });
  });
});

describe("GET /api/v1/changes", () => {
  interface Page {
    entries: EntryJson[];
    token: string;
    hasMore: boolean;
  }
  const page = (q: string) => td.json<Page>(`/api/v1/changes${q}`);

  it("pages through every change with a token, then reports only what changed after it", async () => {
    const all: EntryJson[] = [];
    let token = "";
    for (let guard = 0; guard < 100; guard++) {
      const p = await page(`?limit=3${token ? `&since=${token}` : ""}`);
      all.push(...p.entries);
      expect(p.entries.length).toBeLessThanOrEqual(3);
      token = p.token;
      if (!p.hasMore) break;
    }
    const everything = await td.json<EntryJson[]>("/api/v1/files?deleted=true");
    expect(all.map((e) => e.id).sort()).toEqual(everything.map((e) => e.id).sort());
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);

    expect(await page(`?since=${token}`)).toMatchObject({ entries: [], hasMore: false });
    const a = await upload("changes/a", "a");
    const b = await upload("changes/b", "b");
    await td.json(`/api/v1/files/${a.id}`, jsonInit("PATCH", { meta: { x: 1 } }));
    await td.json(`/api/v1/files/${b.id}`, { method: "DELETE" });
    const next = await page(`?since=${token}`);
    expect(next.entries.map((e) => [e.id, e.deleted, e.meta])).toEqual([
      [a.id, false, { x: 1 }],
      [b.id, true, {}],
    ]);
    // Sync bookkeeping is not a change: after a sync the feed is still quiet.
    await td.json("/api/v1/sync", { method: "POST" });
    expect((await page(`?since=${next.token}`)).entries).toEqual([]);
  });

  it("rejects bad tokens and limits with 400, and stale tokens with 410 valid-sync-token", async () => {
    const current = await page("");
    await expectError(await td.api("/api/v1/changes?since=garbage!"), 400, "invalid-token");
    await expectError(await td.api(`/api/v1/changes?since=${Buffer.from("2.x.1.1").toString("base64url")}`), 400, "invalid-token");
    for (const limit of ["0", "1001", "abc", "-1", "1.5"]) {
      await expectError(await td.api(`/api/v1/changes?limit=${limit}`), 400, "invalid-query");
    }
    const instanceId = td.daemon.library.instanceId;
    const day = 86_400_000;
    const old = encodeToken({ instanceId, seq: 1, issuedAt: Date.now() - 91 * day });
    await expectError(await td.api(`/api/v1/changes?since=${old}`), 410, "valid-sync-token");
    const recent = encodeToken({ instanceId, seq: 1, issuedAt: Date.now() - 89 * day });
    expect((await td.api(`/api/v1/changes?since=${recent}`)).status).toBe(200);
    const foreign = encodeToken({ instanceId: "01OTHERINSTANCE", seq: 1, issuedAt: Date.now() });
    await expectError(await td.api(`/api/v1/changes?since=${foreign}`), 410, "valid-sync-token");
    const ahead = encodeToken({ instanceId, seq: 10_000_000, issuedAt: Date.now() });
    await expectError(await td.api(`/api/v1/changes?since=${ahead}`), 410, "valid-sync-token");

    // A purged tombstone (row removed from the table) invalidates tokens from before it.
    const victim = await upload("changes/purged", "p");
    await td.json(`/api/v1/files/${victim.id}`, { method: "DELETE" });
    td.daemon.library.db.prepare("DELETE FROM entries WHERE id = ?").run(victim.id);
    await expectError(await td.api(`/api/v1/changes?since=${current.token}`), 410, "valid-sync-token");
    const fresh = await page("");
    expect((await page(`?since=${fresh.token}`)).entries).toEqual([]);
  });
});

describe("metrics", () => {
  it("exposes runs, failures, durations, bytes, entries, unsynced and conflicts", async () => {
    await upload("metrics/pending", "m");
    const res = await td.api("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (name: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    expect(value('syncd_sync_runs_total{result="synced"}')).toBeGreaterThanOrEqual(3);
    expect(value('syncd_sync_runs_total{result="skipped"}')).toBeGreaterThanOrEqual(1);
    expect(value("syncd_sync_failures_total")).toBe(0);
    expect(value("syncd_sync_duration_seconds_count")).toBeGreaterThanOrEqual(4);
    expect(value("syncd_sync_duration_seconds_sum")).toBeGreaterThan(0);
    expect(value("syncd_bytes_uploaded_total")).toBeGreaterThan(5 * 1024 * 1024);
    expect(value("syncd_bytes_downloaded_total")).toBeGreaterThanOrEqual(0);
    const live = (await td.json<EntryJson[]>("/api/v1/files")).length;
    expect(value('syncd_entries{state="live"}')).toBe(live);
    expect(value("syncd_unsynced_entries")).toBe(1);
    expect(value("syncd_open_conflicts")).toBe(0);
    expect(text).toMatch(/^# TYPE syncd_sync_runs_total counter$/m);
  });
});

describe("searching the library (GET /api/v1/files?q=…)", () => {
  it("returns one bounded page: by name or most recently changed, live or deleted only, with when each changed", async () => {
    const a = await upload("search/Report-2021.pdf", "a");
    const b = await upload("search/report-2022.pdf", "b");
    await upload("search/other.txt", "c");
    const page = await td.json<Array<EntryJson & { updatedAt: string }>>("/api/v1/files?q=REPORT");
    expect(page.map((e) => e.name)).toEqual(["search/Report-2021.pdf", "search/report-2022.pdf"]);
    expect(Number.isNaN(Date.parse(page[0]!.updatedAt))).toBe(false);
    const recent = await td.json<EntryJson[]>("/api/v1/files?q=search/&order=recent&limit=2");
    expect(recent.map((e) => e.name)).toEqual(["search/other.txt", "search/report-2022.pdf"]);
    await td.json(`/api/v1/files/${b.id}`, { method: "DELETE" });
    const deleted = await td.json<EntryJson[]>("/api/v1/files?deleted=only&q=search/");
    expect(deleted.map((e) => [e.id, e.deleted])).toEqual([[b.id, true]]);
    expect((await td.json<EntryJson[]>("/api/v1/files?q=search/report")).map((e) => e.id)).toEqual([a.id]);
    expect((await td.json<EntryJson[]>("/api/v1/files?q=search/report&deleted=true")).map((e) => e.id)).toEqual([a.id, b.id]);
  });

  it("refuses limits beyond a page and unknown orders with 400", async () => {
    await expectError(await td.api("/api/v1/files?limit=100000"), 400, "invalid-query");
    await expectError(await td.api("/api/v1/files?limit=0"), 400, "invalid-query");
    await expectError(await td.api("/api/v1/files?q=x&order=size"), 400, "invalid-query");
    await expectError(await td.api("/api/v1/files?deleted=maybe&q=x"), 400, "invalid-query");
    await expectError(await td.api("/api/v1/files?deleted=maybe"), 400, "invalid-query"); // not the whole list
  });
});

describe("instances and the invitation", () => {
  it("GET /instances lists this instance, then every instance that published to the share", async () => {
    const before = await td.json<Array<{ name: string; thisMachine: boolean }>>("/api/v1/instances");
    expect(before[0]).toMatchObject({ name: "daemon", thisMachine: true });
    const peer = await openPeer(td, "laptop");
    try {
      await td.daemon.library.add({ source: Buffer.from("from daemon"), name: "instances/d.txt" });
      await td.json("/api/v1/sync", { method: "POST" });
      await peer.engine.sync();
      peer.library.rename((await peer.library.add({ source: Buffer.from("x"), name: "instances/l.txt" })).id, "instances/l2.txt");
      await peer.engine.sync();
      await td.json("/api/v1/sync", { method: "POST" });
      const list = await td.json<Array<{ id: string; name: string; lastSeen: string; lastVersion: number; thisMachine: boolean }>>("/api/v1/instances");
      // This machine first, then the others, most recently seen first (the earlier tests' peer too).
      expect(list[0]).toMatchObject({ name: "daemon", thisMachine: true, id: td.daemon.library.instanceId });
      const laptop = list.find((i) => i.name === "laptop");
      expect(laptop).toMatchObject({ id: peer.library.instanceId, thisMachine: false });
      expect(list.filter((i) => i.thisMachine)).toHaveLength(1);
      for (const i of list) {
        expect(Math.abs(Date.now() - Date.parse(i.lastSeen))).toBeLessThan(600_000);
        expect(i.lastVersion).toBeGreaterThan(0);
      }
      // The laptop published last (the daemon's final run only pulled): the newest version is its, and it
      // comes right after this machine.
      expect(laptop!.lastVersion).toBeGreaterThan(list[0]!.lastVersion);
      expect(list[1]!.name).toBe("laptop");
    } finally {
      await peer.close();
    }
  });

  it("GET /invite is what syncd invite prints, without the token", async () => {
    const res = await td.api("/api/v1/invite");
    const text = await res.text();
    expect(text).not.toContain(td.token as string);
    const invite = JSON.parse(text) as { available: boolean; url: string; init: string; saveSecret: string; warnings: string[] };
    expect(invite.available).toBe(true);
    expect(invite.url).toBe(`http://127.0.0.1:${td.daemon.port}/dav`);
    expect(invite.init).toBe(`syncd init --url ${invite.url} --root /syncd --user syncd --password-file syncd-share.password`);
    expect(invite.warnings.join(" ")).toMatch(/listens on 127\.0\.0\.1 only/);
  });
});
