/**
 * Timeouts for streamed transfers. A fixed deadline (AbortSignal.timeout) would abort a large file on a
 * slow link however healthy the transfer is, so bodies get an *idle* timeout instead: the request is
 * aborted only when no byte has moved for `timeoutMs` (and, for an upload, when the server takes longer
 * than that to answer after the last byte). A consumer that stops reading a download for `timeoutMs`
 * counts as idle too: the socket must not be held open forever by a stalled caller.
 */
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { SyncdError } from "../errors.js";

export class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onStop = () => this.controller.abort();

  /** `stop` (see stop.ts) aborts the request too, whatever its progress; `stopped` then says so. */
  constructor(
    private readonly timeoutMs: number,
    private readonly stop: AbortSignal | null = null,
  ) {
    this.touch();
    if (stop?.aborted) this.controller.abort();
    else stop?.addEventListener("abort", this.onStop, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The request was aborted by a stop, not by its own timeout. */
  get stopped(): boolean {
    return this.stop?.aborted === true;
  }

  /** Progress was made: restart the countdown. */
  touch(): void {
    if (this.controller.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(), this.timeoutMs);
    // A pending transfer keeps the process alive through its socket; the timer must not do so on its own.
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stop?.removeEventListener("abort", this.onStop);
  }
}

/**
 * Pipes a response body through a Transform that restarts the idle timer per chunk. A Transform (rather
 * than a 'data' listener) keeps backpressure intact. Errors of the body are mapped (to RemoteError) and
 * surface on the returned stream; destroying the returned stream releases the body and its socket.
 */
export function watchDownload(body: Readable, idle: IdleTimer, mapError: (err: unknown) => Error): Readable {
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      idle.touch();
      done(null, chunk);
    },
  });
  body.on("error", (err) => out.destroy(mapError(err)));
  // The caller may not be reading yet (it opens its temp file first) when the body fails: without a
  // listener that 'error' would crash the process. The error still reaches the caller, because a
  // destroyed stream hands its error to whoever reads it (for await, pipeline).
  out.on("error", () => {});
  out.on("close", () => {
    idle.clear();
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}

/** The upload body did not match its declared size (a file changed while it was being sent?). */
export class BodySizeError extends SyncdError {
  constructor(message: string) {
    super("body-size", message);
  }
}

/**
 * Wraps an upload body: restarts the idle timer per chunk and checks that exactly `size` bytes are sent,
 * because the request declares that Content-Length (a short body would otherwise hang until the timeout,
 * a long one be cut by Node). `localError()` tells a failure of the body itself (unreadable file, wrong
 * size) from a failure of the request, which also destroys the body.
 */
export function watchUpload(
  source: Readable,
  size: number,
  idle: IdleTimer,
  what: string,
): { body: Transform; localError(): Error | undefined } {
  let sent = 0;
  let local: Error | undefined;
  const fail = (err: Error) => (local ??= err);
  const body = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      sent += chunk.length;
      idle.touch();
      if (sent > size) return done(fail(new BodySizeError(`The upload of ${what} is longer than its declared ${size} bytes.`)));
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      if (sent !== size) return done(fail(new BodySizeError(`The upload of ${what} ended after ${sent} of its declared ${size} bytes.`)));
      done();
    },
  });
  // The HTTP layer destroys the body with its own error when the request fails; nobody else listens then,
  // and an 'error' without a listener would crash the process.
  body.on("error", () => {});
  source.on("error", (err) => body.destroy(fail(err)));
  source.pipe(body);
  return { body, localError: () => local };
}
