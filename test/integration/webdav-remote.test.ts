import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRemoteError, RemoteError } from "../../src/remote/errors.js";
import { BodySizeError } from "../../src/remote/idle-timeout.js";
import type { Remote } from "../../src/remote/remote.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const MB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function rejection(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RemoteError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A raw HTTP server whose behaviour each test scripts. */
async function rawServer(handler: (res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => handler(res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe("WebdavRemote against webdav-server", () => {
  let dav: DavServer;
  let remote: Remote;
  let onRequest: ((r: { method: string; path: string }) => void) | undefined;

  beforeAll(async () => {
    dav = await startDavServer({ onRequest: (r) => onRequest?.(r) });
    remote = createWebdavRemote({ url: dav.url, root: "/syncd", timeoutMs: 5000 });
    await remote.mkdir(""); // the root folder itself
  });
  afterAll(async () => {
    await remote.close();
    await dav.close();
  });
  afterEach(() => {
    onRequest = undefined;
    // Mutual exclusion never relies on LOCK or conditional requests (racy or ignored: FIELD-NOTES).
    for (const r of dav.requests) {
      expect(r.method).not.toMatch(/^(UN)?LOCK$/);
      expect([r.headers.if, r.headers.ifMatch, r.headers.ifNoneMatch]).toEqual([undefined, undefined, undefined]);
    }
    dav.reset();
  });

  it("puts and gets a buffer, with Content-Length and never chunked, one request each", async () => {
    const body = Buffer.from("version 1\nsha256=abc\n");
    await remote.put("version.txt", body);
    expect((await remote.get("version.txt")).equals(body)).toBe(true);
    expect(readFileSync(join(dav.dir, "syncd", "version.txt")).equals(body)).toBe(true);
    expect(dav.count({ method: "PUT", path: "/syncd/version.txt" })).toBe(1);
    expect(dav.count({ method: "GET", path: "/syncd/version.txt" })).toBe(1);
    const put = dav.requests.find((r) => r.method === "PUT")!;
    expect(put.headers.contentLength).toBe(String(body.length));
    expect(put.headers.transferEncoding).toBeUndefined();
    expect(put.status).toBe(201);
  });

  it("sends an empty buffer as Content-Length: 0", async () => {
    await remote.put("empty", Buffer.alloc(0));
    expect((await remote.get("empty")).length).toBe(0);
    expect(dav.requests.find((r) => r.method === "PUT")!.headers.contentLength).toBe("0");
  });

  it("uploads a 5 MB stream really streamed, with Content-Length and not chunked", async () => {
    const data = randomBytes(5 * MB);
    const onDisk = join(dav.dir, "syncd", "big.bin");
    let arrivedWith = -1;
    let produced = 0;
    let sawPartialFile = false;
    onRequest = (r) => {
      if (r.method === "PUT") arrivedWith = produced;
    };
    // The second half is produced only once the server has stored part of the first: a client that
    // buffered the whole body before sending would never get there (the test would time out).
    async function* source() {
      for (let i = 0; i < data.length; i += 64 * 1024) {
        if (i === data.length / 2) {
          for (let t = 0; t < 500 && !sawPartialFile; t++) {
            await new Promise((r) => setTimeout(r, 10));
            // The embedded share writes the body beside the file and renames it into place once complete
            // (remote/atomic-fs.ts): the bytes stored so far are in that temporary file.
            sawPartialFile = readdirSync(dirname(onDisk)).some(
              (n) => n.startsWith(`.${basename(onDisk)}.syncd-part-`) && statSync(join(dirname(onDisk), n)).size > 0,
            );
          }
        }
        produced = i + 64 * 1024;
        yield data.subarray(i, i + 64 * 1024);
      }
    }
    await remote.put("big.bin", { size: data.length, open: () => Readable.from(source()) });
    expect(sawPartialFile).toBe(true);
    expect(arrivedWith).toBeGreaterThanOrEqual(0);
    expect(arrivedWith).toBeLessThan(data.length);
    const put = dav.requests.find((r) => r.method === "PUT")!;
    expect(put.headers.contentLength).toBe(String(5 * MB));
    expect(put.headers.transferEncoding).toBeUndefined();
    expect(sha(readFileSync(onDisk))).toBe(sha(data));

    const stream = await remote.getStream("big.bin");
    expect(stream).toBeInstanceOf(Readable);
    expect(sha(await readAll(stream))).toBe(sha(data));
    expect(sha(await remote.get("big.bin"))).toBe(sha(data));
  });

  it("refuses a stream body whose length differs from its declared size", async () => {
    const short = remote.put("short.bin", { size: 10, open: () => Readable.from([Buffer.from("12345")]) });
    await expect(short).rejects.toBeInstanceOf(BodySizeError);
    const long = remote.put("long.bin", { size: 3, open: () => Readable.from([Buffer.from("12345")]) });
    await expect(long).rejects.toBeInstanceOf(BodySizeError);
  });

  it("reports a local read error as itself, not as a remote error", async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error("disk on fire"));
      },
    });
    await expect(remote.put("x.bin", { size: 10, open: () => failing })).rejects.toThrow("disk on fire");
  });

  it("maps missing files to kind not-found on every operation (and stat to null)", async () => {
    const kinds = await Promise.all([
      rejection(remote.get("nope")),
      rejection(remote.getStream("nope")), // the promise rejects: no stream is handed out for a 404
      rejection(remote.delete("nope")),
      rejection(remote.list("no-folder/")),
    ]);
    for (const err of kinds) {
      expect(err.kind).toBe("not-found");
      expect(err.status).toBe(404);
      expect(err.message).toMatch(new RegExp(`^WebDAV [A-Z]+ ${dav.url}/syncd/no`));
    }
    expect(await remote.stat("nope")).toBeNull();
    // webdav-server answers a MOVE of a missing file with 500, not 404: it still fails, as kind server.
    expect((await rejection(remote.move("nope", "nope2"))).kind).toBe("server");
  });

  it("maps a PUT into a missing folder to kind conflict", async () => {
    const err = await rejection(remote.put("missing/x", Buffer.from("x")));
    expect(err.kind).toBe("conflict");
    expect(err.message).toContain("parent folder");
  });

  it("mkdir is idempotent (405 on an existing folder is success)", async () => {
    await remote.mkdir("ab");
    await remote.mkdir("ab");
    const mkcols = dav.requests.filter((r) => r.method === "MKCOL");
    expect(mkcols.map((r) => r.status)).toEqual([201, 405]);
    expect(mkcols[0]!.path).toBe("/syncd/ab/");
    await remote.mkdir(""); // the root itself: still with its trailing slash (nginx needs it)
    expect(dav.requests.at(-1)).toMatchObject({ method: "MKCOL", path: "/syncd/", status: 405 });
    expect((await remote.stat("ab"))?.type).toBe("directory");
  });

  it("move replaces an existing destination", async () => {
    await remote.put("metadata.db.tmp", Buffer.from("new"));
    await remote.put("metadata.db", Buffer.from("old"));
    await remote.move("metadata.db.tmp", "metadata.db");
    expect((await remote.get("metadata.db")).toString()).toBe("new");
    expect(await remote.stat("metadata.db.tmp")).toBeNull();
    const move = dav.requests.find((r) => r.method === "MOVE")!;
    expect(move.headers.overwrite).toBe("T");
    expect(decodeURIComponent(new URL(move.headers.destination!).pathname)).toBe("/syncd/metadata.db");
  });

  it("deletes a file and a folder (with its trailing slash)", async () => {
    await remote.mkdir("gone");
    await remote.put("gone/a", Buffer.from("a"));
    await remote.delete("gone/a");
    expect(await remote.stat("gone/a")).toBeNull();
    await remote.put("gone/b", Buffer.from("b"));
    await remote.delete("gone/");
    expect(await remote.stat("gone")).toBeNull();
    expect(dav.requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual(["/syncd/gone/a", "/syncd/gone/"]);
  });

  it("stats files and folders with PROPFIND Depth: 0", async () => {
    const before = Date.now();
    await remote.put("x", Buffer.from("12345"));
    const stat = await remote.stat("x");
    expect(stat).toMatchObject({ path: "x", name: "x", type: "file", size: 5 });
    expect(Math.abs(stat!.mtime.getTime() - before)).toBeLessThan(3000);
    expect(stat!.etag).toEqual(expect.any(String));
    const root = await remote.stat("");
    expect(root?.type).toBe("directory");
    expect(dav.requests.filter((r) => r.method === "PROPFIND").every((r) => r.headers.depth === "0")).toBe(true);
  });

  it("lists direct children with Depth: 1, without the folder itself, with the server's Date", async () => {
    await remote.mkdir("version.txt.lock");
    await remote.put("version.txt.lock/a.json", Buffer.from("{}"));
    await remote.put("version.txt.lock/b.json", Buffer.from("{\"x\":1}"));
    await remote.mkdir("version.txt.lock/sub");
    await remote.put("version.txt.lock/sub/deep.json", Buffer.from("{}"));
    dav.reset();
    const listing = await remote.list("version.txt.lock/");
    expect(dav.requests).toHaveLength(1);
    expect(dav.requests[0]).toMatchObject({ method: "PROPFIND", path: "/syncd/version.txt.lock/", headers: { depth: "1" }, status: 207 });
    const byPath = Object.fromEntries(listing.entries.map((e) => [e.path, e]));
    expect(Object.keys(byPath).sort()).toEqual(["version.txt.lock/a.json", "version.txt.lock/b.json", "version.txt.lock/sub"]);
    expect(byPath["version.txt.lock/b.json"]).toMatchObject({ name: "b.json", type: "file", size: 7 });
    expect(byPath["version.txt.lock/sub"]!.type).toBe("directory");
    expect(listing.serverDate).toBeInstanceOf(Date);
    expect(Math.abs(listing.serverDate!.getTime() - Date.now())).toBeLessThan(2000);
    for (const e of listing.entries) {
      // 1 s granularity: the mtime is at most a second behind the Date of the same response
      expect(e.mtime.getTime()).toBeLessThanOrEqual(listing.serverDate!.getTime() + 1000);
      expect(listing.serverDate!.getTime() - e.mtime.getTime()).toBeLessThan(5000);
    }
    // Listing without the trailing slash is the same
    expect((await remote.list("version.txt.lock")).entries.length).toBe(3);
  });
});

describe("WebdavRemote: URLs, roots and credentials", () => {
  let dav: DavServer;
  afterEach(async () => {
    await dav?.close();
  });

  it("works under a root with a space and non-ASCII characters", async () => {
    dav = await startDavServer();
    const remote = createWebdavRemote({ url: `${dav.url}/`, root: "/my share é/sub", timeoutMs: 5000 });
    try {
      await createWebdavRemote({ url: dav.url, root: "/my share é", timeoutMs: 5000 }).mkdir("");
      await remote.mkdir("");
      await remote.mkdir("ré pertoire");
      await remote.put("ré pertoire/fïle one.txt", Buffer.from("hello"));
      expect(readFileSync(join(dav.dir, "my share é", "sub", "ré pertoire", "fïle one.txt"), "utf8")).toBe("hello");
      expect((await remote.get("ré pertoire/fïle one.txt")).toString()).toBe("hello");
      const listing = await remote.list("ré pertoire");
      expect(listing.entries.map((e) => [e.path, e.name])).toEqual([["ré pertoire/fïle one.txt", "fïle one.txt"]]);
      expect((await remote.list("")).entries.map((e) => e.path)).toEqual(["ré pertoire"]);
      await remote.move("ré pertoire/fïle one.txt", "ré pertoire/fïle two.txt");
      expect((await remote.stat("ré pertoire/fïle two.txt"))?.name).toBe("fïle two.txt");
      expect(remote.location).toBe(`${dav.url}/my share é/sub`);
      // What went on the wire was percent-encoded (the helper records decoded paths).
      expect(dav.requests.some((r) => r.path === "/my share é/sub/ré pertoire/fïle one.txt")).toBe(true);
    } finally {
      await remote.close();
    }
  });

  it("authenticates with basic auth; a wrong password is kind auth naming the URL, never the password", async () => {
    dav = await startDavServer({ username: "me", password: "pa:ss/wörd+" });
    const good = createWebdavRemote({ url: dav.url, root: "/syncd", username: "me", password: "pa:ss/wörd+", timeoutMs: 5000 });
    const bad = createWebdavRemote({ url: dav.url, root: "/syncd", username: "me", password: "wrong-secret", timeoutMs: 5000 });
    const anonymous = createWebdavRemote({ url: dav.url, root: "/syncd", timeoutMs: 5000 });
    try {
      await good.mkdir("");
      await good.put("a.txt", Buffer.from("a"));
      expect((await good.get("a.txt")).toString()).toBe("a");

      const err = await rejection(bad.put("a.txt", Buffer.from("evil")));
      expect(err.kind).toBe("auth");
      expect(err.status).toBe(401);
      expect(err.message).toBe(`WebDAV PUT ${dav.url}/syncd/a.txt failed: 401 Unauthorized (check webdav.username and the password).`);
      expect(err.message).not.toContain("wrong-secret");
      expect((await rejection(bad.list(""))).kind).toBe("auth");
      expect((await rejection(anonymous.get("a.txt"))).kind).toBe("auth");
      expect((await good.get("a.txt")).toString()).toBe("a");
    } finally {
      await Promise.all([good.close(), bad.close(), anonymous.close()]);
    }
  });

  it("takes credentials from the URL but never shows them", async () => {
    dav = await startDavServer({ username: "me", password: "s3cret" });
    const remote = createWebdavRemote({ url: dav.url.replace("http://", "http://me:s3cret@"), root: "/syncd", timeoutMs: 5000 });
    try {
      await remote.mkdir("");
      expect(remote.location).toBe(`${dav.url}/syncd`);
      const err = await rejection(remote.get("missing"));
      expect(err.kind).toBe("not-found");
      expect(err.message).not.toContain("s3cret");
      expect(err.url).toBe(`${dav.url}/syncd/missing`);
    } finally {
      await remote.close();
    }
  });
});

describe("WebdavRemote: network failures and timeouts", () => {
  it("maps connection refused to kind network", async () => {
    const raw = await rawServer(() => {});
    const url = raw.url;
    await raw.close(); // the port is now (almost certainly) closed
    const remote = createWebdavRemote({ url, root: "/syncd", timeoutMs: 5000 });
    const err = await rejection(remote.stat("x"));
    expect(err.kind).toBe("network");
    expect(err.message).toBe(`WebDAV PROPFIND ${url}/syncd/x failed: connection refused (is the server running?).`);
    await remote.close();
  });

  it("maps a server that never answers to kind timeout after timeoutMs", async () => {
    const raw = await rawServer(() => {}); // accepts, never answers
    const remote = createWebdavRemote({ url: raw.url, root: "/", timeoutMs: 300 });
    try {
      for (const op of [() => remote.list(""), () => remote.get("x"), () => remote.put("x", Buffer.from("x")), () => remote.mkdir("d")]) {
        const started = Date.now();
        const err = await rejection(op());
        const took = Date.now() - started;
        expect(err.kind).toBe("timeout");
        expect(took).toBeGreaterThanOrEqual(290);
        expect(took).toBeLessThan(3000);
      }
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("streams a download as it arrives (getStream resolves before the body is complete)", async () => {
    let releaseRest!: () => void;
    const rest = new Promise<void>((r) => (releaseRest = r));
    const raw = await rawServer((res) => {
      res.writeHead(200, { "Content-Length": String(5 * MB) });
      res.write(Buffer.alloc(MB, 1));
      // The rest is sent only after the client has received the first bytes: a buffering client deadlocks.
      void rest.then(() => res.end(Buffer.alloc(4 * MB, 2)));
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/", timeoutMs: 5000 });
    try {
      const stream = await remote.getStream("big");
      const it = stream[Symbol.asyncIterator]();
      const first = (await it.next()).value as Buffer;
      expect(first.length).toBeGreaterThan(0);
      expect(first.length).toBeLessThanOrEqual(MB);
      releaseRest();
      let total = first.length;
      for (let r = await it.next(); !r.done; r = await it.next()) total += (r.value as Buffer).length;
      expect(total).toBe(5 * MB);
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("applies an idle timeout to streamed bodies: slow but steady passes, a stall fails as kind timeout", async () => {
    const raw = await rawServer((res) => {
      res.writeHead(200, { "Content-Length": "20" });
      let sent = 0;
      const tick = setInterval(() => {
        res.write("x");
        if (++sent === 10) {
          clearInterval(tick);
          if (res.req.url?.endsWith("/steady")) {
            const more = setInterval(() => {
              res.write("y");
              if (++sent === 20) {
                clearInterval(more);
                res.end();
              }
            }, 100);
          } // "/stall": never sends the rest
        }
      }, 100);
      res.on("close", () => clearInterval(tick));
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/", timeoutMs: 700 });
    try {
      // 2 s in total, far beyond timeoutMs, but never idle for long: must succeed.
      expect((await remote.get("steady")).toString()).toBe("x".repeat(10) + "y".repeat(10));
      const stream = await remote.getStream("stall");
      const err = await readAll(stream).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isRemoteError(err, "timeout")).toBe(true);
      expect((err as RemoteError).method).toBe("GET");
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("does not leak pooled sockets on error responses with a body (more failures than maxSockets)", async () => {
    const raw = await rawServer((res) => res.writeHead(404, { "Content-Type": "text/html" }).end("x".repeat(256 * 1024)));
    const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 2000 });
    try {
      for (let i = 0; i < 40; i++) {
        expect((await rejection(remote.get(`missing-${i}`))).kind).toBe("not-found");
        expect(await remote.stat(`missing-${i}`)).toBeNull();
      }
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("maps 429 with Retry-After and 507 from a real response", async () => {
    const raw = await rawServer((res) => {
      if (res.req.method === "PUT") {
        res.writeHead(507).end();
      } else {
        res.writeHead(429, { "Retry-After": "3" }).end();
      }
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 5000 });
    try {
      const limited = await rejection(remote.get("x"));
      expect(limited).toMatchObject({ kind: "rate-limited", status: 429, retryAfterMs: 3000 });
      const full = await rejection(remote.put("x", Buffer.from("x")));
      expect(full).toMatchObject({ kind: "insufficient-storage", status: 507 });
      expect(full.message).toBe(`WebDAV PUT ${raw.url}/syncd/x failed: 507 Insufficient Storage (the share is full).`);
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("reuses the connection of a PUT answered before its body reported its end (no socket pinned per upload)", async () => {
    const raw = await rawServer((res) => {
      res.req.resume();
      res.req.on("end", () => res.writeHead(201, { "Content-Length": "0" }).end());
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 5000 });
    // All bytes at once, the end much later: like a file stream whose EOF read comes after the server's answer.
    const lateEnd = () =>
      new Readable({
        read() {
          if (this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
            (this as { sent?: boolean }).sent = true;
            this.push(Buffer.from("data"));
            setTimeout(() => this.push(null), 10_000).unref();
          }
        },
      });
    try {
      const started = Date.now();
      // More uploads than the pool has sockets (16): each pinned socket would be held until the server's
      // keep-alive timeout (5 s here), so a leak makes this take seconds.
      for (let i = 0; i < 40; i++) await remote.put(`f${i}`, { size: 4, open: lateEnd });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await remote.close();
      await raw.close();
    }
  });

  it("sends a GET or PUT again once when the server closed the pooled connection it went out on", async () => {
    // Every connection dies under its second request, as a keep-alive connection does when the server's
    // idle timeout strikes just as the client reuses it.
    const perSocket = new WeakMap<object, number>();
    const bodies: string[] = [];
    const raw = await rawServer((res) => {
      const n = (perSocket.get(res.req.socket) ?? 0) + 1;
      perSocket.set(res.req.socket, n);
      if (n === 2) {
        res.req.socket.destroy();
        return;
      }
      let body = "";
      res.req.on("data", (d: Buffer) => (body += d.toString()));
      res.req.on("end", () => {
        if (res.req.method === "PUT") bodies.push(body);
        res.writeHead(res.req.method === "PUT" ? 201 : 200, { "Content-Length": "2" }).end("ok");
      });
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 5000 });
    try {
      for (let i = 0; i < 3; i++) expect((await remote.get(`f${i}`)).toString()).toBe("ok");
      await remote.put("b", Buffer.from("buffer"));
      await remote.put("s", { size: 6, open: () => Readable.from([Buffer.from("stream")]) });
      await remote.put("t", { size: 6, open: () => Readable.from([Buffer.from("stream")]) });
      expect(bodies).toEqual(["buffer", "stream", "stream"]);
    } finally {
      await remote.close();
      await raw.close();
    }
  });
});

describe("WebdavRemote: a write into a missing folder is kind conflict on every server", () => {
  /** Answers writes like nginx (PUT 500) and rclone (PUT 404, MOVE 403); PROPFIND finds only the folder "here". */
  async function quirkyServer(answer: { put: number; move: number }) {
    return rawServer((res) => {
      const { method, url } = res.req;
      if (method === "PUT") return void res.writeHead(answer.put).end();
      if (method === "MOVE") return void res.writeHead(answer.move).end();
      if (method === "PROPFIND" && /^\/syncd\/here\/?$/.test(decodeURIComponent(url ?? ""))) {
        res.writeHead(207, { "Content-Type": "application/xml" });
        return void res.end(
          `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/syncd/here/</d:href><d:propstat><d:prop>` +
            `<d:resourcetype><d:collection/></d:resourcetype><d:getlastmodified>Mon, 23 Nov 2026 10:00:00 GMT</d:getlastmodified>` +
            `</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`,
        );
      }
      res.writeHead(404).end();
    });
  }

  for (const [server, answer] of [["nginx", { put: 500, move: 204 }], ["rclone", { put: 404, move: 403 }], ["Apache", { put: 409, move: 500 }]] as const) {
    it(`maps ${server}'s answers (PUT ${answer.put}, MOVE ${answer.move}) when the folder is missing, and only then`, async () => {
      const raw = await quirkyServer(answer);
      const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 5000 });
      try {
        const put = await rejection(remote.put("gone/x.bin", Buffer.from("x")));
        expect(put).toMatchObject({ kind: "conflict", status: answer.put });
        if (answer.put !== 409) expect(put.message).toMatch(/: the folder "gone" does not exist \(folders must be created first\)\.$/);
        // The folder exists: the same status means something else, and keeps its own kind.
        if (answer.put !== 409) expect((await rejection(remote.put("here/x.bin", Buffer.from("x")))).kind).not.toBe("conflict");
        if (answer.move >= 400) {
          const move = await rejection(remote.move("here/a", "gone/b"));
          expect(move).toMatchObject({ kind: "conflict", status: answer.move });
          expect((await rejection(remote.move("gone/a", "here/b"))).kind).not.toBe("conflict");
        }
      } finally {
        await remote.close();
        await raw.close();
      }
    });
  }
});

describe("WebdavRemote: concurrent MKCOLs on rclone", () => {
  it("takes a 423 Locked answer to MKCOL as another client creating the folder: tries again, then asks", async () => {
    let mkcols = 0;
    const raw = await rawServer((res) => {
      if (res.req.method === "MKCOL") return void res.writeHead(++mkcols <= 2 ? 423 : 201).end();
      res.writeHead(404).end();
    });
    const remote = createWebdavRemote({ url: raw.url, root: "/syncd", timeoutMs: 5000 });
    try {
      await remote.mkdir("version.txt.lock");
      expect(mkcols).toBe(3);
      // Locked for good and still not there: the 423 is reported as it is.
      mkcols = -100;
      expect(await rejection(remote.mkdir("version.txt.lock"))).toMatchObject({ kind: "locked", status: 423 });
      expect(mkcols).toBe(-96); // the first MKCOL and 3 more
    } finally {
      await remote.close();
      await raw.close();
    }
  });
});
