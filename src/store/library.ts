/**
 * The library's one write path (SPEC §1): the CLI, the HTTP API, the importer and any TypeScript caller
 * change entries only through Library, and every change is recorded for sync in the same transaction
 * that makes it: version + 1, a fresh hybrid-clock stamp, this instance as origin, sync_status 'pending'.
 * Nothing ever scans the file system to find changes.
 *
 * Content reaches the blob store BEFORE the transaction that references it, so a committed row never
 * points at a missing blob. The CLI and the daemon may write the same data directory at once; that is why
 * mutations use IMMEDIATE transactions (read-modify-write under SQLite's write lock) and why the clock is
 * re-read from the database inside each of them (see adoptStoredClock).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import type { Statement, Transaction } from "better-sqlite3";
import pLimit from "p-limit";
import { monotonicFactory, ulid } from "ulidx";
import { EntryNotFoundError, errorMessage, IntegrityError, SyncdError, UsageError } from "../errors.js";
import { type Entry, type Meta, validateName } from "../model/entry.js";
import { type ClockWarning, describeDrift, HybridClock } from "../sync/hlc.js";
import { type BlobInfo, BlobStore } from "./blob-store.js";
import { type Db, openLibraryDb } from "./db.js";
import { DiskError, localDiskError, type DiskProblem } from "./disk-errors.js";
import { type EntryRow, metaToJson, rowToEntry } from "./entry-row.js";
import { listFiles } from "./walk.js";

export { type EntryRow, rowToEntry, toState } from "./entry-row.js";

export interface LibraryOptions {
  instanceName: string;
  /** Wall clock in ms; injectable so tests can make it stutter or go back. */
  now?: () => number;
  /** A received clock stamp was too far ahead (see HybridClock.receive); default: one line on stderr. */
  onClockWarning?: (warning: ClockWarning) => void;
}

/**
 * A file path (streamed into the store), bytes, or a one-shot stream (an HTTP upload body). A stream
 * cannot be read twice: if its blob vanishes before the commit (see withBlobs), the write fails with
 * "try again" instead of being retried.
 */
export type ContentSource = string | Buffer | Readable;

export interface MetaPatch {
  set?: Meta;
  unset?: string[];
}

/** What Library.update changes; the fields not given stay as they are. */
export interface EntryChange {
  source?: ContentSource;
  name?: string;
  meta?: MetaPatch;
}

export interface ImportProgress {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** The entry name just imported. */
  name: string;
}

/** Rows per import transaction: big enough to amortise commits, small enough not to hold the lock long. */
const IMPORT_BATCH = 500;

/** Changing a tombstone would resurrect it half-way; the message says what to do instead. */
export class EntryDeletedError extends SyncdError {
  constructor(entry: Entry) {
    super("entry-deleted", `Entry ${entry.id} (${JSON.stringify(entry.name)}) is deleted and cannot be changed; restore it first ("syncd restore ${entry.id}").`);
  }
}

/** A restore needs the entry's last content, and neither the local store nor the given source has it. */
export class ContentUnavailableError extends SyncdError {
  constructor(entry: Entry, why: string, options?: { cause?: unknown }) {
    super("content-unavailable", `The content of deleted entry ${entry.id} (${JSON.stringify(entry.name)}) is not available here: ${why}; nothing was restored.`, options);
  }
}

/**
 * Where a restore finds content that the local store released: a stream of the bytes stored under `hash`,
 * or null when the source does not have them (sync/share-content.ts: the share's data file).
 */
export type ContentFetcher = (hash: string) => Promise<Readable | null>;

/** A blob vanished between writing it and referencing it (another process released it): write it again. */
class BlobVanished extends SyncdError {
  constructor() {
    super("blob-vanished", "Content written to the local store kept disappearing before it could be recorded; try again.");
  }
}

/** Content writes in flight during an import or a multi-file change. */
const BLOB_WRITE_CONCURRENCY = 8;

/**
 * Opens the library in `dataDir`, creating it if needed. A data directory that cannot be written (read-only,
 * not this user's, or on a full disk) opens for reading only (db.ts openLibraryDb): reading works, and every
 * write fails with a sentence that says why (Library.readOnly).
 */
export async function openLibrary(dataDir: string, opts: LibraryOptions): Promise<Library> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const opened = openLibraryDb(join(dir, "library.db"));
  try {
    return new Library(opened.db, dir, opts, opened);
  } catch (err) {
    opened.close();
    throw err;
  }
}

type Changes = Partial<Pick<Entry, "name" | "hash" | "size" | "meta" | "deleted">>;

/** A key both set and unset, or a value that is not valid metadata: refused before anything is written. */
function checkMetaPatch(patch: MetaPatch): void {
  const both = (patch.unset ?? []).find((key) => patch.set && Object.hasOwn(patch.set, key));
  if (both !== undefined) throw new UsageError(`Metadata key ${JSON.stringify(both)} is both set and unset; choose one.`);
  if (patch.set !== undefined) metaToJson(patch.set);
}

/** `current` with `patch` applied, or null when that changes nothing. */
function patchedMeta(current: Meta, patch: MetaPatch): Meta | null {
  const meta: Meta = { ...current, ...patch.set };
  for (const key of patch.unset ?? []) delete meta[key];
  return metaToJson(meta) === metaToJson(current) ? null : meta;
}

export class Library {
  readonly blobs: BlobStore;
  readonly instanceId: string;
  readonly instanceName: string;
  private readonly now: () => number;
  private readonly newId = monotonicFactory();
  private readonly onClockWarning: (warning: ClockWarning) => void;
  private currentClock: HybridClock;
  private readonly sql: Record<
    "byId" | "live" | "counts" | "all" | "insert" | "update" | "pending" | "getState" | "setState" | "hashLive",
    Statement
  >;
  private readonly mutateTx: Transaction<(id: string, change: (e: Entry) => Changes | null) => { before: Entry; after: Entry }>;
  private readonly insertTx: Transaction<(rows: Array<{ name: string; blob: BlobInfo; meta: string }>) => Entry[]>;
  private readonly releaseTx: Transaction<(hash: string) => void>;
  private readonly restoreTx: Transaction<(ids: string[]) => Entry[]>;
  /** Why this library was opened for reading only (see openLibrary), or null: then every write fails with it. */
  readonly readOnly: DiskProblem | null;
  private readonly closeDb: () => void;

  constructor(
    readonly db: Db,
    readonly dataDir: string,
    opts: LibraryOptions,
    access: { readOnly?: DiskProblem | null; close?: () => void } = {},
  ) {
    this.instanceName = opts.instanceName;
    this.now = opts.now ?? Date.now;
    this.onClockWarning = opts.onClockWarning ?? warnOnStderr;
    this.readOnly = access.readOnly ?? null;
    this.closeDb = access.close ?? (() => db.close());
    this.blobs = new BlobStore(dataDir);
    if (!this.readOnly) this.blobs.cleanTemp();
    this.sql = {
      byId: db.prepare("SELECT * FROM entries WHERE id = ?"),
      live: db.prepare("SELECT * FROM entries WHERE deleted = 0 ORDER BY name, id"),
      // Kept by triggers (migrations.ts v5): one row read, however large the library.
      counts: db.prepare("SELECT live, tombstones FROM entry_counts WHERE id = 1"),
      all: db.prepare("SELECT * FROM entries ORDER BY name, id"),
      insert: db.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, created_at, updated_at)
        VALUES (@id, @name, @hash, @size, @meta, 1, 0, @hlc, @origin, 'pending', @now, @now)`),
      update: db.prepare(`UPDATE entries SET name = @name, hash = @hash, size = @size, meta = @meta, version = @version,
        deleted = @deleted, hlc = @hlc, origin = @origin, sync_status = @sync_status, updated_at = @now WHERE id = @id`),
      // Exactly this shape, so SQLite answers from the partial index entries_pending (the O(1) skip check).
      pending: db.prepare("SELECT COUNT(*) AS n FROM entries WHERE sync_status = 'pending'"),
      getState: db.prepare("SELECT value FROM state WHERE key = ?"),
      setState: db.prepare("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
      hashLive: db.prepare("SELECT 1 FROM entries WHERE hash = ? AND deleted = 0 LIMIT 1"),
    };
    // INSERT OR IGNORE then read back: if two processes open a new data directory at once, one id wins.
    // Only when there is none yet: opening a library for reading must not write.
    if (this.getState("instance_id") === null) {
      this.writable();
      db.prepare("INSERT OR IGNORE INTO state (key, value) VALUES ('instance_id', ?)").run(ulid());
    }
    this.instanceId = this.getState("instance_id") as string;
    this.currentClock = this.makeClock(this.getState("hlc"));
    this.mutateTx = db.transaction((id, change) => this.mutateInTx(id, change));
    this.insertTx = db.transaction((rows) => rows.map((row) => this.insertInTx(row.name, row.blob, row.meta)));
    this.restoreTx = db.transaction((ids) => ids.map((id) => this.restoreInTx(id)));
    this.releaseTx = db.transaction((hash) => {
      if (this.sql.hashLive.get(hash) === undefined) this.blobs.remove(hash);
    });
  }

  /**
   * This instance's clock. Read it afresh each time (do not keep the object): when another process has
   * stamped a later change, the library adopts that stamp by replacing the clock.
   */
  get clock(): HybridClock {
    return this.currentClock;
  }

  /**
   * Adds a new entry. A name that a live entry already has is allowed: ids are identity and names are
   * labels (two instances may add the same name before they sync, and both entries must survive).
   */
  async add(input: { source: ContentSource; name: string; meta?: Meta }): Promise<Entry> {
    this.writable();
    const name = validateName(input.name);
    const meta = metaToJson(input.meta === undefined ? {} : input.meta);
    const [entry] = await this.withBlobs([input.source], ([blob]) => this.insertTx.immediate([{ name, blob: blob as BlobInfo, meta }]));
    return entry as Entry;
  }

  /**
   * Changes content, name and/or metadata of a live entry as one change (one version, one stamp). Every field
   * is checked before anything is written (content may be a large copy), so that a bad one changes nothing.
   */
  async update(id: string, change: EntryChange): Promise<Entry> {
    this.writable();
    if (change.name !== undefined) validateName(change.name);
    if (change.meta !== undefined) checkMetaPatch(change.meta);
    this.requireLive(id); // fail before copying what may be a large file
    const apply = (cur: Entry, blob: BlobInfo | null): Changes | null => {
      const out: Changes = {};
      if (blob && blob.hash !== cur.hash) {
        out.hash = blob.hash;
        out.size = blob.size;
      }
      if (change.name !== undefined && change.name !== cur.name) out.name = change.name;
      const meta = change.meta && patchedMeta(cur.meta, change.meta);
      if (meta) out.meta = meta;
      return Object.keys(out).length > 0 ? out : null;
    };
    if (change.source === undefined) return this.mutateTx.immediate(id, (cur) => apply(cur, null)).after;
    const { before, after } = await this.withBlobs([change.source], ([blob]) => this.mutateTx.immediate(id, (cur) => apply(cur, blob as BlobInfo)));
    if (before.hash !== after.hash) this.releaseBlob(before.hash);
    return after;
  }

  async updateContent(id: string, source: ContentSource): Promise<Entry> {
    return this.update(id, { source });
  }

  updateMeta(id: string, patch: MetaPatch): Entry {
    this.writable();
    checkMetaPatch(patch);
    return this.mutateTx.immediate(id, (cur) => {
      const meta = patchedMeta(cur.meta, patch);
      return meta ? { meta } : null;
    }).after;
  }

  rename(id: string, name: string): Entry {
    this.writable();
    validateName(name);
    return this.mutateTx.immediate(id, (cur) => (cur.name === name ? null : { name })).after;
  }

  /** Deletes as a tombstone (deleted = 1, kept for sync); the bytes go once no live entry uses them. */
  remove(id: string): Entry {
    this.writable();
    const { before, after } = this.mutateTx.immediate(id, () => ({ deleted: true }));
    this.releaseBlob(before.hash);
    return after;
  }

  /**
   * Brings deleted entries back with their last name, content and metadata, as a new change (version + 1, a
   * fresh stamp, pending) that syncs like any other; an entry that is not deleted is left as it is. All or
   * nothing: every id is looked up and every content made available before the one transaction.
   *
   * A deletion releases the bytes from the local store (unless a live entry shares them), and a live row must
   * never point at missing bytes. So content that is gone here is fetched now from `fetch` (the share, whose
   * data file the tombstone keeps referenced until it is purged), verified against the entry's hash and size;
   * without it, the restore fails and says so rather than bring back an entry that has no content.
   */
  async restore(ids: string[], opts: { fetch?: ContentFetcher } = {}): Promise<Entry[]> {
    this.writable();
    const entries = [...new Set(ids)].map((id) => this.require(id));
    for (let attempt = 1; ; attempt++) {
      for (const entry of entries) {
        if (entry.deleted && !this.blobs.has(entry.hash)) await this.fetchContent(entry, opts.fetch);
      }
      try {
        return this.restoreTx.immediate(entries.map((e) => e.id));
      } catch (err) {
        // Another process released a fetched blob before the commit (its own sync): fetch it again.
        if (!(err instanceof BlobVanished) || attempt >= 3) throw err;
      }
    }
  }

  /** Adds every regular file under `dir` (see listFiles), named by its path relative to `dir`. */
  async importDir(dir: string, opts: { onProgress?: (p: ImportProgress) => void } = {}): Promise<Entry[]> {
    this.writable();
    const files = await listFiles(dir, { skipDirs: [this.dataDir] });
    // Every name is checked before anything is written: an import is all-or-nothing about names.
    for (const file of files) validateName(file.name);
    const meta = metaToJson({});
    const progress = { done: 0, total: files.length, bytesDone: 0, bytesTotal: files.reduce((n, f) => n + f.size, 0) };
    const added: Entry[] = [];
    for (let start = 0; start < files.length; start += IMPORT_BATCH) {
      const batch = files.slice(start, start + IMPORT_BATCH);
      const entries = await this.withBlobs(
        batch.map((f) => f.path),
        (blobs) => this.insertTx.immediate(batch.map((f, i) => ({ name: f.name, blob: blobs[i] as BlobInfo, meta }))),
        (i, blob) => {
          progress.done += 1;
          progress.bytesDone += blob.size;
          opts.onProgress?.({ ...progress, name: (batch[i] as { name: string }).name });
        },
      );
      added.push(...entries);
    }
    return added;
  }

  get(id: string): Entry | null {
    const row = this.sql.byId.get(id) as EntryRow | undefined;
    return row ? rowToEntry(row) : null;
  }

  require(id: string): Entry {
    const entry = this.get(id);
    if (!entry) throw new EntryNotFoundError(id);
    return entry;
  }

  list(opts: { includeDeleted?: boolean } = {}): Entry[] {
    return ((opts.includeDeleted ? this.sql.all : this.sql.live).all() as EntryRow[]).map(rowToEntry);
  }

  pendingCount(): number {
    return (this.sql.pending.get() as { n: number }).n;
  }

  /**
   * Entries that are not tombstones (the deletion guard's denominator): what
   * `SELECT COUNT(*) FROM entries WHERE deleted = 0` would count, read in O(1) from the count the
   * triggers keep (migrations.ts v5) in every writer's own transaction.
   */
  liveCount(): number {
    return this.counts().live;
  }

  /** Live entries and tombstones, as liveCount reads them (O(1)). */
  counts(): { live: number; tombstones: number } {
    return this.sql.counts.get() as { live: number; tombstones: number };
  }

  getState(key: string): string | null {
    return (this.sql.getState.get(key) as { value: string } | undefined)?.value ?? null;
  }

  setState(key: string, value: string): void {
    this.writable();
    this.sql.setState.run(key, value);
  }

  /** Persists the clock after the sync engine fed it remote stamps (receive), never moving the stored one back. */
  persistClock(): void {
    this.writable();
    this.db.transaction(() => {
      this.adoptStoredClock();
      this.sql.setState.run("hlc", this.currentClock.current());
    }).immediate();
  }

  /**
   * For modules that extend the one write path (store/resolve.ts): runs `fn` in one IMMEDIATE transaction
   * with the write path's own primitives, a fresh clock stamp (persisted with the transaction) and the
   * insertion of a new entry (version 1, pending) whose content is already in the local store.
   */
  writeTransaction<T>(fn: (w: { stamp(): { hlc: string; now: number }; insert(name: string, blob: BlobInfo, meta: Meta): Entry }) => T): T {
    this.writable();
    const w = {
      stamp: () => this.stamp(),
      insert: (name: string, blob: BlobInfo, meta: Meta) => this.insertInTx(validateName(name), blob, metaToJson(meta)),
    };
    return this.db.transaction(() => fn(w)).immediate();
  }

  /** Drops a blob from the local store unless a live entry still uses it. */
  releaseBlob(hash: string): void {
    this.writable();
    // Under the write lock, so that it cannot interleave with another process's "blob exists?" check in
    // mutateInTx/insertInTx: either that check sees the blob gone (and rewrites it) or we see its row.
    this.releaseTx.immediate(hash);
  }

  close(): void {
    if (this.db.open) this.closeDb();
  }

  /** Throws the sentence that says why, when this library was opened for reading only. */
  private writable(): void {
    if (this.readOnly) throw new DiskError(this.readOnly, `the data directory ${this.dataDir}`, "");
  }

  private async fetchContent(entry: Entry, fetch: ContentFetcher | undefined): Promise<void> {
    const released = "the local store released it when the entry was deleted";
    if (!fetch) throw new ContentUnavailableError(entry, `${released}, and this restore has no share to fetch it from ("syncd restore ${entry.id}" fetches it from the share)`);
    let stream: Readable | null;
    try {
      stream = await fetch(entry.hash);
    } catch (err) {
      throw new ContentUnavailableError(entry, `${released}, and fetching it from the share failed (${errorMessage(err).replace(/\.$/, "")})`, { cause: err });
    }
    if (!stream) throw new ContentUnavailableError(entry, `${released}, and the share does not have it either`);
    try {
      await this.blobs.writeFromStream(stream, entry.hash, entry.size);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      throw new ContentUnavailableError(entry, `${released}, and the share's copy is damaged (it does not match the entry's hash and size)`, { cause: err });
    }
  }

  /** The restore's write: deleted = 0 as a new change, only with the bytes in the store. */
  private restoreInTx(id: string): Entry {
    const before = this.require(id);
    if (!before.deleted) return before; // not deleted (or restored meanwhile): nothing to do
    if (!this.blobs.has(before.hash)) throw new BlobVanished();
    const { hlc, now } = this.stamp();
    this.sql.update.run({
      id,
      name: before.name,
      hash: before.hash,
      size: before.size,
      meta: metaToJson(before.meta),
      version: before.version + 1,
      deleted: 0,
      hlc,
      origin: this.instanceId,
      sync_status: before.syncStatus === "conflict" ? "conflict" : "pending",
      now,
    });
    return this.require(id);
  }

  private requireLive(id: string): Entry {
    const entry = this.require(id);
    if (entry.deleted) throw new EntryDeletedError(entry);
    return entry;
  }

  private mutateInTx(id: string, change: (e: Entry) => Changes | null): { before: Entry; after: Entry } {
    const before = this.requireLive(id);
    const changes = change(before);
    if (changes === null) return { before, after: before }; // a no-op is not a change: nothing to sync
    if (changes.hash !== undefined && changes.hash !== before.hash && !this.blobs.has(changes.hash)) throw new BlobVanished();
    const { hlc, now } = this.stamp();
    const next = { ...before, ...changes };
    this.sql.update.run({
      id,
      name: next.name,
      hash: next.hash,
      size: next.size,
      meta: metaToJson(next.meta),
      version: before.version + 1,
      deleted: next.deleted ? 1 : 0,
      hlc,
      origin: this.instanceId,
      // A held conflict stays held until it is resolved; the edit is part of the local side.
      sync_status: before.syncStatus === "conflict" ? "conflict" : "pending",
      now,
    });
    return { before, after: this.require(id) };
  }

  private insertInTx(name: string, blob: BlobInfo, meta: string): Entry {
    if (!this.blobs.has(blob.hash)) throw new BlobVanished();
    const id = this.newId();
    const { hlc, now } = this.stamp();
    this.sql.insert.run({ id, name, hash: blob.hash, size: blob.size, meta, hlc, origin: this.instanceId, now });
    return this.require(id);
  }

  /** A fresh clock stamp, persisted in the caller's transaction. */
  private stamp(): { hlc: string; now: number } {
    this.adoptStoredClock();
    const hlc = this.currentClock.tick();
    this.sql.setState.run("hlc", hlc);
    return { hlc, now: this.now() };
  }

  /**
   * Another process on this data directory (CLI beside the daemon) may have stamped later than our
   * in-memory clock. Adopt its stamp as our own last one, without receive()'s drift clamp: it is our
   * own instance's stamp, and clamping it would move the clock back when the wall clock went back.
   */
  private adoptStoredClock(): void {
    const stored = this.getState("hlc");
    if (stored !== null && stored > this.currentClock.current()) this.currentClock = this.makeClock(stored);
  }

  private makeClock(last: string | null): HybridClock {
    return new HybridClock(this.instanceId, last, this.now, undefined, this.onClockWarning);
  }

  private async writeContent(source: ContentSource): Promise<BlobInfo> {
    if (Buffer.isBuffer(source)) return this.blobs.writeBuffer(source);
    if (typeof source === "string") return this.blobs.writeFromFile(source);
    if (source instanceof Readable) return this.blobs.writeFromStream(source);
    throw new UsageError("Content must be a file path, a Buffer or a stream.");
  }

  /** Best effort, after a write that failed: blobs it stored that no live entry uses are not kept. */
  private discard(blobs: Array<BlobInfo | undefined>): void {
    for (const blob of blobs) {
      try {
        if (blob) this.releaseTx.immediate(blob.hash);
      } catch {
        // Left for no one: the space it takes is all that is lost.
      }
    }
  }

  /** Writes the blobs, then runs `commit`; rewrites any blob that another process released meanwhile. */
  private async withBlobs<T>(
    sources: ContentSource[],
    commit: (blobs: BlobInfo[]) => T,
    onWritten?: (index: number, blob: BlobInfo) => void,
  ): Promise<T> {
    // A few writes in flight at once: each ends with two fsyncs, whose latency then overlaps.
    const blobs: BlobInfo[] = new Array<BlobInfo>(sources.length);
    const limit = pLimit(BLOB_WRITE_CONCURRENCY);
    let failing = false;
    const written = await Promise.allSettled(
      sources.map((source, i) =>
        limit(async () => {
          if (failing) return; // one failed: the rest would only be discarded
          try {
            blobs[i] = await this.writeContent(source);
          } catch (err) {
            failing = true;
            throw err;
          }
          onWritten?.(i, blobs[i] as BlobInfo);
        }),
      ),
    );
    const failed = written.find((r) => r.status === "rejected");
    if (failed) {
      // A full disk fails an import part-way: what it did write would stay behind, taking the space it lacks.
      this.discard(blobs);
      throw localDiskError(failed.reason, this.dataDir) ?? failed.reason;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return commit(blobs);
      } catch (err) {
        if (!(err instanceof BlobVanished) || attempt >= 3 || sources.some((s) => s instanceof Readable)) {
          this.discard(blobs);
          throw localDiskError(err, this.dataDir) ?? err; // SQLite's "database or disk is full", in a sentence
        }
        for (const [i, source] of sources.entries()) {
          if (!this.blobs.has((blobs[i] as BlobInfo).hash)) blobs[i] = await this.writeContent(source);
        }
      }
    }
  }
}

function warnOnStderr(w: ClockWarning): void {
  process.stderr.write(`syncd: ${describeDrift(w)}\n`);
}
