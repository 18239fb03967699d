import type { ConflictRecord } from "./plan.js";

/** Phases of a run, in order; each reports progress as items and bytes done of a known total. */
export type SyncPhase = "check" | "lock" | "metadata" | "plan" | "upload" | "download" | "publish" | "apply";

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

export interface ProgressEvent {
  type: "sync.progress";
  phase: SyncPhase;
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
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
    this.emit({
      type: "sync.progress",
      phase: this.phase,
      done: this.done,
      total: this.total,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
    });
  }
}
