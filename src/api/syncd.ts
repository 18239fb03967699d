/**
 * The public face of an embedded syncd instance (SPEC §7): what `openSyncd()` returns to an application.
 * The CLI and the daemon hold the same object (api/instance.ts), plus internal accessors they need.
 * Everything here is part of the package's declarations, so it names only public types.
 */
import type { Readable } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Entry, Meta } from "../model/entry.js";
import type { OpenConflict as Conflict } from "../model/conflict.js";
import type { ProgressEvent, SyncEvent, SyncStatusReport, SyncSummary } from "../sync/events.js";
import type { ResolveStrategy } from "../sync/resolution.js";

/** New content: a file path (streamed into the store), bytes, or a one-shot stream (an upload body). */
export type ContentSource = string | Buffer | Uint8Array | Readable;

/** A change to an entry; every field is optional, and the ones given are applied in this order. */
export interface EntryUpdate {
  content?: ContentSource;
  name?: string;
  /** Metadata keys to set (merged into the entry's metadata) and keys to remove. */
  meta?: { set?: Meta; unset?: string[] };
}

export interface SyncRunOptions {
  /** Skip the up-to-date check and reconcile in full. Overrides no guard. */
  force?: boolean;
  /** Let this run delete more than sync.maxDeletePercent, or sync with a share that was emptied or replaced. */
  allowDeletes?: boolean;
  /** Report what the run would do (summary.dryRun) and write nothing anywhere. */
  dryRun?: boolean;
  /**
   * Stops the run: requests in flight end at once, the share's lock is released, and sync() rejects with a
   * SyncdError. A publish in progress is finished first, so the share is left at the old or the new version.
   */
  signal?: AbortSignal;
  /** Progress of this run, by bytes and files, at least once a second while something moves. */
  onProgress?: (event: ProgressEvent) => void;
  /** Every event of this run (started, progress, conflicts, warnings, completed or failed). */
  onEvent?: (event: SyncEvent) => void;
}

// The public shapes of a status and of a conflict are the ones the engine and the store use (documented where
// they are declared, in modules light enough for the package's declarations), not copies kept equal by hand.
export type { Conflict, SyncStatusReport };

export { RESOLVE_STRATEGIES, type ResolveStrategy } from "../sync/resolution.js";

export interface ResolveResult {
  conflictId: string;
  strategy: ResolveStrategy;
  /** The entry as it now is locally (pending until the next sync carries it to the share). */
  entry: Entry;
  /** keep_both: the new entry that holds the local side; null otherwise. */
  copy: Entry | null;
}

/**
 * One syncd instance: a library in `config.dataDir` and the share it syncs with. Changes go through these
 * methods only (the one write path: each is recorded for the next sync). Failures are SyncdError instances
 * with a one-sentence message, a stable `code` and the CLI's `exitCode`. Call close() when done.
 */
export interface Syncd {
  readonly config: Config;
  /** This instance's id in the library (stable for the data directory). */
  readonly instanceId: string;
  readonly instanceName: string;

  /** Adds a new entry; names are labels, not identity (two entries may share one). */
  add(content: ContentSource, options: { name: string; meta?: Meta }): Promise<Entry>;
  /** Changes content, name and/or metadata of a live entry. */
  update(id: string, change: EntryUpdate): Promise<Entry>;
  /** Deletes an entry (a tombstone that syncs; restore() brings it back). */
  remove(id: string): Entry;
  /** Brings deleted entries back as a new change; content this machine released is fetched from the share. */
  restore(ids: string | string[]): Promise<Entry[]>;
  get(id: string): Entry | null;
  /** Entries sorted by name; deleted ones only with includeDeleted. */
  list(options?: { includeDeleted?: boolean }): Entry[];
  /** The content of a live entry, as a stream of its bytes. */
  content(id: string): Readable;

  /** Runs one sync with the share (runs of one instance take turns) and resolves with its summary. */
  sync(options?: SyncRunOptions): Promise<SyncSummary>;
  status(): Promise<SyncStatusReport>;
  conflicts(): Conflict[];
  /** Resolves one open conflict; the next sync carries the result to every instance. */
  resolve(conflictId: string, strategy: ResolveStrategy): Promise<ResolveResult>;
  /** Waits for a run in progress to end, then closes the share connection and the library. */
  close(): Promise<void>;
}
