/**
 * A traffic-shaping, byte-counting reverse proxy on 127.0.0.1 in front of an HTTP (WebDAV) server, for the
 * benchmarks (issue 13): it stands for the network between one instance and its share.
 *
 * It relays TCP, one upstream connection per client connection (so keep-alive is the client's and the
 * server's, unchanged), and shapes each direction as a link does:
 *   - bandwidth: a token bucket per direction (upload = client→server, download = server→client), shared by
 *     every connection through this proxy (one instance's link); a piece of data leaves the bucket when the
 *     link has had the time to send it;
 *   - latency: every piece is then held for the one-way delay (half the round trip by default), so each
 *     request and each response arrives that much later, and a request/response exchange costs one RTT
 *     more; a new connection also pays one RTT for its TCP handshake before its first byte is forwarded.
 * Large bodies stream: a direction holds at most `highWaterMark` bytes (plus what is in flight for the
 * delay) before it stops reading from its source, so TCP's own flow control slows the sender.
 *
 * It counts raw socket bytes each way (request and status lines, headers, bodies, chunk framing: all that
 * the sockets carried), and it reads the client's stream as HTTP/1.1 (request line, headers, Content-Length
 * or chunked bodies) to count requests and to attribute bytes to each one: a request's bytes, and the
 * server's bytes that came back on that connection until the next request began (clients do not pipeline).
 *
 * Use in this process (startShapingProxy) or in a process of its own (spawnShapingProxy), so that a sync
 * busy in the bench's event loop does not delay the shaping. The defaults are the issue's link:
 * 10 Mbit/s up, 50 Mbit/s down, 30 ms round trip (ISSUE_LINK). Rates of 0, null or Infinity: unlimited.
 */
import { fork } from "node:child_process";
import { createServer, connect } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

export const ISSUE_LINK = Object.freeze({ upMbit: 10, downMbit: 50, rttMs: 30 });
/** No shaping at all: a byte counter. */
export const UNSHAPED = Object.freeze({ upMbit: 0, downMbit: 0, rttMs: 0, handshake: false });

const PIECE = 16 * 1024;
const SELF = fileURLToPath(import.meta.url);

/** Bytes per millisecond for a rate in Mbit/s (10^6 bits per second); null when unlimited. */
function perMs(mbit) {
  return mbit && Number.isFinite(mbit) && mbit > 0 ? (mbit * 1e6) / 8 / 1000 : null;
}

/**
 * A token bucket that lends: reserve(n) takes n tokens at once, going into debt if need be, and returns when
 * (performance.now() time) the debt is paid, i.e. when a link of this rate has finished sending those bytes.
 * Reservations are served in order, so connections sharing it share the rate.
 */
export class TokenBucket {
  constructor(bytesPerMs, burst) {
    this.rate = bytesPerMs;
    this.burst = burst;
    this.tokens = burst;
    this.at = performance.now();
  }
  reserve(n) {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) * this.rate);
    this.at = now;
    this.tokens -= n;
    return this.tokens >= 0 ? now : now + -this.tokens / this.rate;
  }
}

/**
 * HTTP/1.1 request framing on the client's byte stream: which bytes belong to which request. `start()` is
 * called when a request's first byte arrives and returns its record; `headers(record, method, path)` once
 * its head is complete.
 */
class RequestFraming {
  constructor(start, headers) {
    this.start = start;
    this.onHeaders = headers;
    this.state = "idle";
    this.head = "";
    this.line = "";
    this.remaining = 0;
    this.current = null;
  }

  /** Feeds a chunk; returns [[record, bytes], …]: how many of its bytes went to which request. */
  feed(buf) {
    const parts = [];
    let i = 0;
    const give = (n) => {
      if (n <= 0) return;
      const last = parts.at(-1);
      if (last && last[0] === this.current) last[1] += n;
      else parts.push([this.current, n]);
    };
    while (i < buf.length) {
      if (this.state === "idle") {
        // Stray CRLFs between requests (allowed by RFC 9112) belong to the previous request.
        if (buf[i] === 13 || buf[i] === 10) {
          if (this.current) give(1);
          i++;
          continue;
        }
        this.current = this.start();
        this.state = "head";
        this.head = "";
      }
      if (this.state === "head") {
        const from = Math.max(0, this.head.length - 3);
        const take = buf.toString("latin1", i, Math.min(buf.length, i + 65536));
        this.head += take;
        const end = this.head.indexOf("\r\n\r\n", from);
        if (end < 0) {
          give(take.length);
          i += take.length;
          if (this.head.length > 1 << 20) this.state = "opaque"; // not HTTP: count bytes, stop framing
          continue;
        }
        const used = end + 4 - (this.head.length - take.length);
        give(used);
        i += used;
        this.parseHead(this.head.slice(0, end));
        continue;
      }
      if (this.state === "body" || this.state === "chunk-data") {
        const n = Math.min(this.remaining, buf.length - i);
        give(n);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = this.state === "body" ? "idle" : "chunk-size";
        continue;
      }
      if (this.state === "chunk-size" || this.state === "trailer") {
        const nl = buf.indexOf(10, i);
        const stop = nl < 0 ? buf.length : nl + 1;
        this.line += buf.toString("latin1", i, stop);
        give(stop - i);
        i = stop;
        if (nl < 0) continue;
        const line = this.line.trim();
        this.line = "";
        if (this.state === "chunk-size") {
          const size = parseInt(line.split(";")[0], 16);
          if (!Number.isFinite(size)) this.state = "opaque";
          else if (size === 0) this.state = "trailer";
          else {
            this.state = "chunk-data";
            this.remaining = size + 2; // the data and its CRLF
          }
        } else if (line === "") this.state = "idle";
        continue;
      }
      // opaque
      give(buf.length - i);
      i = buf.length;
    }
    return parts;
  }

  parseHead(text) {
    const lines = text.split("\r\n");
    const [method = "?", target = "?"] = lines[0].split(" ");
    let length = 0;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value) || 0;
      else if (name === "transfer-encoding" && /chunked/i.test(value)) chunked = true;
    }
    let path = target.split("?")[0];
    try {
      path = decodeURIComponent(path.replace(/^https?:\/\/[^/]+/i, ""));
    } catch {
      // left as sent
    }
    this.onHeaders(this.current, method, path);
    if (chunked) this.state = "chunk-size";
    else if (length > 0) {
      this.state = "body";
      this.remaining = length;
    } else this.state = "idle";
  }
}

/** One direction of one connection: bytes from `src`, shaped, written to `dst`. */
class Lane {
  constructor({ src, dst, bucket, delayMs, notBefore, highWaterMark, onChunk }) {
    Object.assign(this, { src, dst, bucket, delayMs, highWaterMark, onChunk });
    this.queue = [];
    this.queued = 0;
    this.lastAt = notBefore;
    this.timer = null;
    this.blocked = false;
    this.ended = false;
    src.on("data", (chunk) => this.push(chunk));
    src.on("end", () => {
      this.ended = true;
      this.pump();
    });
  }

  push(chunk) {
    this.onChunk(chunk);
    const bucket = this.bucket();
    for (let off = 0; off < chunk.length; off += PIECE) {
      const piece = chunk.subarray(off, off + PIECE);
      const sent = bucket ? bucket.reserve(piece.length) : performance.now();
      // In order, never before the connection is up, then the propagation delay.
      const at = Math.max(sent + this.delayMs(), this.lastAt);
      this.lastAt = at;
      this.queue.push({ at, piece });
      this.queued += piece.length;
    }
    if (this.queued > this.highWaterMark && !this.src.isPaused()) this.src.pause();
    this.pump();
  }

  pump() {
    if (this.timer || this.blocked || this.dst.destroyed) return;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const wait = head.at - performance.now();
      if (wait > 0.5) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, Math.max(1, Math.round(wait)));
        return;
      }
      this.queue.shift();
      this.queued -= head.piece.length;
      if (this.queued <= this.highWaterMark / 2 && this.src.isPaused() && !this.src.destroyed) this.src.resume();
      if (!this.dst.write(head.piece)) {
        this.blocked = true;
        this.dst.once("drain", () => {
          this.blocked = false;
          this.pump();
        });
        return;
      }
    }
    if (this.ended) this.dst.end();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

/**
 * Starts the proxy in this process. `target`: the server's origin or URL ("http://127.0.0.1:8080/dav": the
 * path is kept in `url`). Shape: upMbit, downMbit (Mbit/s), rttMs (split evenly each way unless upDelayMs /
 * downDelayMs are given), handshake (a new connection waits one RTT; default true when there is latency),
 * burstBytes (default 16 KB), highWaterMark (bytes held per direction before reading pauses, default 256 KB).
 * `records: false` keeps only the totals, not one record per request.
 */
export async function startShapingProxy({ target, records = true, ...shape } = {}) {
  const t = new URL(target);
  const upstream = { host: t.hostname, port: Number(t.port || 80) };
  const totals = { up: 0, down: 0, requests: 0, connections: 0 };
  const log = [];
  const sockets = new Set();
  let cfg;
  let upBucket = null;
  let downBucket = null;
  const setShape = (s = {}) => {
    const rtt = s.rttMs ?? ISSUE_LINK.rttMs;
    cfg = {
      upMbit: s.upMbit === undefined ? ISSUE_LINK.upMbit : s.upMbit,
      downMbit: s.downMbit === undefined ? ISSUE_LINK.downMbit : s.downMbit,
      rttMs: rtt,
      upDelayMs: s.upDelayMs ?? rtt / 2,
      downDelayMs: s.downDelayMs ?? rtt / 2,
      burstBytes: s.burstBytes ?? 16 * 1024,
      highWaterMark: s.highWaterMark ?? 256 * 1024,
    };
    cfg.handshake = s.handshake ?? cfg.upDelayMs + cfg.downDelayMs > 0;
    const up = perMs(cfg.upMbit);
    const down = perMs(cfg.downMbit);
    upBucket = up ? new TokenBucket(up, cfg.burstBytes) : null;
    downBucket = down ? new TokenBucket(down, cfg.burstBytes) : null;
    return { ...cfg };
  };
  setShape(shape);

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    totals.connections++;
    const conn = { current: null };
    const accepted = performance.now();
    const server = connect({ ...upstream, allowHalfOpen: true, noDelay: true });
    sockets.add(client);
    sockets.add(server);
    const framing = new RequestFraming(
      () => {
        totals.requests++;
        const rec = { method: "?", path: "?", up: 0, down: 0, at: Date.now() };
        if (records) log.push(rec);
        conn.current = rec;
        return rec;
      },
      (rec, method, path) => {
        rec.method = method;
        rec.path = path;
      },
    );
    const handshakeMs = cfg.handshake ? cfg.upDelayMs + cfg.downDelayMs : 0;
    const up = new Lane({
      src: client,
      dst: server,
      bucket: () => upBucket,
      delayMs: () => cfg.upDelayMs,
      notBefore: accepted + handshakeMs + cfg.upDelayMs,
      highWaterMark: cfg.highWaterMark,
      onChunk: (chunk) => {
        totals.up += chunk.length;
        for (const [rec, n] of framing.feed(chunk)) if (rec) rec.up += n;
      },
    });
    const down = new Lane({
      src: server,
      dst: client,
      bucket: () => downBucket,
      delayMs: () => cfg.downDelayMs,
      notBefore: 0,
      highWaterMark: cfg.highWaterMark,
      onChunk: (chunk) => {
        totals.down += chunk.length;
        if (conn.current) conn.current.down += chunk.length;
      },
    });
    const teardown = () => {
      up.stop();
      down.stop();
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    client.on("error", teardown);
    server.on("error", teardown);
    // A side that is fully closed ends the exchange once what it sent has been delivered.
    client.on("close", () => (up.queue.length === 0 ? teardown() : (up.ended = true)));
    server.on("close", () => {
      if (down.queue.length === 0) teardown();
      else {
        down.ended = true;
        down.pump();
      }
    });
    for (const lane of [up, down]) lane.dst.on("finish", () => lane.src.destroyed && lane.dst.destroy());
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = server.address().port;
  const url = `http://127.0.0.1:${port}${t.pathname.replace(/\/$/, "")}`;

  return {
    url,
    port,
    /** The shape in force (all fields filled in). */
    shape: () => ({ ...cfg }),
    /** Changes the shape for what is sent from now on (rates start with a full bucket). */
    setShape,
    /** Totals since the start: {up, down, requests, connections}. */
    totals: () => ({ ...totals }),
    /** A point to measure from (see since). */
    mark: () => ({ ...totals, index: log.length }),
    /**
     * What went through since `mark` (or the start): totals, and with records, per method and per kind of
     * path under `base` (the share root's URL path, e.g. "/dav/root"): metadata (metadata.db*, version.txt,
     * any other file or folder of the share's own), lock (version.txt.lock/…), data (<aa>/<sha256> and
     * <aa>/ listings), root (the root folder itself), other (outside `base`).
     */
    since: (mark = { up: 0, down: 0, requests: 0, connections: 0, index: 0 }, base = null) =>
      summarise(log.slice(mark.index ?? 0), totals, mark, base),
    /** The request records since `mark` ({method, path, up, down, at}). */
    records: (mark = { index: 0 }) => log.slice(mark.index ?? 0),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function classify(path, base) {
  if (base === null || base === undefined) return "other";
  const b = base.replace(/\/+$/, "");
  if (path === b || path === `${b}/`) return "root";
  if (!path.startsWith(`${b}/`)) return "other";
  const rel = path.slice(b.length + 1);
  if (rel.startsWith("version.txt.lock")) return "lock";
  if (/^[0-9a-f]{2}(\/[0-9a-f]{64})?\/?$/.test(rel)) return "data";
  return "metadata";
}

function summarise(records, totals, mark, base) {
  const out = {
    up: totals.up - (mark.up ?? 0),
    down: totals.down - (mark.down ?? 0),
    requests: totals.requests - (mark.requests ?? 0),
    connections: totals.connections - (mark.connections ?? 0),
    methods: {},
    kinds: {},
  };
  for (const r of records) {
    const m = (out.methods[r.method] ??= { requests: 0, up: 0, down: 0 });
    m.requests++;
    m.up += r.up;
    m.down += r.down;
    const k = (out.kinds[classify(r.path, base)] ??= { requests: 0, up: 0, down: 0, methods: {} });
    k.requests++;
    k.up += r.up;
    k.down += r.down;
    const km = (k.methods[r.method] ??= { requests: 0, up: 0, down: 0 });
    km.requests++;
    km.up += r.up;
    km.down += r.down;
  }
  return out;
}

/**
 * The same proxy in a process of its own (this file, forked), driven over IPC: every method of
 * startShapingProxy's result, made async.
 */
export async function spawnShapingProxy(options) {
  const child = fork(SELF, [JSON.stringify(options)], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  let seq = 0;
  const pending = new Map();
  let failure = null;
  const ready = new Promise((resolve, reject) => {
    child.once("message", (m) => (m.ready ? resolve(m) : reject(new Error(m.error))));
    child.once("exit", (code) => reject(new Error(`the shaping proxy exited with ${code}`)));
  });
  const info = await ready;
  child.on("message", (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.result);
  });
  child.on("exit", (code) => {
    failure = new Error(`the shaping proxy exited with ${code}`);
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  });
  const call = (op, ...args) =>
    failure
      ? Promise.reject(failure)
      : new Promise((resolve, reject) => {
          const id = ++seq;
          pending.set(id, { resolve, reject });
          child.send({ id, op, args });
        });
  return {
    url: info.url,
    port: info.port,
    pid: child.pid,
    shape: () => call("shape"),
    setShape: (s) => call("setShape", s),
    totals: () => call("totals"),
    mark: () => call("mark"),
    since: (mark, base) => call("since", mark, base),
    records: (mark) => call("records", mark),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      await call("close").catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}

if (process.argv[1] === SELF && process.send) {
  try {
    const proxy = await startShapingProxy(JSON.parse(process.argv[2] ?? "{}"));
    process.on("message", async ({ id, op, args }) => {
      try {
        const result = await proxy[op](...(args ?? []));
        process.send({ id, result: result === undefined ? null : result });
        if (op === "close") process.disconnect();
      } catch (err) {
        process.send({ id, error: String(err?.stack ?? err) });
      }
    });
    process.on("disconnect", () => proxy.close().finally(() => process.exit(0)));
    process.send({ ready: true, url: proxy.url, port: proxy.port });
  } catch (err) {
    process.send({ ready: false, error: String(err?.stack ?? err) });
    process.exit(1);
  }
}
