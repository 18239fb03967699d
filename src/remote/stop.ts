/**
 * Stopping the share's requests on shutdown (issue 11). Without this, SIGTERM during a stalled request
 * waited out that request's whole timeout (webdav.timeoutMs) before the run could stop and release its lock.
 *
 * A StopScope covers every request made inside `scope.run(fn)`, including those of timers and servers fn
 * starts (AsyncLocalStorage follows them), so the signal is not threaded through every call of the engine:
 * the CLI runs each command in one, the daemon its whole life, and `stopRequestsOn` gives a caller's own
 * AbortSignal the same power. Once `stop()` is called:
 * - requests in flight are aborted and new ones fail at once, as RemoteError kind "aborted" (never retried);
 * - except while publishing (`uninterrupted`): a stop that arrives then takes effect only when publishing
 *   ends, so the share is left at the old or the new version, never between (SPEC §3); lease heartbeats
 *   keep running meanwhile. A stop that has already taken effect refuses to begin publishing;
 * - cleanup (`asCleanup`: releasing the lock claim, removing a probe's scratch folder) still runs, each
 *   request for at most STOP_GRACE_MS, so that a stopped run leaves no claim behind on a healthy server
 *   and exits promptly on a stalled one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setMaxListeners } from "node:events";
import { SyncdError } from "../errors.js";

/** How long one cleanup request may take once a stop has taken effect. */
export const STOP_GRACE_MS = 1500;

/** The reason of a stopped scope's signal (a Remote reports the requests it aborted as kind "aborted"). */
export class StopReason extends Error {
  constructor() {
    super("stopped because syncd was asked to stop");
    this.name = "StopReason";
  }
}

/** Publishing was not begun because a stop had already taken effect. */
export class StoppedError extends SyncdError {
  constructor(what: string) {
    super("aborted", `Stopped before ${what}: syncd was asked to stop; nothing was published, the next run continues.`);
  }
}

export class StopScope {
  /** stop() was called (by the owner or through a trigger signal). */
  private readonly asked = new AbortController();
  /** The stop took effect: no publishing in progress. Aborts the requests of the scope. */
  private readonly effective = new AbortController();
  private publishing = 0;

  constructor() {
    // Every request in flight listens to it (sync.concurrency of them and more): not a leak.
    setMaxListeners(0, this.effective.signal);
  }

  get stopped(): boolean {
    return this.effective.signal.aborted;
  }

  /** Aborted when the stop takes effect. */
  get signal(): AbortSignal {
    return this.effective.signal;
  }

  stop(): void {
    if (!this.asked.signal.aborted) this.asked.abort(new StopReason());
    this.settle();
  }

  run<T>(fn: () => T): T {
    return storage.run({ scope: this, cleanup: false }, fn);
  }

  /** @internal see uninterrupted() */
  async hold<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.stopped) throw new StoppedError(what);
    this.publishing++;
    try {
      return await fn();
    } finally {
      this.publishing--;
      this.settle();
    }
  }

  private settle(): void {
    if (this.asked.signal.aborted && this.publishing === 0 && !this.effective.signal.aborted) {
      this.effective.abort(this.asked.signal.reason);
    }
  }
}

interface Context {
  scope: StopScope;
  cleanup: boolean;
}

const storage = new AsyncLocalStorage<Context>();

/**
 * Runs fn in a new scope that `signal` stops (and that stops with the scope around it, if any). Without a
 * signal, fn runs in the current scope. For callers that hold an AbortSignal, as the engine's `sync()`.
 */
export async function stopRequestsOn<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  if (!signal) return fn();
  const outer = storage.getStore()?.scope;
  const scope = new StopScope();
  const stop = () => scope.stop();
  const triggers = outer ? [signal, outer.signal] : [signal];
  for (const t of triggers) {
    if (t.aborted) scope.stop();
    else t.addEventListener("abort", stop, { once: true });
  }
  try {
    return await scope.run(fn);
  } finally {
    for (const t of triggers) t.removeEventListener("abort", stop);
  }
}

/**
 * Publishing: a stop that arrives while fn runs takes effect when it ends (its requests, and the lease's
 * heartbeats, go on); a stop that took effect before refuses to begin it (StoppedError).
 */
export function uninterrupted<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const context = storage.getStore();
  return context ? context.scope.hold(what, fn) : fn();
}

/** Cleanup after a run: its requests still run after a stop, for at most STOP_GRACE_MS each. */
export function asCleanup<T>(fn: () => Promise<T>): Promise<T> {
  const context = storage.getStore();
  return context ? storage.run({ scope: context.scope, cleanup: true }, fn) : fn();
}

/**
 * For a Remote, as a request starts: the signal that must abort it for a stop (aborted already when the
 * request must not start at all), or null when no stop can concern it.
 */
export function stopSignal(): AbortSignal | null {
  const context = storage.getStore();
  if (!context) return null;
  const { scope, cleanup } = context;
  if (!cleanup) return scope.signal;
  // Cleanup before any stop runs as usual (a stop arriving meanwhile does not cut it short); after one, briefly.
  return scope.stopped ? AbortSignal.timeout(STOP_GRACE_MS) : null;
}
