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
  /** 413: the server (or a proxy before it) refuses a request body this large. Never retried. */
  | "too-large"
  | "server"
  | "network"
  | "timeout"
  | "protocol"
  /** TLS cannot work as configured: a certificate that does not verify, or no TLS on the other side. */
  | "tls"
  /** Stopped by a shutdown (stop.ts), not by the server: never retried. */
  | "aborted";

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
  if (status === 413) return " (the server refuses a body this large; raise its upload limit: nginx client_max_body_size, Apache LimitRequestBody, PHP upload_max_filesize and post_max_size, or a proxy's body limit).";
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
  if (status === 413) return "too-large";
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
  const tls = tlsReason(e, url);
  if (tls) return new RemoteError("tls", method, url, tls, { cause: err });
  if (code) {
    return new RemoteError("network", method, url, `network error ${code}.`, { cause: err });
  }
  // Left: malformed answers (unparseable PROPFIND XML, a missing multistatus, unexpected 2xx/3xx).
  const detail = typeof e.message === "string" && e.message ? e.message.replace(/\.$/, "") : "unknown error";
  return new RemoteError("protocol", method, url, `unexpected answer from the server: ${redactUrl(detail)}.`, { cause: err });
}

/** Why a certificate did not verify, by OpenSSL's code (Node's `err.code`). */
const CERTIFICATE_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "it was issued by a self-signed authority this machine does not trust",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "it was issued by an authority this machine does not trust",
  UNABLE_TO_GET_ISSUER_CERT: "it was issued by an authority this machine does not trust",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "it was issued by an authority this machine does not trust",
  CERT_HAS_EXPIRED: "it has expired",
  CERT_NOT_YET_VALID: "it is not valid yet (check this machine's clock)",
  ERR_TLS_CERT_ALTNAME_INVALID: "it was issued for another host name than the one in webdav.url",
  CERT_REVOKED: "it has been revoked",
};

/**
 * The reason (the tail of the sentence) for a TLS failure, or null when `err` is not one. Two are
 * configuration mistakes worth naming: a certificate that does not verify, and an https:// URL that names
 * a port without TLS, whose plain-HTTP answer OpenSSL reports as "wrong version number" (or, depending on
 * the bytes, "packet length too long", "http request", "unknown protocol").
 */
function tlsReason(err: ErrorLike, url: string): string | null {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 4; e = (e as ErrorLike).cause, depth++) {
    const { code, message } = e as ErrorLike;
    const text = typeof message === "string" ? message : "";
    if (typeof code === "string" && CERTIFICATE_REASONS[code]) {
      // An unknown issuer is what a private authority looks like: SPEC §4's webdav.caFile is the fix.
      const fix = /ISSUER|SELF_SIGNED|LEAF/.test(code)
        ? "; if the server's certificate comes from a private authority (or is self-signed), set webdav.caFile to that authority's (or that certificate's) PEM file"
        : "";
      return `the server's certificate does not verify: ${CERTIFICATE_REASONS[code]} (${code})${fix}.`;
    }
    if (/wrong version number|packet length too long|http request|unknown protocol/i.test(text) && (code === "EPROTO" || /^ERR_SSL_/.test(String(code)))) {
      return `the server at ${hostOf(url)} does not speak TLS (https) on that port; check the port in webdav.url, or whether the URL should start with http://.`;
    }
    if (typeof code === "string" && /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)) {
      return `the TLS handshake with ${hostOf(url)} failed (${code}); check webdav.url and the server's TLS set-up.`;
    }
  }
  return null;
}

/** `host:port` of a URL, for messages (the default port spelled out: it is the usual mistake). */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  } catch {
    return url;
  }
}
