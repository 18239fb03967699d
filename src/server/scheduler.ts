/**
 * When the daemon syncs. One run at a time; everything that wants a run goes through here:
 * - periodically, every `intervalMs` give or take `jitter` (instances started together drift apart
 *   instead of contending for the share's lock at the same second);
 * - soon after a local write made through the API: `debounceMs` after the last write, but no later than
 *   `debounceMaxMs` after the first, so a steady stream of writes cannot postpone the sync forever; a write
 *   during a run asks for another run after it (the running one may have planned before the write);
 * - on demand (`trigger`, the API's POST /api/v1/sync): a sync that covers every change made before the
 *   request, here or on the share. With no run in progress, a new run. During a run, that run may already
 *   have read the share and the library (a peer's publish or an API write a moment before the request
 *   would then be missed, and the request told "synced"), so the request waits for it and then for one
 *   more run, shared by every request that came during it (forced if any of them asked for force). That
 *   run costs one GET of version.txt when the first found everything; the answer counts what both did;
 * - the scheduler's own triggers (interval, retry, debounced writes) just join a run in progress;
 * - after a failure, retries back off exponentially up to `backoffMaxMs`; one success restores the
 *   normal interval. Debounced writes wait for the backoff too: the share is unlikely to be back sooner.
 */
import { SyncdError, errorMessage } from "../errors.js";
import type { SyncSummary } from "../sync/events.js";

export type RunTrigger = "startup" | "interval" | "write" | "manual" | "retry";

export interface RunRecord {
  trigger: RunTrigger;
  force: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  ok: boolean;
  summary: SyncSummary | null;
  error: { code: string; message: string } | null;
}

export interface SchedulerStatus {
  running: boolean;
  current: { trigger: RunTrigger; force: boolean; startedAt: string } | null;
  nextRunAt: string | null;
  nextRunReason: RunTrigger | null;
  consecutiveFailures: number;
  lastRun: RunRecord | null;
  /** The error of the latest run, null once a run succeeds. */
  lastError: { code: string; message: string; at: string } | null;
  /** Newest first. */
  recentRuns: RunRecord[];
}

export interface SchedulerOptions {
  run: (opts: { force: boolean; signal: AbortSignal }) => Promise<SyncSummary>;
  intervalMs: number;
  /** Fraction of each delay added or removed at random; default 0.1. */
  jitter?: number;
  /** Default 2 s. */
  debounceMs?: number;
  /** Default 10 s. */
  debounceMaxMs?: number;
  /** First retry delay; default min(interval, 10 s). Doubles with each consecutive failure. */
  backoffBaseMs?: number;
  /** Default max(interval, 15 min). */
  backoffMaxMs?: number;
  /** Delay of the first run after start(); default 1 s. */
  startDelayMs?: number;
  /** Runs kept for status(); default 20. */
  history?: number;
  onRunEnd?: (record: RunRecord) => void;
  random?: () => number;
  now?: () => number;
}

export class ShuttingDownError extends SyncdError {
  constructor() {
    super("shutting-down", "The daemon is shutting down; no new sync is started.");
  }
}

interface CurrentRun {
  promise: Promise<SyncSummary>;
  force: boolean;
  trigger: RunTrigger;
  startedAt: number;
}

export class Scheduler {
  private readonly o: Required<Omit<SchedulerOptions, "onRunEnd">> & Pick<SchedulerOptions, "onRunEnd">;
  private readonly abort = new AbortController();
  private current: CurrentRun | null = null;
  /** The run after the current one that requests made during it wait for (see the module comment). */
  private followUp: { force: boolean; promise: Promise<SyncSummary> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextAt: number | null = null;
  private nextReason: RunTrigger | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private firstWriteAt: number | null = null;
  private writeDuringRun = false;
  private failures = 0;
  private lastError: SchedulerStatus["lastError"] = null;
  private readonly history: RunRecord[] = [];
  private started = false;
  private stopped = false;

  constructor(options: SchedulerOptions) {
    const interval = options.intervalMs;
    this.o = {
      jitter: 0.1,
      debounceMs: 2000,
      debounceMaxMs: 10_000,
      backoffBaseMs: Math.min(interval, 10_000),
      backoffMaxMs: Math.max(interval, 15 * 60_000),
      startDelayMs: 1000,
      history: 20,
      random: Math.random,
      now: Date.now,
      ...options,
    };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.arm(this.o.startDelayMs, "startup");
  }

  /** A sync that covers every change made before this call (see the module comment). Rejects with the run's error. */
  trigger(opts: { force?: boolean; reason?: RunTrigger } = {}): Promise<SyncSummary> {
    const force = opts.force ?? false;
    const reason = opts.reason ?? "manual";
    if (this.stopped) return Promise.reject(new ShuttingDownError());
    const current = this.current;
    if (!current) return this.launch(force, reason);
    if (reason !== "manual" && (current.force || !force)) return current.promise;
    return this.after(current, force);
  }

  /** The promise of the one run after `current` (see the module comment), made forced if `force`. */
  private after(current: CurrentRun, force: boolean): Promise<SyncSummary> {
    if (this.followUp) {
      this.followUp.force ||= force;
      return this.followUp.promise;
    }
    const followUp: { force: boolean; promise: Promise<SyncSummary> } = {
      force,
      promise: current.promise.then(
        (joined) => this.runFollowUp(followUp.force).then((own) => combineSummaries(joined, own)),
        // The run joined failed: the answer is the one after it, which starts from where that one stopped.
        () => this.runFollowUp(followUp.force),
      ),
    };
    this.followUp = followUp;
    followUp.promise.catch(noop); // the requests waiting on it handle its failure
    return followUp.promise;
  }

  private runFollowUp(force: boolean): Promise<SyncSummary> {
    this.followUp = null;
    if (this.stopped) return Promise.reject(new ShuttingDownError());
    // A run that started after the joined one ended started after every request waiting here: joining it
    // is enough, if it gives what they asked for.
    const current = this.current;
    if (current && (current.force || !force)) return current.promise;
    return current ? this.after(current, force) : this.launch(force, "manual");
  }

  /** A local write went through the API: sync soon. */
  notifyWrite(): void {
    if (this.stopped) return;
    if (this.current) {
      this.writeDuringRun = true;
      return;
    }
    const now = this.o.now();
    this.firstWriteAt ??= now;
    const delay = Math.max(0, Math.min(this.o.debounceMs, this.firstWriteAt + this.o.debounceMaxMs - now));
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.debounceFired(), delay);
    this.debounceTimer.unref();
  }

  status(): SchedulerStatus {
    const c = this.current;
    return {
      running: c !== null,
      current: c ? { trigger: c.trigger, force: c.force, startedAt: new Date(c.startedAt).toISOString() } : null,
      nextRunAt: this.nextAt === null ? null : new Date(this.nextAt).toISOString(),
      nextRunReason: this.nextReason,
      consecutiveFailures: this.failures,
      lastRun: this.history[0] ?? null,
      lastError: this.lastError,
      recentRuns: [...this.history],
    };
  }

  /** Stops scheduling, aborts the run in progress (the engine stops at its next safe point) and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = null;
    this.abort.abort();
    await Promise.allSettled([this.current?.promise, this.followUp?.promise]);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private launch(force: boolean, trigger: RunTrigger): Promise<SyncSummary> {
    this.clearTimer();
    // This run covers every write committed before it: a pending debounce has nothing left to do.
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = null;
    this.firstWriteAt = null;
    this.writeDuringRun = false;
    const startedAt = this.o.now();
    const promise = this.o.run({ force, signal: this.abort.signal }).then(
      (summary) => {
        this.finish({ trigger, force, startedAt, summary, error: null });
        return summary;
      },
      (err: unknown) => {
        this.finish({ trigger, force, startedAt, summary: null, error: describeError(err) });
        throw err;
      },
    );
    this.current = { promise, force, trigger, startedAt };
    // Callers that join decide what to do with a failure; the scheduler itself has recorded it.
    promise.catch(noop);
    return promise;
  }

  private finish(r: { trigger: RunTrigger; force: boolean; startedAt: number; summary: SyncSummary | null; error: RunRecord["error"] }): void {
    const finishedAt = this.o.now();
    const record: RunRecord = {
      trigger: r.trigger,
      force: r.force,
      startedAt: new Date(r.startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - r.startedAt,
      ok: r.error === null,
      summary: r.summary,
      error: r.error,
    };
    this.history.unshift(record);
    this.history.length = Math.min(this.history.length, this.o.history);
    this.current = null;
    if (r.error) {
      this.failures++;
      this.lastError = { ...r.error, at: record.finishedAt };
    } else {
      this.failures = 0;
      this.lastError = null;
    }
    try {
      this.o.onRunEnd?.(record);
    } catch {
      // Observers (metrics, logs) must not break scheduling.
    }
    if (this.stopped) return;
    if (this.failures > 0) {
      const backoff = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (this.failures - 1));
      this.arm(this.jittered(backoff), "retry");
      return;
    }
    this.arm(this.jittered(this.o.intervalMs), "interval");
    if (this.writeDuringRun) {
      this.writeDuringRun = false;
      this.notifyWrite();
    }
  }

  private debounceFired(): void {
    this.debounceTimer = null;
    this.firstWriteAt = null;
    if (this.stopped || this.failures > 0) return; // backing off: the retry timer will pick the write up
    this.trigger({ reason: "write" }).catch(noop);
  }

  private arm(delayMs: number, reason: RunTrigger): void {
    this.clearTimer();
    this.nextAt = this.o.now() + delayMs;
    this.nextReason = reason;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.nextAt = null;
      this.nextReason = null;
      this.trigger({ reason }).catch(noop);
    }, delayMs);
    // The HTTP server keeps the process alive, not the schedule.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = null;
    this.nextReason = null;
  }

  private jittered(ms: number): number {
    return Math.max(0, Math.round(ms * (1 + this.o.jitter * (2 * this.o.random() - 1))));
  }
}

function noop(): void {}

/** What two runs did together, as one summary: the answer to a request that waited for both. */
export function combineSummaries(a: SyncSummary, b: SyncSummary): SyncSummary {
  return {
    ...b, // anything else a summary holds: the later run's
    skipped: a.skipped && b.skipped,
    version: b.version ?? a.version,
    uploaded: a.uploaded + b.uploaded,
    downloaded: a.downloaded + b.downloaded,
    deletedLocal: a.deletedLocal + b.deletedLocal,
    deletedRemote: a.deletedRemote + b.deletedRemote,
    metadataPushed: a.metadataPushed + b.metadataPushed,
    metadataPulled: a.metadataPulled + b.metadataPulled,
    conflicts: a.conflicts + b.conflicts,
    bytesUp: a.bytesUp + b.bytesUp,
    bytesDown: a.bytesDown + b.bytesDown,
    durationMs: a.durationMs + b.durationMs,
  };
}

export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof SyncdError) return { code: err.code, message: err.message };
  return { code: "internal", message: errorMessage(err) };
}
