/**
 * The benchmarks' shaping proxy (bench/lib/shaping-proxy.mjs): it really slows traffic to the rates and
 * latency asked for, keeps connections alive, streams large bodies, and counts every byte the sockets
 * carried and every request. Only lower bounds on time are asserted, loosely: a shared machine can only
 * make things slower.
 */
import { createServer, request, Agent, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnShapingProxy, startShapingProxy, type ShapingProxy } from "../../bench/lib/shaping-proxy.mjs";

const MB = 1024 * 1024;
let server: Server;
let origin: string;
/** Raw bytes each way, as the server's sockets saw them. */
const seen = { read: 0, written: 0, sockets: new Set<Socket>() };
const serverBytes = () => {
  let read = seen.read;
  let written = seen.written;
  for (const s of seen.sockets) {
    read += s.bytesRead;
    written += s.bytesWritten;
  }
  return { read, written };
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let got = 0;
    req.on("data", (d: Buffer) => (got += d.length));
    req.on("end", () => {
      const n = Number(new URL(req.url ?? "/", "http://x").searchParams.get("bytes") ?? 0);
      res.writeHead(200, { "content-type": "application/octet-stream", "x-received": String(got), "content-length": String(n) });
      // Written in pieces, as a file server streams.
      let left = n;
      const piece = Buffer.alloc(64 * 1024, 120);
      const more = () => {
        while (left > 0) {
          const k = Math.min(left, piece.length);
          left -= k;
          if (!res.write(piece.subarray(0, k))) return void res.once("drain", more);
        }
        res.end();
      };
      more();
    });
  });
  server.on("connection", (s: Socket) => {
    seen.sockets.add(s);
    s.on("close", () => {
      seen.read += s.bytesRead;
      seen.written += s.bytesWritten;
      seen.sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function send(url: string, agent: Agent, opts: { method?: string; body?: Buffer; chunked?: boolean } = {}): Promise<{ status: number; received: number; length: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.body && !opts.chunked) headers["content-length"] = String(opts.body.length);
    const req = request(url, { method: opts.method ?? "GET", agent, headers }, (res) => {
      let length = 0;
      res.on("data", (d: Buffer) => (length += d.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, received: Number(res.headers["x-received"]), length }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (opts.body && opts.chunked) {
      for (let off = 0; off < opts.body.length; off += 100_000) req.write(opts.body.subarray(off, off + 100_000));
      req.end();
    } else req.end(opts.body);
  });
}

describe("shaping proxy", () => {
  it("limits upload and download bandwidth, streaming, and counts raw bytes and requests", async () => {
    const proxy: ShapingProxy = await startShapingProxy({ target: origin, upMbit: 10, downMbit: 50, rttMs: 0 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = serverBytes();
      const body = Buffer.alloc(2 * MB, 7);
      let t0 = performance.now();
      const up = await send(`${proxy.url}/up`, agent, { method: "PUT", body });
      const upMs = performance.now() - t0;
      expect(up.received).toBe(2 * MB);
      // 2 MiB at 10 Mbit/s is 1.68 s.
      expect(upMs).toBeGreaterThanOrEqual(1500);

      t0 = performance.now();
      const down = await send(`${proxy.url}/down?bytes=${4 * MB}`, agent);
      const downMs = performance.now() - t0;
      expect(down.length).toBe(4 * MB);
      // 4 MiB at 50 Mbit/s is 0.67 s.
      expect(downMs).toBeGreaterThanOrEqual(550);

      // A chunked upload is one request, its framing counted too.
      const chunked = await send(`${proxy.url}/chunked`, agent, { method: "POST", body: Buffer.alloc(300_000, 1), chunked: true });
      expect(chunked.received).toBe(300_000);

      await new Promise((r) => setTimeout(r, 50));
      const after = serverBytes();
      const totals = proxy.totals();
      expect(totals.requests).toBe(3);
      expect(totals.connections).toBe(1);
      expect(totals.up).toBe(after.read - before.read);
      expect(totals.down).toBe(after.written - before.written);
      const recs = proxy.records();
      expect(recs.map((r) => `${r.method} ${r.path}`)).toEqual(["PUT /up", "GET /down", "POST /chunked"]);
      expect(recs.reduce((n, r) => n + r.up, 0)).toBe(totals.up);
      expect(recs.reduce((n, r) => n + r.down, 0)).toBe(totals.down);
      expect(recs[0]?.up).toBeGreaterThan(2 * MB);
      expect(recs[0]?.up).toBeLessThan(2 * MB + 1000);
      expect(recs[1]?.down).toBeGreaterThan(4 * MB);
      expect(recs[2]?.up).toBeGreaterThan(300_000);
    } finally {
      agent.destroy();
      await proxy.close();
    }
  }, 30_000);

  it("adds the round trip to every exchange and one to a new connection, keeping it alive (own process)", async () => {
    const proxy = await spawnShapingProxy({ target: `${origin}/base`, upMbit: 0, downMbit: 0, rttMs: 30 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/base$/);
      const mark = await proxy.mark();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) expect((await send(`${proxy.url}/r${i}?bytes=100`, agent)).length).toBe(100);
      const ms = performance.now() - t0;
      // 10 exchanges + 1 handshake, 30 ms each.
      expect(ms).toBeGreaterThanOrEqual(10 * 30);
      const s = await proxy.since(mark, "/base");
      expect(s.requests).toBe(10);
      expect(s.connections).toBe(1);
      expect(s.methods.GET?.requests).toBe(10);
      expect(s.kinds.metadata?.requests).toBe(10);
      expect(s.up + s.down).toBeGreaterThan(10 * 100);
    } finally {
      agent.destroy();
      await proxy.close();
    }
  }, 30_000);
});
