/**
 * A fault-injecting HTTP proxy for tests (issue 5): it sits on 127.0.0.1 in front of a real WebDAV server
 * (webdav-server, Apache…) on 127.0.0.1 and, at chosen requests or at random ones (seeded, filtered by
 * method and path), breaks them the ways networks and servers break:
 *
 *   drop-before        closes the connection without forwarding (the server never saw the request)
 *   drop-after         forwards, lets the server finish, then closes without answering (done, answer lost)
 *   status-500         answers 500 without forwarding
 *   status-503         answers 503 with Retry-After without forwarding
 *   status-429         answers 429 with Retry-After without forwarding
 *   status-507         answers 507 Insufficient Storage without forwarding
 *   stall              holds the request for `stallMs` before forwarding it (or dropping it, if the
 *                      client gave up meanwhile): a server that does not answer in time
 *   truncate-response  forwards, sends the status, headers and part of the body, then closes
 *   truncate-request   forwards the headers and part of the request body, then closes both sides: an
 *                      upload cut off by the network (the server sees an aborted request)
 *   corrupt-response   forwards, and flips one byte of the response body (length unchanged)
 *
 * Bounded and self-stopping: it listens on 127.0.0.1 only, forwards only to 127.0.0.1, injects at most
 * `maxFaults` faults, every stall ends after at most 30 s, and it closes itself after `lifetimeMs`.
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { seededRandom } from "../../bench/lib/prng.mjs";

export const FAULT_KINDS = [
  "drop-before",
  "drop-after",
  "status-500",
  "status-503",
  "status-429",
  "status-507",
  "stall",
  "truncate-response",
  "truncate-request",
  "corrupt-response",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ProxiedRequest {
  method: string;
  /** Decoded path, e.g. "/syncd/version.txt" or "/dav/syncd/ab/ab12…". */
  path: string;
  /** The request declares a non-empty body. */
  hasBody: boolean;
}

export type FaultMatch = { method?: string | string[]; path?: string | RegExp } | ((r: ProxiedRequest) => boolean);

export interface ProxyRecord extends ProxiedRequest {
  seq: number;
  at: number;
  /** The fault injected into this request, if any. */
  fault: FaultKind | null;
  /** What the fault did when that differs from its name ("no body to corrupt", "client gone"…). */
  effect?: string;
  /** Status the client received (absent when the connection was dropped). */
  status?: number;
}

export interface RandomFaults {
  /** Probability that a matching request gets a fault. */
  rate: number;
  /** The kinds to choose among (uniformly, among those that apply to the request); default all. */
  kinds?: readonly FaultKind[];
  match?: FaultMatch;
}

export interface FaultProxyOptions {
  /** Upstream origin or URL (only its origin is used); must be on 127.0.0.1. */
  target: string;
  seed?: number;
  random?: RandomFaults | null;
  /** At most this many faults in the proxy's life (default 500). */
  maxFaults?: number;
  /** How long a stall lasts (default 3000 ms, at most 30 000). */
  stallMs?: number;
  /** Retry-After of the 503 and 429 answers, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Closes itself after this long (default 10 minutes). */
  lifetimeMs?: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  origin: string;
  port: number;
  /** `url` with its origin replaced by the proxy's (the path, e.g. "/dav", is kept). */
  via(url: string): string;
  /** Injects `kind` into the next `times` (default 1) requests that match, after skipping `skip` of them. */
  inject(kind: FaultKind, match?: FaultMatch, opts?: { times?: number; skip?: number }): void;
  setRandom(random: RandomFaults | null): void;
  /** No more faults: planned ones are dropped and random ones stop. */
  stopFaults(): void;
  /** Every request seen, in arrival order. */
  readonly log: ProxyRecord[];
  /** The faults injected, optionally only those after `sinceSeq`. */
  faults(sinceSeq?: number): ProxyRecord[];
  /** The seq the next request will get (a mark for faults(sinceSeq)). */
  mark(): number;
  close(): Promise<void>;
}

const MAX_STALL_MS = 30_000;

/** The same seed injects the same faults into the same requests. */
export { seededRandom };

function matches(match: FaultMatch | undefined, r: ProxiedRequest): boolean {
  if (!match) return true;
  if (typeof match === "function") return match(r);
  if (match.method !== undefined) {
    const methods = (Array.isArray(match.method) ? match.method : [match.method]).map((m) => m.toUpperCase());
    if (!methods.includes(r.method)) return false;
  }
  if (match.path !== undefined) {
    if (typeof match.path === "string" ? r.path !== match.path : !match.path.test(r.path)) return false;
  }
  return true;
}

/** Whether a kind can do what it says to this request (a GET has no request body to cut). */
function applies(kind: FaultKind, r: ProxiedRequest): boolean {
  if (kind === "truncate-request") return r.hasBody;
  if (kind === "truncate-response" || kind === "corrupt-response") return r.method === "GET" || r.method === "PROPFIND";
  return true;
}

const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"];

function responseHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.includes(k)) out[k] = v;
  return out;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  if (target.hostname !== "127.0.0.1" || target.protocol !== "http:") throw new Error(`fault proxy: only http://127.0.0.1 targets (got ${opts.target})`);
  const upstreamHost = target.host;
  const rand = seededRandom(opts.seed ?? 1);
  const maxFaults = opts.maxFaults ?? 500;
  const stallMs = Math.min(MAX_STALL_MS, opts.stallMs ?? 3000);
  const retryAfter = String(opts.retryAfterSeconds ?? 1);
  let random: RandomFaults | null = opts.random ?? null;
  const plans: Array<{ kind: FaultKind; match?: FaultMatch; times: number; skip: number }> = [];
  const log: ProxyRecord[] = [];
  let injected = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });

  const choose = (r: ProxiedRequest): FaultKind | null => {
    if (injected >= maxFaults) return null;
    for (const plan of plans) {
      if (plan.times > 0 && matches(plan.match, r) && applies(plan.kind, r)) {
        if (plan.skip > 0) {
          plan.skip--;
          continue;
        }
        plan.times--;
        return plan.kind;
      }
    }
    if (random && matches(random.match, r)) {
      const roll = rand();
      const kinds = (random.kinds ?? FAULT_KINDS).filter((k) => applies(k, r));
      const pick = rand();
      if (roll < random.rate && kinds.length > 0) return kinds[Math.floor(pick * kinds.length)] as FaultKind;
    }
    return null;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = createServer((req, res) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    const r: ProxiedRequest = {
      method: req.method ?? "",
      path: decodePath(req.url ?? "/"),
      hasBody: declared > 0 || req.headers["transfer-encoding"] !== undefined,
    };
    const fault = choose(r);
    if (fault) injected++;
    const record: ProxyRecord = { ...r, seq: log.length, at: Date.now(), fault };
    log.push(record);
    res.on("finish", () => (record.status ??= res.statusCode));
    void handle(req, res, record, fault, declared).catch(() => drop(req, res));
  });

  async function handle(req: IncomingMessage, res: ServerResponse, record: ProxyRecord, fault: FaultKind | null, declared: number): Promise<void> {
    switch (fault) {
      case "drop-before":
        return drop(req, res);
      case "status-500":
      case "status-503":
      case "status-429":
      case "status-507": {
        const status = Number(fault.slice(-3));
        req.resume();
        const headers: Record<string, string> = { "content-type": "text/plain", connection: "close" };
        if (status === 503 || status === 429) headers["retry-after"] = retryAfter;
        res.writeHead(status, headers);
        res.end(`injected fault: ${fault}\n`);
        return;
      }
      case "stall": {
        let gone = false;
        res.on("close", () => (gone = true));
        req.pause();
        await sleep(stallMs);
        if (gone || closed) {
          record.effect = "client gave up during the stall; not forwarded";
          return drop(req, res);
        }
        return forward(req, res, record, null, declared);
      }
      default:
        return forward(req, res, record, fault, declared);
    }
  }

  function forward(req: IncomingMessage, res: ServerResponse, record: ProxyRecord, fault: FaultKind | null, declared: number): void {
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstreamHost };
    delete headers.connection;
    delete headers["keep-alive"];
    // Apache refuses a MOVE whose Destination names another host or port: point it at the upstream.
    if (typeof headers.destination === "string") {
      try {
        const dest = new URL(headers.destination);
        dest.host = upstreamHost;
        headers.destination = dest.toString();
      } catch {
        // Not a URL: pass it on untouched, the server will say what it thinks of it.
      }
    }
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
    upstream.on("error", () => drop(req, res));
    req.on("error", () => upstream.destroy());
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });

    if (fault === "truncate-request") {
      const limit = Math.floor(rand() * Math.max(1, declared));
      let sent = 0;
      record.effect = `sent ${limit} of ${declared} body bytes`;
      const cut = () => {
        upstream.destroy();
        drop(req, res);
      };
      if (limit === 0) {
        upstream.flushHeaders();
        setImmediate(cut);
        return;
      }
      req.on("data", (chunk: Buffer) => {
        if (sent >= limit) return;
        const part = chunk.subarray(0, limit - sent);
        sent += part.length;
        upstream.write(part);
        if (sent >= limit) setImmediate(cut);
      });
      req.on("end", () => {
        if (sent < limit) cut();
      });
      return;
    }
    req.pipe(upstream);

    upstream.on("response", (answer) => {
      const status = answer.statusCode ?? 502;
      const out = responseHeaders(answer.headers);
      if (fault === "drop-after") {
        answer.resume();
        answer.on("end", () => drop(req, res));
        answer.on("error", () => drop(req, res));
        return;
      }
      if (fault === "truncate-response" || fault === "corrupt-response") {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("error", () => drop(req, res));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          if (body.length === 0) {
            // Nothing to cut or flip: a truncation is then a lost answer, a corruption nothing at all.
            if (fault === "truncate-response") {
              record.effect = "empty body: dropped after forwarding";
              return drop(req, res);
            }
            record.effect = "empty body: nothing to corrupt";
            res.writeHead(status, out);
            res.end();
            return;
          }
          if (fault === "truncate-response") {
            const keep = Math.floor(rand() * body.length);
            record.effect = `sent ${keep} of ${body.length} body bytes`;
            // Announce the whole length, send part of it, close: what a dying server or a cut link does.
            res.writeHead(status, { ...out, "content-length": String(body.length) });
            res.write(body.subarray(0, keep), () => setImmediate(() => drop(req, res)));
            record.status = status;
            return;
          }
          const at = Math.floor(rand() * body.length);
          const flip = 1 + Math.floor(rand() * 255);
          const corrupted = Buffer.from(body);
          corrupted[at] = (corrupted[at] as number) ^ flip;
          record.effect = `flipped byte ${at} of ${body.length}`;
          res.writeHead(status, { ...out, "content-length": String(corrupted.length) });
          res.end(corrupted);
        });
        return;
      }
      res.writeHead(status, out);
      answer.pipe(res);
      answer.on("error", () => drop(req, res));
    });
  }

  function drop(req: IncomingMessage, res: ServerResponse): void {
    req.socket.destroy();
    res.destroy();
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      closed = true;
      clearTimeout(lifetime);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      plans.splice(0);
      random = null;
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }));
  const lifetime = setTimeout(() => void close(), opts.lifetimeMs ?? 10 * 60_000);
  lifetime.unref();

  return {
    origin,
    port,
    via: (url) => {
      const u = new URL(url);
      return `${origin}${u.pathname.replace(/\/+$/, "")}`;
    },
    inject: (kind, match, o = {}) => void plans.push({ kind, match, times: o.times ?? 1, skip: o.skip ?? 0 }),
    setRandom: (r) => void (random = r),
    stopFaults: () => {
      plans.splice(0);
      random = null;
    },
    log,
    faults: (since = 0) => log.filter((r) => r.fault !== null && r.seq >= since),
    mark: () => log.length,
    close,
  };
}

function decodePath(url: string): string {
  const pathname = new URL(url, "http://x").pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}
