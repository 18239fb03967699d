import type { ConflictRecord } from "./plan.js";

/** Phases of a run, in order; each reports progress as items and bytes done of a known total. */
export type SyncPhase = "check" | "lock" | "metadata" | "plan" | "upload" | "download" | "publish" | "apply";

/** What waits to sync, as `syncd status --json` prints it (SPEC §5); also the TS API's status(). */
export interface SyncStatusReport {
  /** Local changes not yet on the share. */
  unsynced: number;
  /** The share version this instance last synced to, or null if it never synced. */
  localVersion: number | null;
  /** The share's current version, or null when the share could not be read or is empty. */
  remoteVersion: number | null;
  /** Whether a sync would do anything; null when the share could not be reached. */
  syncNeeded: boolean | null;
  lastSyncAt: string | null;
  lastError: string | null;
  /** Open conflicts waiting for a resolution. */
  conflicts: number;
}

/** Sync summary of SPEC §5 (`sync --json`, HTTP, SSE `sync.completed`). */
export interface SyncSummary {
  skipped: boolean;
  version: number | null;
  uploaded: number;
  downloaded: number;
  deletedLocal: number;
  deletedRemote: number;
  metadataPushed: number;
  metadataPulled: number;
  conflicts: number;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  /** `syncd sync --dry-run`: what the run would do; nothing was written anywhere. */
  dryRun?: DryRunReport;
}

/** What a dry run found: the changes it would make, and the guard that would stop it, if any. */
export interface DryRunReport {
  changes: Array<{ id: string; name: string; reason: string; local: string | null; remote: string | null; conflict: string | null }>;
  /** The sentence the run would stop with (a guard), or null. */
  wouldStop: string | null;
  /** The share went back in time since this instance's last sync (a restored backup): the run repairs it. */
  shareRewound: boolean;
}

/**
 * Progress of one phase (SPEC §6 `sync.progress`). Transfers (upload, download) count bytes as they stream,
 * so bytesDone advances while a file is in flight; the other phases count items.
 */
export interface ProgressEvent {
  type: "sync.progress";
  phase: SyncPhase;
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last seconds of a transfer (rate.ts); null outside transfers or until known. */
  bytesPerSecond: number | null;
  /** Seconds until the phase's bytes are all moved at that rate; null when unknown. */
  etaSeconds: number | null;
  /** The name of the entry being transferred (the one in flight longest), or null. */
  current: string | null;
  /** Phase "lock" only, while another instance holds the share's lock and this run waits for it. */
  lock?: LockWait;
}

/** Who holds the share's lock (from their claim file, SPEC §3), as far as their claim could be read. */
export interface LockHolder {
  instance: string;
  host: string;
  pid: number;
  /** When they took the lock (their wall clock, ISO 8601). */
  since: string;
}

/** A run waiting for the share's lock: who holds it and how long the wait may still last. */
export interface LockWait {
  /** Null when the holder's claim could not be read, or when the server has not shown this run's own claim yet. */
  holder: LockHolder | null;
  waitedSeconds: number;
  /** At most this many seconds more (what is left of sync.lockWaitSeconds); then the run gives up (exit 75). */
  leftSeconds: number;
}

export type SyncEvent =
  | { type: "sync.started"; force: boolean }
  | ProgressEvent
  | { type: "sync.completed"; summary: SyncSummary }
  | { type: "sync.failed"; error: { code: string; message: string } }
  | { type: "conflict"; conflict: ConflictRecord; policy: string; held: boolean }
  | { type: "log"; level: "info" | "warn"; message: string; data?: Record<string, unknown> };

export type SyncEventListener = (event: SyncEvent) => void;

export function emptySummary(): SyncSummary {
  return {
    skipped: false,
    version: null,
    uploaded: 0,
    downloaded: 0,
    deletedLocal: 0,
    deletedRemote: 0,
    metadataPushed: 0,
    metadataPulled: 0,
    conflicts: 0,
    bytesUp: 0,
    bytesDown: 0,
    durationMs: 0,
  };
}

/** How often progress is sent while something moves: about four times a second, never per chunk. */
export const PROGRESS_INTERVAL_MS = 250;

/** A progress event of a phase that counts items (no bytes moving, so no rate, ETA or current entry). */
export function itemProgress(phase: SyncPhase, done: number, total: number, bytesDone = 0, bytesTotal = 0): ProgressEvent {
  return { type: "sync.progress", phase, done, total, bytesDone, bytesTotal, bytesPerSecond: null, etaSeconds: null, current: null };
}

/** Tracks one phase's progress and emits throttled events (at most one per 100 ms, plus the last). */
export class PhaseProgress {
  private done = 0;
  private bytesDone = 0;
  private lastEmit = 0;

  constructor(
    private readonly emit: SyncEventListener,
    readonly phase: SyncPhase,
    readonly total: number,
    readonly bytesTotal: number,
    private readonly now: () => number = Date.now,
  ) {
    this.send();
  }

  advance(items: number, bytes: number): void {
    this.done += items;
    this.bytesDone += bytes;
    const t = this.now();
    if (this.done >= this.total || t - this.lastEmit >= 100) this.send();
  }

  finish(): void {
    if (this.done < this.total) {
      this.done = this.total;
      this.bytesDone = this.bytesTotal;
    }
    this.send();
  }

  private send(): void {
    this.lastEmit = this.now();
    this.emit(itemProgress(this.phase, this.done, this.total, this.bytesDone, this.bytesTotal));
  }
}
