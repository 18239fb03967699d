/**
 * Retries for a Remote (issue 5): a decorator that repeats a failed request when repeating it is safe and
 * the failure may be transient, with exponential backoff and full jitter, honouring Retry-After, within a
 * total time budget. Everything else is passed through unchanged.
 *
 * What is retried, and why that is safe:
 * - Reads (get, getStream, stat, list) change nothing. getStream is retried only until the response body
 *   starts: once the caller holds a stream, a failure surfaces on that stream (the caller restarts it).
 * - mkdir: MKCOL of an existing folder is "already exists" (405), which mkdir treats as success.
 * - put: every PUT syncd makes is of a content-addressed data file (same path, same bytes), of a name
 *   unique to this run (`metadata.db.tmp-<token>`, a lease claim), or a whole-file rewrite of
 *   `version.txt` (same bytes again): writing it twice leaves what writing it once does. A StreamBody is
 *   reopened for every attempt (that is why it is a factory).
 * - delete: a retry that is answered "not found" counts as success. The attempt before it may well have
 *   deleted the file and lost only its answer (a dropped connection, a 502 from a gateway after the
 *   backend did the work); what a DELETE promises is that the file is gone, and it is. A "not found" on
 *   the *first* attempt is still thrown, as the Remote contract says, because callers use it to tell
 *   "already gone" from "deleted now".
 * - move: MOVE is not idempotent (the second one finds no source), so it is retried only when the failure
 *   left us not knowing whether it happened or told us it did not: no response at all (network, timeout)
 *   or 5xx/429. Before each retry the source is looked up (PROPFIND), and the MOVE is sent again only if
 *   the source is still there. If it is gone, an earlier attempt did the move and lost its answer: the
 *   move counts as done if the destination exists, and otherwise the failure is thrown. A MOVE is never
 *   sent for a missing source, because webdav-server 2.6 (the embedded share) and rclone 1.60 answer such
 *   a MOVE with Overwrite: T by *deleting the destination* (with a 500 and a 403; measured: a blind retry
 *   deleted metadata.db); Apache answers 404 and leaves it. The source of every MOVE syncd makes is a name unique to the run
 *   (`metadata.db.tmp-<token>`) that nobody else writes or moves while the run holds the lease, so "source
 *   gone, destination present" means our move happened. (The destination alone would prove nothing, as
 *   metadata.db existed before; the source vanishing is the evidence. The one other way it can vanish is a
 *   new lock holder removing it as a dead writer's leftover, which it only does after our lease expired —
 *   and then the run stops at its next lease check, before writing version.txt.)
 *
 * Never retried: auth (401/403), not-found, precondition (412), conflict (409), insufficient storage
 * (507), malformed answers (protocol), and any error that is not a RemoteError (a local file that cannot
 * be read, a body of the wrong size): repeating those cannot help.
 *
 * The budget bounds how long after the first attempt a new attempt may start; a request already running
 * ends with its own timeout (webdav.timeoutMs). Writes are made under the lease, which is checked before
 * each call but not between the attempts inside it, so open.ts keeps the budget within the lease's reserve
 * (a third of its TTL): every attempt of a write starts while the lease that allowed the call still holds.
 *
 * A shutdown (stop.ts) ends the wait for the next attempt at once, with a failure of kind "aborted" (never
 * retried, like "tls"): a stopped run has nothing left to wait for.
 */
import { isRemoteError, RemoteError } from "./errors.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "./remote.js";
import { stopSignal } from "./stop.js";
import type { Readable } from "node:stream";

export type RemoteOp = "get" | "getStream" | "put" | "delete" | "move" | "mkdir" | "stat" | "list" | "size" | "sizes";

export interface RetryInfo {
  op: RemoteOp;
  path: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long we wait before the next attempt. */
  delayMs: number;
  error: RemoteError;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 5; 1 disables retries). */
  attempts?: number;
  /** Backoff window of the first retry (default 250 ms); it doubles per retry up to maxDelayMs. */
  baseDelayMs?: number;
  /** Largest backoff window (default 8 s). A server's Retry-After may ask for longer and is honoured. */
  maxDelayMs?: number;
  /** No attempt starts later than this after the first one (default 30 s). */
  budgetMs?: number;
  /** Waits `ms`, or less once `signal` (a shutdown) aborts; the default honours it. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** In [0, 1); default Math.random. */
  random?: () => number;
  /** Milliseconds on a monotonic clock; default performance.now. */
  now?: () => number;
  onRetry?: (info: RetryInfo) => void;
}

export const RETRY_DEFAULTS = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8000, budgetMs: 30_000 } as const;

/** Statuses of the "server" kind that no retry can fix. */
const PERMANENT_SERVER_STATUSES = new Set([501, 505]);

/**
 * Network failures that are about the configuration, not the moment: an unknown host name (a typo in
 * webdav.url; EAI_AGAIN, a lookup that failed for now, is retried) and certificate or TLS errors.
 */
const PERMANENT_NETWORK_CODE = /^(ENOTFOUND|ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_INVALID_URL)/;

/** The system error code in an error's cause chain (node-fetch puts it on the error, undici in `cause`). */
function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "" && !(e instanceof RemoteError)) return code;
  }
  return undefined;
}

/** Whether a failure may go away by itself (and so is worth another attempt of an idempotent request). */
export function isTransient(err: unknown): err is RemoteError {
  if (!isRemoteError(err)) return false;
  switch (err.kind) {
    case "network":
      return !PERMANENT_NETWORK_CODE.test(systemCode(err.cause) ?? "");
    case "timeout":
    case "rate-limited":
      return true;
    case "server":
      return err.status === undefined || !PERMANENT_SERVER_STATUSES.has(err.status);
    case "locked":
      // syncd takes no WebDAV locks; a 423 is another client's short write lock (Nextcloud's file locking).
      return true;
    default:
      return false;
  }
}

/** MOVE: only failures that say "no answer" or "not done" (5xx, 429), never a 4xx that may describe the result. */
function moveRetryable(err: unknown): err is RemoteError {
  return isRemoteError(err) && (err.kind === "network" || err.kind === "timeout" || err.kind === "rate-limited" || (err.kind === "server" && isTransient(err)));
}

export function withRetries(remote: Remote, opts: RetryOptions = {}): Remote {
  return new RetryingRemote(remote, opts);
}

type Settings = Required<Omit<RetryOptions, "onRetry">> & { onRetry: (info: RetryInfo) => void };

class RetryingRemote implements Remote {
  private readonly s: Settings;

  constructor(
    private readonly inner: Remote,
    opts: RetryOptions,
  ) {
    const attempts = opts.attempts ?? RETRY_DEFAULTS.attempts;
    if (!(Number.isInteger(attempts) && attempts >= 1)) throw new RangeError(`attempts must be an integer ≥ 1 (got ${attempts}).`);
    this.s = {
      attempts,
      baseDelayMs: opts.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs,
      maxDelayMs: opts.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs,
      budgetMs: opts.budgetMs ?? RETRY_DEFAULTS.budgetMs,
      sleep: opts.sleep ?? abortableSleep,
      random: opts.random ?? Math.random,
      now: opts.now ?? (() => performance.now()),
      onRetry: opts.onRetry ?? (() => {}),
    };
  }

  get location(): string {
    return this.inner.location;
  }

  get(path: string): Promise<Buffer> {
    return this.retry("get", path, isTransient, () => this.inner.get(path));
  }

  getStream(path: string): Promise<Readable> {
    return this.retry("getStream", path, isTransient, () => this.inner.getStream(path));
  }

  put(path: string, body: Buffer | StreamBody): Promise<void> {
    return this.retry("put", path, isTransient, () => this.inner.put(path, body));
  }

  delete(path: string): Promise<void> {
    return this.retry("delete", path, isTransient, async (attempt) => {
      try {
        await this.inner.delete(path);
      } catch (err) {
        if (attempt > 1 && isRemoteError(err, "not-found")) return; // see the header: gone is what was asked
        throw err;
      }
    });
  }

  move(from: string, to: string): Promise<void> {
    let lastFailure: RemoteError | null = null;
    return this.retry("move", from, moveRetryable, async (attempt) => {
      if (lastFailure && (await this.inner.stat(from)) === null) {
        // An earlier attempt moved it and lost the answer (see the header): done if the destination is there.
        if ((await this.inner.stat(to)) !== null) return;
        const reason = lastFailure.message.slice(lastFailure.message.indexOf(" failed: ") + 9).replace(/\.$/, "");
        throw new RemoteError("not-found", "MOVE", lastFailure.url, `its source and its destination are both gone after an attempt that failed (${reason}).`, {
          status: 404,
          cause: lastFailure,
        });
      }
      try {
        await this.inner.move(from, to);
      } catch (err) {
        if (isRemoteError(err)) lastFailure = err;
        throw err;
      }
    });
  }

  mkdir(path: string): Promise<void> {
    return this.retry("mkdir", path, isTransient, () => this.inner.mkdir(path));
  }

  stat(path: string): Promise<RemoteStat | null> {
    return this.retry("stat", path, isTransient, () => this.inner.stat(path));
  }

  list(dir: string): Promise<Listing> {
    return this.retry("list", dir, isTransient, () => this.inner.list(dir));
  }

  size(path: string): Promise<number | null> {
    return this.retry("size", path, isTransient, () => this.inner.size(path));
  }

  sizes(dir: string): Promise<Map<string, number>> {
    return this.retry("sizes", dir, isTransient, () => this.inner.sizes(dir));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async retry<T>(op: RemoteOp, path: string, retryable: (err: unknown) => err is RemoteError, fn: (attempt: number) => Promise<T>): Promise<T> {
    const s = this.s;
    const started = s.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        if (!retryable(err)) throw attempt === 1 ? err : withAttempts(err, attempt, s.now() - started, false);
        const elapsed = s.now() - started;
        if (attempt >= s.attempts) throw s.attempts === 1 ? err : withAttempts(err, attempt, elapsed, true);
        // Full jitter over a doubling window (no herd of clients retrying in step), or at least what the
        // server asked for with Retry-After (429, 503).
        const window = Math.min(s.maxDelayMs, s.baseDelayMs * 2 ** (attempt - 1));
        const jittered = Math.floor(s.random() * window);
        const delay = err.retryAfterMs !== undefined ? Math.max(err.retryAfterMs, jittered) : jittered;
        if (elapsed + delay > s.budgetMs) {
          const asked = err.retryAfterMs !== undefined && elapsed + err.retryAfterMs > s.budgetMs;
          const left = formatSeconds(s.budgetMs - elapsed);
          const note = asked ? ` (the server asked to wait ${formatSeconds(err.retryAfterMs as number)}, more than the ${left} left of the ${formatSeconds(s.budgetMs)} retry budget)` : "";
          throw withAttempts(err, attempt, elapsed, true, note);
        }
        s.onRetry({ op, path, attempt, delayMs: delay, error: err });
        const stop = stopSignal();
        await untilStopped(s.sleep(delay, stop ?? undefined), stop);
        if (stop?.aborted) throw stoppedWaiting(err, attempt);
      }
    }
  }
}

/**
 * The last error, its sentence extended by how many attempts were made (a RemoteError of the same kind,
 * status and URL, with the last failure as its cause). A failure that was not a RemoteError is returned as is.
 */
function withAttempts(err: unknown, attempts: number, elapsedMs: number, gaveUp: boolean, note = ""): unknown {
  if (!isRemoteError(err)) return err;
  const marker = " failed: ";
  const at = err.message.indexOf(marker);
  const reason = (at >= 0 ? err.message.slice(at + marker.length) : err.message).replace(/\.$/, "");
  const count = attempts === 1 ? "1 attempt" : `${attempts} attempts in ${formatSeconds(elapsedMs)}`;
  const tries = gaveUp ? `gave up after ${count}` : `after ${count}`;
  return new RemoteError(err.kind, err.method, err.url, `${reason}; ${tries}${note}.`, {
    status: err.status,
    retryAfterMs: err.retryAfterMs,
    cause: err,
  });
}

/** A shutdown came while waiting for the next attempt: the last failure, and that the retries stopped. */
function stoppedWaiting(err: RemoteError, attempts: number): RemoteError {
  const reason = err.message.slice(err.message.indexOf(" failed: ") + 9).replace(/\.$/, "");
  const count = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
  return new RemoteError("aborted", err.method, err.url, `${reason}; no more attempts after ${count}, because syncd was asked to stop.`, {
    status: err.status,
    cause: err,
  });
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves when `sleeping` does or `stop` aborts, whichever comes first (an injected sleep may ignore the signal). */
function untilStopped(sleeping: Promise<void>, stop: AbortSignal | null): Promise<void> {
  if (!stop) return sleeping;
  if (stop.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stop.removeEventListener("abort", done);
      resolve();
    };
    stop.addEventListener("abort", done, { once: true });
    void sleeping.then(done, done);
  });
}

function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}
