/**
 * Every error response is `{error: {code, message}}` (SPEC §6). SyncdErrors already carry a stable code and
 * a one-sentence message meant for users; this maps their codes to HTTP statuses. Anything else is a bug:
 * the client gets a generic 500 and the daemon's log gets the details.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { SyncdError, errorMessage } from "../errors.js";
import { RemoteError } from "../remote/errors.js";
import type { Logger } from "./log.js";

/** An error raised by the HTTP layer itself (bad request, auth, size). */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  usage: 400,
  config: 400,
  "invalid-meta": 400,
  "invalid-name": 400,
  "invalid-strategy": 400,
  "entry-not-found": 404,
  "conflict-not-found": 404,
  "entry-deleted": 410,
  "conflict-resolved": 409,
  "conflict-orphaned": 409,
  "conflict-race": 409,
  "blob-vanished": 409,
  "lock-busy": 503,
  "local-lock-busy": 503,
  "lease-lost": 503,
  aborted: 503,
  "shutting-down": 503,
  "too-many-subscribers": 503,
  "disk-full": 507,
  // The daemon's data directory cannot be written: the server is up but cannot do what was asked.
  "disk-read-only": 503,
  "disk-not-writable": 503,
  "share-mismatch": 409,
  "share-empty": 409,
  "too-many-deletions": 409,
};

export function statusOf(err: SyncdError): ContentfulStatusCode {
  const known = STATUS_BY_CODE[err.code];
  if (known) return known;
  if (err instanceof RemoteError) return 502;
  if (err.code.endsWith("-not-found")) return 404;
  return err.exitCode === 2 ? 400 : 500;
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message), err.status);
  }
  if (err instanceof SyncdError) {
    const status = statusOf(err);
    if (status === 503) c.header("Retry-After", "10");
    if (status >= 500) log.warn("request failed", { method: c.req.method, path: c.req.path, status, code: err.code, error: err.message });
    return c.json(errorBody(err.code, err.message), status);
  }
  log.error("internal error", {
    method: c.req.method,
    path: c.req.path,
    error: errorMessage(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
  return c.json(errorBody("internal", "Internal error; the daemon's log has the details."), 500);
}
