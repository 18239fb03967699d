/**
 * Every failure of a WebDAV request becomes one RemoteError: a kind the sync engine can branch on
 * (not-found, conflict, rate-limited…), the HTTP status when there was one, and a one-sentence message that
 * names the method and the URL (never with credentials) and hints at the likely cause.
 */
import { STATUS_CODES } from "node:http";
import { SyncdError } from "../errors.js";

export type RemoteErrorKind =
  | "auth"
  | "not-found"
  | "conflict"
  | "precondition"
  | "locked"
  | "rate-limited"
  | "insufficient-storage"
  | "server"
  | "network"
  | "timeout"
  | "protocol";

export class RemoteError extends SyncdError {
  readonly kind: RemoteErrorKind;
  readonly status?: number;
  readonly method: string;
  readonly url: string;
  /** From Retry-After on 429/503: how long the server asked us to wait. */
  readonly retryAfterMs?: number;

  constructor(
    kind: RemoteErrorKind,
    method: string,
    url: string,
    reason: string,
    extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    const safeUrl = redactUrl(url);
    super(`remote-${kind}`, `WebDAV ${method} ${safeUrl} failed: ${reason}`, { cause: extra.cause });
    this.kind = kind;
    this.method = method;
    this.url = safeUrl;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }
}

export function isRemoteError(err: unknown, kind?: RemoteErrorKind): err is RemoteError {
  return err instanceof RemoteError && (kind === undefined || err.kind === kind);
}

/** Strips `user:password@` from a URL: messages and logs must never carry credentials. */
export function redactUrl(url: string): string {
  return url.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@?#\s]*@/gi, "$1");
}

/** What the user should check, per kind; the sentence ends with it. */
function statusHint(status: number): string {
  if (status === 401) return " (check webdav.username and the password).";
  if (status === 403) return " (the account may not be allowed to do this here; check the credentials and the folder's permissions).";
  if (status === 404) return ".";
  if (status === 409) return " (a parent folder may be missing).";
  if (status === 423) return " (another client holds a WebDAV lock on it).";
  if (status === 507) return " (the share is full).";
  if (status >= 500) return " (a server-side error; see the server's log).";
  return ".";
}

export function kindForStatus(status: number): RemoteErrorKind {
  if (status === 401 || status === 403) return "auth";
  if (status === 404 || status === 410) return "not-found";
  if (status === 409) return "conflict";
  if (status === 412) return "precondition";
  if (status === 423) return "locked";
  if (status === 429) return "rate-limited";
  if (status === 507) return "insufficient-storage";
  if (status >= 500) return "server";
  return "protocol";
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Node's system error codes (from node-fetch's FetchError, or the cause chain) mapped to a kind and reason. */
const NETWORK_CODES: Record<string, [RemoteErrorKind, string]> = {
  ECONNREFUSED: ["network", "connection refused (is the server running?)"],
  ENOTFOUND: ["network", "host not found (check webdav.url)"],
  EAI_AGAIN: ["network", "host name lookup failed temporarily (check the network and DNS)"],
  ECONNRESET: ["network", "connection reset by the server"],
  EPIPE: ["network", "connection closed by the server while sending"],
  EHOSTUNREACH: ["network", "host unreachable (check the network)"],
  ENETUNREACH: ["network", "network unreachable (check the network)"],
  ETIMEDOUT: ["timeout", "connection timed out (is the server reachable?)"],
  UND_ERR_SOCKET: ["network", "connection closed unexpectedly"],
};

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  status?: unknown;
  response?: { status?: number; statusText?: string; headers?: { get(name: string): string | null } };
  cause?: unknown;
}

function systemCode(err: ErrorLike): string | undefined {
  // node-fetch puts the system code on the error itself; undici and others nest it in `cause`.
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 4; e = (e as ErrorLike).cause, depth++) {
    const code = (e as ErrorLike).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * Maps whatever the webdav client, node-fetch or a stream threw into a RemoteError. An AbortError can only
 * come from our own timeout signals (nothing else aborts requests), so it maps to "timeout".
 */
export function toRemoteError(err: unknown, method: string, url: string): RemoteError {
  if (err instanceof RemoteError) return err;
  const e: ErrorLike = err && typeof err === "object" ? (err as ErrorLike) : { message: String(err) };
  const status = typeof e.status === "number" ? e.status : e.response?.status;
  if (typeof status === "number" && status >= 400) {
    const kind = kindForStatus(status);
    const text = e.response?.statusText || STATUS_CODES[status] || "";
    const retryAfterMs =
      status === 429 || status === 503 ? parseRetryAfter(e.response?.headers?.get("retry-after")) : undefined;
    let hint = statusHint(status);
    if (kind === "rate-limited") hint = retryAfterMs === undefined ? " (the server is rate-limiting; retry later)." : ` (the server is rate-limiting; retry in ${Math.ceil(retryAfterMs / 1000)} s).`;
    return new RemoteError(kind, method, url, `${status} ${text}`.trim() + hint, { status, retryAfterMs, cause: err });
  }
  if (e.name === "AbortError" || e.name === "TimeoutError") {
    return new RemoteError("timeout", method, url, "timed out (no answer in time; see webdav.timeoutMs).", { cause: err });
  }
  const code = systemCode(e);
  if (code && NETWORK_CODES[code]) {
    const [kind, reason] = NETWORK_CODES[code];
    return new RemoteError(kind, method, url, `${reason}.`, { cause: err });
  }
  if (code && /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)) {
    return new RemoteError("network", method, url, `TLS error ${code} (check the server's certificate and webdav.url).`, { cause: err });
  }
  if (code) {
    return new RemoteError("network", method, url, `network error ${code}.`, { cause: err });
  }
  // Left: malformed answers (unparseable PROPFIND XML, a missing multistatus, unexpected 2xx/3xx).
  const detail = typeof e.message === "string" && e.message ? e.message.replace(/\.$/, "") : "unknown error";
  return new RemoteError("protocol", method, url, `unexpected answer from the server: ${redactUrl(detail)}.`, { cause: err });
}
