/**
 * Containment of webdav-server's faults, so that no request can stop the daemon. share-policy.ts and
 * dav-body-check.ts refuse the inputs known to break it; this is what remains for the ones not known yet:
 * - its response is guarded: a header or body written after the answer was sent (its PROPPATCH writes
 *   twice) is dropped instead of throwing ERR_HTTP_HEADERS_SENT, and the headers it must not send (a CORS
 *   grant to every origin, locking it does not do) are never sent;
 * - every request runs in an AsyncLocalStorage context, re-entered where webdav-server resumes from a
 *   request body event (which Node runs outside it). An exception thrown anywhere in its callbacks can
 *   then be traced to the one request it broke: containShareFault() ends that request and reports it, and
 *   the daemon's uncaughtException handler goes on only for those (any other exception still exits).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { v2 } from "webdav-server";
import { errorBody } from "../server/http-errors.js";
import { SHARE_METHODS, type Refusal } from "./share-policy.js";

export type ShareFaultListener = (err: unknown, req: IncomingMessage) => void;

/** A check of a request that webdav-server gets to handle only when it passes (null). */
export type CommandCheck = (ctx: v2.HTTPRequestContext, body: Buffer) => Refusal | null | Promise<Refusal | null>;

interface ShareRequest {
  req: IncomingMessage;
  res: ServerResponse;
  onFault: ShareFaultListener;
}

const current = new AsyncLocalStorage<ShareRequest>();
/** For re-entering a request's context from webdav-server's command handlers. */
const byRequest = new WeakMap<IncomingMessage, ShareRequest>();

/** Runs `serve` (webdav-server on this request) in the request's context, its response guarded. */
export function runShareRequest(req: IncomingMessage, res: ServerResponse, onFault: ShareFaultListener, serve: () => void): void {
  const request: ShareRequest = { req, res, onFault };
  byRequest.set(req, request);
  guardResponse(res);
  current.run(request, () => attempt(request, serve));
}

/**
 * For the process's uncaughtException handler: when `err` was thrown while webdav-server was handling a
 * share request, that request gets a 500 (or its connection is cut, if the answer had started), the fault
 * is reported, and true is returned. Anything else is not ours to hide: false.
 */
export function containShareFault(err: unknown): boolean {
  const request = current.getStore();
  if (!request) return false;
  fail(request, err);
  return true;
}

/**
 * webdav-server's commands, each run back in its request's context, with its synchronous throws caught,
 * and behind a check where one is given (`checks`, by lower-case method name).
 */
export function wrapCommands(methods: Record<string, v2.HTTPMethod>, checks: Record<string, CommandCheck>): Record<string, v2.HTTPMethod> {
  const wrapped: Record<string, v2.HTTPMethod> = {};
  for (const [name, command] of Object.entries(methods)) {
    const check = checks[name];
    const unchunked = (ctx: v2.HTTPRequestContext, data: Buffer, callback: () => void) => {
      if (!check) return within(ctx, () => command.unchunked?.(ctx, data, callback));
      within(ctx, () => {
        void Promise.resolve(check(ctx, data)).then(
          (refused) =>
            within(ctx, () => {
              if (!refused) return command.unchunked?.(ctx, data, callback);
              answer(ctx.response, refused);
              callback();
            }),
          (err: unknown) =>
            within(ctx, () => {
              throw err;
            }),
        );
      });
    };
    wrapped[name] = {
      ...(command.unchunked && { unchunked }),
      ...(command.chunked && { chunked: (ctx, stream, callback) => within(ctx, () => command.chunked?.(ctx, stream, callback)) }),
      ...(command.isValidFor && { isValidFor: (ctx, type) => command.isValidFor?.(ctx, type) ?? false }),
    };
  }
  return wrapped;
}

/** Runs `run` in the context of the request `ctx` belongs to, its throws reported as that request's. */
function within(ctx: v2.HTTPRequestContext, run: () => void): void {
  const request = byRequest.get(ctx.request);
  if (!request) return run(); // not a request of ours (webdav-server's own start()): as it was
  current.run(request, () => attempt(request, run));
}

/** Sends a refusal as the share's other errors: `{error: {code, message}}`. */
export function answer(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) return void res.end();
  res.writeHead(refusal.status, { "Content-Type": "application/json", ...refusal.headers }).end(JSON.stringify(errorBody(refusal.code, refusal.message)));
}

function attempt(request: ShareRequest, run: () => void): void {
  try {
    run();
  } catch (err) {
    fail(request, err);
  }
}

function fail(request: ShareRequest, err: unknown): void {
  const { req, res } = request;
  request.onFault(err, req);
  if (!res.headersSent) answer(res, { status: 500, code: "internal", message: "The share failed on this request; it is logged." });
  else if (!res.writableEnded) res.destroy(); // half an answer: the client must see it broken, not complete
  req.resume(); // an unread body would otherwise hold the connection
}

const ALLOWED = new Set<string>(SHARE_METHODS);

/** Header values webdav-server sets that this share does not stand behind. */
function rewriteHeader(name: string, value: OutgoingHttpHeader): OutgoingHttpHeader | null {
  const lower = name.toLowerCase();
  // No CORS grant of any kind: a page of another origin must not read the share's answers (SPEC §4).
  if (lower.startsWith("access-control-")) return null;
  // Class 1 only: LOCK and UNLOCK are refused (share-policy.ts), so the share must not claim class 2.
  if (lower === "dav") return "1";
  if (lower === "allow") return String(value).split(",").map((m) => m.trim()).filter((m) => ALLOWED.has(m.toUpperCase())).join(", ");
  return value;
}

/**
 * webdav-server may write headers after the answer has gone, and ServerResponse throws on that in a
 * callback with no handler around it: a late header or body is dropped here instead (the answer is
 * already on its way; nothing the client relies on is lost that was not lost already).
 */
function guardResponse(res: ServerResponse): void {
  const setHeader = res.setHeader.bind(res);
  const writeHead = res.writeHead.bind(res) as (status: number, message?: string) => ServerResponse;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  res.setHeader = (name: string, value: OutgoingHttpHeader) => {
    const kept = res.headersSent ? null : rewriteHeader(name, value);
    return kept === null ? res : setHeader(name, kept);
  };
  // Headers given to writeHead go through setHeader above, so that they are rewritten too.
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    if (res.headersSent) return res;
    const headers = rest.find((r): r is OutgoingHttpHeaders => typeof r === "object" && r !== null && !Array.isArray(r));
    for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) res.setHeader(name, value);
    return writeHead(status, typeof rest[0] === "string" ? rest[0] : undefined);
  }) as ServerResponse["writeHead"];
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((...args: unknown[]) => (res.writableEnded ? false : write(...args))) as ServerResponse["write"];
  res.end = ((...args: unknown[]) => (res.writableEnded ? res : end(...args))) as ServerResponse["end"];
}
