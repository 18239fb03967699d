/**
 * The share's `metadata.db`: the source of truth that every instance downloads, merges into and publishes.
 * It is a plain rollback-journal SQLite file (never WAL: a WAL file's bytes alone do not open, FIELD-NOTES),
 * marked with our application id and schema version so that a foreign or newer file is refused, not used.
 * Every row read from it is validated: the share is written by other machines and is hostile until checked.
 */
import Database from "better-sqlite3";
import { ShareError } from "../errors.js";
import {
  applyChanges,
  capturedChanges,
  ensureOptionalTable,
  installTriggers,
  liveCount,
  LOCAL_TABLE,
  OPTIONAL_TABLES,
  REPLICATED,
  resetCapture,
  rowCount,
  type RowChange,
} from "./replication.js";
import { isValidHash, nameProblem, type EntryState, type Meta } from "../model/entry.js";
import { parseHlc } from "../sync/hlc.js";

/** 'SYND' as a big-endian int: PRAGMA application_id of every metadata.db we write. */
export const SHARED_APPLICATION_ID = 0x53594e44;
/**
 * 2: share format 2 (docs/share-format.md): the file is the snapshot that journal segments build on. A
 * syncd that knows only format 1 refuses it for this number, before it writes anything (SPEC §3).
 */
export const SHARED_SCHEMA_VERSION = 2;

const SCHEMA = `
  CREATE TABLE share (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE entries (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    hash    TEXT NOT NULL,
    size    INTEGER NOT NULL,
    meta    TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    hlc     TEXT NOT NULL,
    origin  TEXT NOT NULL,
    -- The share version that last wrote this row: "what changed since version N" is an index range.
    rev     INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX entries_rev ON entries(rev);
  CREATE INDEX entries_hash ON entries(hash);
`;

/**
 * Indexes that keep an ordinary commit O(change) (issue 13): the tombstone purge finds only tombstones, the
 * commit-log trim and the version-time marks find their oldest rows by version. Created on open, so that a
 * format-1 file gains them in the working copy.
 */
const HOT_PATH_INDEXES = `
  CREATE INDEX IF NOT EXISTS entries_tombstones ON entries(rev) WHERE deleted = 1;
  CREATE INDEX IF NOT EXISTS commits_version ON commits(version);
  CREATE INDEX IF NOT EXISTS garbage_server_at ON garbage(server_at);
`;

/** Tombstones purged by one commit at most: the rest go with the next ones (keeping a tombstone longer is always safe). */
export const PURGE_BATCH = 10_000;

/**
 * The commit log: which run wrote which share version. A run that died after publishing but before its
 * local commit looks its commit id up here to learn that its publish landed (engine.ts, publish journal).
 * Created on demand, so a share written before the table existed gains it with its next commit; readers
 * that do not know it ignore it (SPEC §3: readers ignore what they do not know).
 */
const COMMITS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS commits (
    id       TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    instance TEXT NOT NULL,
    at       INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

/** Rows of the commit log that can be trusted to mean what they say (the log is written by other machines). */
const WELL_FORMED_COMMIT = "typeof(version) = 'integer' AND typeof(id) = 'text'";

/**
 * The tables every reader relies on; the others (commits, version_times, wanted_data, garbage) are checked
 * only when present. A file without them, or whose columns are not those a segment writes (replication.ts
 * REPLICATED, the one list of each table's columns), is damaged, and is refused before any query can fail
 * halfway through a run.
 */
const REQUIRED_TABLES = new Set(["share", "instances", "entries"]);

/** What is wrong with the schema of a metadata.db, or null when every table a reader needs is there. */
function schemaProblem(db: Database.Database): string | null {
  for (const [table, { columns }] of Object.entries(REPLICATED)) {
    const info = db.pragma(`table_info(${table})`) as Array<{ name: string; pk: number }>;
    if (info.length === 0) {
      if (!REQUIRED_TABLES.has(table)) continue;
      return `it has no ${table} table`;
    }
    const have = new Set(info.map((c) => c.name));
    const missing = columns.filter((c) => !have.has(c));
    if (missing.length > 0) return `its ${table} table lacks ${missing.join(", ")}`;
    // Writers upsert by the first column: without it as the key, a commit would fail halfway.
    const key = info.filter((c) => c.pk > 0).map((c) => c.name);
    if (key.length !== 1 || key[0] !== columns[0]) return `its ${table} table is not keyed by ${columns[0]}`;
  }
  return null;
}

/** Commits kept in the log: far more than any instance can fall behind between a crash and its next run. */
export const COMMITS_KEPT = 10_000;

/**
 * The share server's clock at (about) each version: when a version was committed, by the one clock no
 * instance's settings can skew. A tombstone is purged only when the server's clock, too, says that its
 * version is older than the retention window (SPEC §3: no deletion decided on one wall clock alone).
 * Thinned to about two rows per `markEveryMs` (the engine: a 24th of the retention window, at most an
 * hour), so the table stays small; a version without a row is bounded by the next row's time, which only
 * delays its purge, by less than that step. Created on demand; older readers ignore it.
 */
const VERSION_TIMES_SCHEMA = `
  CREATE TABLE IF NOT EXISTS version_times (
    version   INTEGER PRIMARY KEY,
    server_at INTEGER NOT NULL
  );
`;

/**
 * The share key that records up to which share version tombstones may have been purged: an instance that
 * synced before it must reconcile in full (it may have missed a deletion whose tombstone is gone), and a
 * synced row missing from the share is read as a purged deletion only below it (share-history.ts).
 */
const PURGED_THROUGH_KEY = "purged_through_rev";

export interface PurgeLimits {
  /** Tombstones stamped (HLC) before this are old by this machine's clock. */
  cutoffStamp: string;
  /** The newest version old by the server's clock (purgeableThrough). */
  through: number;
}

interface RawRow {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: string;
  version: number;
  deleted: number;
  hlc: string;
  origin: string;
}

/** The columns of RawRow, in the order of RawRowArray. */
const ROW_COLUMNS = "id, name, hash, size, meta, version, deleted, hlc, origin";
type RawRowArray = [string, string, string, number, string, number, number, string, string];

export interface SharedRow {
  id: string;
  state: EntryState;
}

export class SharedDb {
  private constructor(
    private readonly db: Database.Database,
    readonly shareId: string,
    private currentVersion: number,
  ) {
    prepareCopy(db);
  }

  /** A new, empty share (version 0) in `file`. */
  static create(file: string, shareId: string): SharedDb {
    const db = new Database(file);
    db.pragma("journal_mode = DELETE");
    db.pragma(`application_id = ${SHARED_APPLICATION_ID}`);
    db.pragma(`user_version = ${SHARED_SCHEMA_VERSION}`);
    db.exec(SCHEMA);
    db.exec(COMMITS_SCHEMA);
    db.exec(VERSION_TIMES_SCHEMA);
    db.exec(OPTIONAL_TABLES.garbage!);
    const put = db.prepare("INSERT INTO share (key, value) VALUES (?, ?)");
    db.transaction(() => {
      put.run("share_id", shareId);
      put.run("version", "0");
      put.run("created_at", String(Date.now()));
      put.run(PURGED_THROUGH_KEY, "0");
    })();
    return new SharedDb(db, shareId, 0);
  }

  /**
   * Opens a downloaded metadata.db and checks that it is ours, intact and of a schema we understand.
   * `location` names the remote file in error messages.
   */
  static open(file: string, location: string, options: { trusted?: boolean } = {}): SharedDb {
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: true });
    } catch (err) {
      throw new ShareError("metadata-corrupt", `${location} is not a SQLite database (${(err as Error).message}).`, { cause: err });
    }
    try {
      const appId = readPragma(db, "application_id", location);
      if (appId !== SHARED_APPLICATION_ID) {
        throw new ShareError(
          "metadata-foreign",
          `${location} is a SQLite database but not a syncd share (application id ${appId}); point webdav.root at a folder of its own.`,
        );
      }
      const schema = readPragma(db, "user_version", location);
      if (schema > SHARED_SCHEMA_VERSION) {
        throw new ShareError(
          "metadata-too-new",
          `${location} has share schema ${schema}, newer than this syncd understands (${SHARED_SCHEMA_VERSION}); upgrade syncd on this machine.`,
        );
      }
      // This instance's own replica is trusted like its library: checking a million rows on every run would
      // be the very cost format 2 removes. A download is always checked.
      const check = options.trusted ? "ok" : db.pragma("quick_check", { simple: true });
      if (check !== "ok") {
        throw new ShareError("metadata-corrupt", `${location} failed SQLite's integrity check (${String(check)}).`);
      }
      if (db.pragma("journal_mode", { simple: true }) === "wal") db.pragma("journal_mode = DELETE");
      const broken = schemaProblem(db);
      if (broken) throw new ShareError("metadata-corrupt", `${location} is damaged or not a syncd share: ${broken}.`);
      const info = new Map(
        (db.prepare("SELECT key, value FROM share").all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]),
      );
      const shareId = info.get("share_id");
      const version = Number(info.get("version"));
      if (!shareId || !Number.isSafeInteger(version) || version < 0) {
        throw new ShareError("metadata-corrupt", `${location} has no valid share id or version.`);
      }
      // A file from the share may carry SQL of its own that would run on our writes: none is kept.
      const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all() as string[];
      for (const name of triggers) db.exec(`DROP TRIGGER "${name.replaceAll('"', '""')}"`);
      db.exec(COMMITS_SCHEMA);
      db.exec(VERSION_TIMES_SCHEMA);
      db.exec(OPTIONAL_TABLES.garbage!);
      // This copy is written in the current format from now on (a format-1 share is upgraded by its publish).
      if (schema < SHARED_SCHEMA_VERSION) db.pragma(`user_version = ${SHARED_SCHEMA_VERSION}`);
      return new SharedDb(db, shareId, version);
    } catch (err) {
      db.close();
      if (err instanceof ShareError) throw err;
      throw new ShareError("metadata-corrupt", `${location} is damaged or not a syncd share (${(err as Error).message}).`, { cause: err });
    }
  }

  get version(): number {
    return this.currentVersion;
  }

  get file(): string {
    return this.db.name;
  }

  /**
   * Rows written by share versions after `rev` (all rows for rev < 0). Fetched as arrays (raw mode) and
   * turned into plain objects here: on a full reconciliation of 100,000 rows, objects built by SQLite's
   * binding cost about twice as much.
   */
  changedSince(rev: number): SharedRow[] {
    const rows = this.stmt("changedSince", `SELECT ${ROW_COLUMNS} FROM entries WHERE rev > ?`).raw(true).all(rev) as RawRowArray[];
    return rows.map((r) => toSharedRow({ id: r[0], name: r[1], hash: r[2], size: r[3], meta: r[4], version: r[5], deleted: r[6], hlc: r[7], origin: r[8] }));
  }

  allIds(): string[] {
    return this.db.prepare("SELECT id FROM entries").pluck().all() as string[];
  }

  get(id: string): EntryState | null {
    const row = this.stmt("get", "SELECT * FROM entries WHERE id = ?").get(id) as RawRow | undefined;
    return row ? toSharedRow(row).state : null;
  }

  /** The share version that last wrote this row, or null when there is no such row. */
  revOf(id: string): number | null {
    return (this.stmt("revOf", "SELECT rev FROM entries WHERE id = ?").pluck().get(id) as number | undefined) ?? null;
  }

  /**
   * The share already holds the data file of this hash: a live entry refers to it, and live rows are only ever
   * published after their content was uploaded and verified. A tombstone proves nothing: an entry created and
   * deleted before it first synced publishes a tombstone naming content that never reached the share (or
   * only in part, when its upload was killed on a server that writes in place).
   */
  hasData(hash: string): boolean {
    return this.stmt("hasData", "SELECT 1 FROM entries WHERE hash = ? AND deleted = 0 LIMIT 1").get(hash) !== undefined;
  }

  /**
   * Whether the data folder `dir` (`<aa>`) exists on the share: a live entry refers to a file in it (see
   * hasData), and syncd never deletes a data folder.
   */
  hasDataIn(dir: string): boolean {
    // Hashes are lower-case hex: every one in the folder lies between "ab" and "abg".
    const row = this.stmt("hasDataIn", "SELECT 1 FROM entries WHERE hash >= ? AND hash < ? AND deleted = 0 LIMIT 1").get(dir, `${dir}g`);
    return row !== undefined;
  }

  /** The same estimate as dataFileCount for one data folder (`<aa>`): a range of the hash index, O(folder). */
  dataFilesIn(dir: string): number {
    return this.stmt("dataFilesIn", "SELECT COUNT(*) FROM entries WHERE hash >= ? AND hash < ?").pluck().get(dir, `${dir}g`) as number;
  }

  /**
   * About how many data files the share holds, erring high: its rows, tombstones' included (their files stay
   * until orphan collection), a content named by several rows counted for each. An estimate, for choosing
   * how to check uploads (transfer.ts), where erring high costs little; kept by triggers (replication.ts).
   */
  dataFileCount(): number {
    return rowCount(this.db);
  }

  /** Live entries, as kept by triggers (replication.ts): no ordinary run counts the table. */
  liveCount(): number {
    return liveCount(this.db);
  }

  instanceNames(): Map<string, string> {
    const rows = this.db.prepare("SELECT id, name FROM instances").all() as Array<{ id: string; name: string }>;
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /** Whether some row (live or tombstone) references this content. */
  referenced(hash: string): boolean {
    return this.stmt("referenced", "SELECT 1 FROM entries WHERE hash = ? LIMIT 1").get(hash) !== undefined;
  }

  /**
   * Content that no row references any more, from the commits that stopped referencing it (the garbage
   * table: orphan collection works from what the journal says was replaced, never by listing every data
   * folder). Only hashes unreferenced since `before` (server clock) are due.
   */
  garbageDue(before: number, limit: number): string[] {
    return this.stmt("garbageDue", "SELECT hash FROM garbage WHERE server_at <= ? ORDER BY server_at LIMIT ?").pluck().all(before, limit) as string[];
  }

  /** The data file of this hash was deleted (or is needed again): off the garbage list. */
  dropGarbage(hash: string): void {
    this.stmt("dropGarbage", "DELETE FROM garbage WHERE hash = ?").run(hash);
  }

  /** Notes content that the rows just changed or removed referenced and that nothing references now. */
  private noteUnreferenced(hashes: Iterable<string>, serverNow: number): void {
    const note = this.stmt("noteGarbage", "INSERT OR IGNORE INTO garbage (hash, version, server_at) VALUES (?, ?, ?)");
    for (const hash of new Set(hashes)) if (!this.referenced(hash)) note.run(hash, this.currentVersion + 1, Math.floor(serverNow));
  }

  /** All content hashes that some row (live or tombstone) still references (a full scan: syncd check only). */
  referencedHashes(): Set<string> {
    return new Set(this.db.prepare("SELECT DISTINCT hash FROM entries").pluck().all() as string[]);
  }

  /**
   * The newest share version that is older than the retention window by the server's clock (see
   * version_times), or -1 when none is known to be: tombstones written up to it may be purged.
   */
  purgeableThrough(serverNow: number, retentionMs: number): number {
    // Marks are written by other machines: only well-formed ones, for versions this share has reached, count.
    const v = this.db
      .prepare(
        `SELECT MAX(version) FROM version_times WHERE typeof(version) = 'integer' AND typeof(server_at) = 'integer'
           AND version <= ? AND server_at <= ?`,
      )
      .pluck()
      .get(this.currentVersion, serverNow - retentionMs) as number | null;
    return v ?? -1;
  }

  /**
   * Removes tombstones that are older than the retention window by both clocks: stamped (HLC) before the
   * cutoff, and written by a version the server's clock also places before it. Records how far purges
   * reached (purgedThrough). Returns how many were removed.
   */
  purgeTombstones({ cutoffStamp, through }: PurgeLimits, serverNow = Date.now(), limit = PURGE_BATCH): number {
    if (through < 0) return 0;
    // Through the tombstone index, oldest first, at most `limit`: a backlog is purged over several commits.
    const doomed = this.stmt(
      "purgeable",
      "SELECT id, hash, rev FROM entries WHERE deleted = 1 AND rev <= @through AND hlc < @stamp ORDER BY rev LIMIT @limit",
    ).all({ stamp: cutoffStamp, through, limit }) as Array<{ id: string; hash: string; rev: number }>;
    if (doomed.length === 0) return 0;
    const remove = this.stmt("removeRow", "DELETE FROM entries WHERE id = ?");
    let newest = 0;
    for (const row of doomed) {
      remove.run(row.id);
      newest = Math.max(newest, row.rev);
    }
    this.noteUnreferenced(doomed.map((r) => r.hash), serverNow);
    const removed = doomed.length;
    this.setInfo(PURGED_THROUGH_KEY, String(Math.max(this.purgedThrough(), newest)));
    // Older time marks are no longer needed: `through` itself bounds every version before it.
    this.db.prepare("DELETE FROM version_times WHERE version < ?").run(through);
    return removed;
  }

  /**
   * Up to which share version tombstones may have been purged. A share written before this was recorded
   * may have purged anything up to its current version: assumed so.
   */
  purgedThrough(): number {
    const v = Number(this.info(PURGED_THROUGH_KEY) ?? NaN);
    // Never beyond the share's own version: a larger value is garbage, and the safe reading of garbage is
    // "anything so far may have been purged".
    return Number.isSafeInteger(v) && v >= 0 ? Math.min(v, this.currentVersion) : this.currentVersion;
  }

  /** The commit id of a share version, if the log still holds it. */
  commitAt(version: number): string | null {
    return (this.stmt("commitAt", `SELECT id FROM commits WHERE ${WELL_FORMED_COMMIT} AND version = ?`).pluck().get(version) as string | undefined) ?? null;
  }

  /** The oldest version in the commit log, or null when the log is empty. */
  logStart(): number | null {
    return (this.db.prepare(`SELECT MIN(version) FROM commits WHERE ${WELL_FORMED_COMMIT}`).pluck().get() as number | null) ?? null;
  }

  /** The commit log after `version` (all of it for null), oldest first. */
  commitsAfter(version: number | null): Array<{ version: number; id: string }> {
    return this.db
      .prepare(`SELECT version, id FROM commits WHERE ${WELL_FORMED_COMMIT} AND version > ? ORDER BY version`)
      .all(version ?? -1) as Array<{ version: number; id: string }>;
  }

  /** A share-level setting (the `share` table), e.g. when garbage was last collected. */
  info(key: string): string | null {
    return (this.db.prepare("SELECT value FROM share WHERE key = ?").pluck().get(key) as string | undefined) ?? null;
  }

  setInfo(key: string, value: string): void {
    this.db.prepare("INSERT INTO share (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Whether the commit `commitId` (see commit) is part of this share's history. */
  hasCommit(commitId: string): boolean {
    return this.stmt("hasCommit", "SELECT 1 FROM commits WHERE id = ?").get(commitId) !== undefined;
  }

  /**
   * Writes a new share version: the given rows (stamped with it), the instance, the counter, and
   * `commitId` in the commit log.
   */
  commit(rows: SharedRow[], instance: { id: string; name: string }, commitId: string, now = Date.now(), serverClock: { now: number; markEveryMs: number } | null = null): number {
    const next = this.currentVersion + 1;
    const upsert = this.db.prepare(`
      INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, rev)
      VALUES (@id, @name, @hash, @size, @meta, @version, @deleted, @hlc, @origin, @rev)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, size = excluded.size,
        meta = excluded.meta, version = excluded.version, deleted = excluded.deleted, hlc = excluded.hlc,
        origin = excluded.origin, rev = excluded.rev`);
    const hashOf = this.stmt("hashOf", "SELECT hash FROM entries WHERE id = ?").pluck();
    const dropGarbage = this.stmt("dropGarbage", "DELETE FROM garbage WHERE hash = ?");
    this.db.transaction(() => {
      const replaced: string[] = [];
      for (const { id, state } of rows) {
        const before = hashOf.get(id) as string | undefined;
        if (before !== undefined && before !== state.hash) replaced.push(before);
        // Referenced again: whatever orphan collection had planned for this content is off.
        dropGarbage.run(state.hash);
        upsert.run({
          id,
          name: state.name,
          hash: state.hash,
          size: state.size,
          meta: JSON.stringify(state.meta),
          version: state.version,
          deleted: state.deleted ? 1 : 0,
          hlc: state.hlc,
          origin: state.origin,
          rev: next,
        });
      }
      this.noteUnreferenced(replaced, serverClock?.now ?? now);
      this.db
        .prepare("INSERT INTO instances (id, name, last_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen")
        .run(instance.id, instance.name, now);
      this.db.prepare("UPDATE share SET value = ? WHERE key = 'version'").run(String(next));
      this.db.prepare("INSERT OR REPLACE INTO commits (id, version, instance, at) VALUES (?, ?, ?, ?)").run(commitId, next, instance.id, now);
      this.stmt("trimCommits", "DELETE FROM commits WHERE version <= ?").run(next - COMMITS_KEPT);
      // A share from before purges were recorded: anything up to now may have been purged (purgedThrough).
      if (this.info(PURGED_THROUGH_KEY) === null) this.setInfo(PURGED_THROUGH_KEY, String(this.currentVersion));
      if (serverClock) this.markVersionTime(next, serverClock.now, serverClock.markEveryMs);
    })();
    this.currentVersion = next;
    return next;
  }

  /**
   * Records the server's clock at `version`, then thins the marks out: the mark before it is dropped when
   * the one before that is less than `everyMs` older than this one, so that a dropped version is bounded
   * by the next mark to within `everyMs`, and the newest version is always marked.
   */
  private markVersionTime(version: number, serverNow: number, everyMs: number): void {
    this.db.prepare("INSERT OR REPLACE INTO version_times (version, server_at) VALUES (?, ?)").run(version, Math.floor(serverNow));
    const last = this.db.prepare("SELECT version, server_at FROM version_times ORDER BY version DESC LIMIT 3").all() as Array<{ version: number; server_at: number }>;
    const [, middle, oldest] = last;
    // A server clock set back makes the difference negative: the middle mark is then kept (it only delays purges).
    if (middle && oldest && serverNow >= oldest.server_at && serverNow - oldest.server_at < everyMs) {
      this.db.prepare("DELETE FROM version_times WHERE version = ?").run(middle.version);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Data files wanted (repair.ts, check.ts): an instance that finds a data file missing or damaged on the
  // share records its hash here and publishes; an instance holding the right bytes uploads them again and
  // takes the hash off the list in its own publish. Created only when a first hash is recorded, so a share
  // that never needed it does not change; readers that do not know the table ignore it (SPEC §3).

  /** The hashes reported missing or damaged, oldest report first. */
  wantedData(): Array<{ hash: string; reportedAt: number; byInstance: string; problem: string }> {
    const exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wanted_data'").get();
    if (!exists) return [];
    const rows = this.db.prepare("SELECT hash, reported_at, by_instance, problem FROM wanted_data ORDER BY reported_at, hash").all() as Array<{
      hash: string;
      reported_at: number;
      by_instance: string;
      problem: string;
    }>;
    // Written by other machines: a row that is not a hash is nobody's report.
    return rows.filter((r) => isValidHash(r.hash)).map((r) => ({ hash: r.hash, reportedAt: r.reported_at, byInstance: r.by_instance, problem: r.problem }));
  }

  /** Records a report; false when the hash was already reported (the share then needs no new version for it). */
  addWanted(hash: string, byInstance: string, problem: string, now = Date.now()): boolean {
    ensureOptionalTable(this.db, "wanted_data");
    return this.db.prepare("INSERT OR IGNORE INTO wanted_data (hash, reported_at, by_instance, problem) VALUES (?, ?, ?, ?)").run(hash, now, byInstance, problem).changes > 0;
  }

  /** Takes a hash off the list (uploaded again, or no live entry needs it any more); false when it was not on it. */
  settleWanted(hash: string): boolean {
    if (this.wantedData().length === 0) return false;
    return this.db.prepare("DELETE FROM wanted_data WHERE hash = ?").run(hash).changes > 0;
  }

  /** The live entries whose content is this hash (to name them in messages, and to know a file is still needed). */
  liveEntriesWithHash(hash: string): Array<{ id: string; name: string; size: number }> {
    return this.stmt("liveWithHash", "SELECT id, name, size FROM entries WHERE hash = ? AND deleted = 0 ORDER BY name, id").all(hash) as Array<{
      id: string;
      name: string;
      size: number;
    }>;
  }

  // ---------------------------------------------------------------------------------------------------------

  // ---------------------------------------------------------------------------------------------------------
  // Format 2 (docs/share-format.md): a run's changes stay pending in one transaction until the share holds
  // them; the segment is read from what the triggers noted; segments from the share are applied in order.

  /** Starts the run's changes: everything written from here is one commit's, undone unless committed. */
  beginPending(): void {
    if (this.db.inTransaction) return;
    resetCapture(this.db);
    this.db.exec("BEGIN");
  }

  /** The rows changed since beginPending, as a segment carries them. */
  pendingChanges(): Iterable<RowChange> {
    return capturedChanges(this.db);
  }

  /** The share holds the run's changes (or the run published nothing): they are part of this copy now. */
  commitPending(): void {
    if (this.db.inTransaction) this.db.exec("COMMIT");
    resetCapture(this.db);
  }

  /** The run did not publish: its changes are undone, the copy is the share's state it started from. */
  rollbackPending(): void {
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
    this.currentVersion = Number(this.info("version"));
  }

  /**
   * Applies a verified segment as share version `version`: `feed` hands its changes over in batches (it
   * streams them from the segment file), all in one transaction, undone if anything fails.
   */
  async applySegment(version: number, head: string, location: string, feed: (apply: (changes: RowChange[]) => void) => Promise<void>): Promise<void> {
    this.db.exec("BEGIN");
    try {
      await feed((changes) => {
        const problem = applyChanges(this.db, changes);
        if (problem) throw new ShareError("journal-damaged", `The journal segment ${location} cannot be applied: ${problem}.`);
      });
      this.db.prepare("UPDATE share SET value = ? WHERE key = 'version'").run(String(version));
      this.setLocal("head", head);
      this.db.exec("COMMIT");
    } catch (err) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
    this.currentVersion = version;
  }

  /** The head (share-format.md) of the share state this copy holds, or null when not recorded. */
  get head(): string | null {
    return (this.db.prepare(`SELECT value FROM ${LOCAL_TABLE} WHERE key = 'head'`).pluck().get() as string | undefined) ?? null;
  }

  setHead(head: string): void {
    this.setLocal("head", head);
  }

  private setLocal(key: string, value: string): void {
    this.db.prepare(`INSERT OR REPLACE INTO ${LOCAL_TABLE} (key, value) VALUES (?, ?)`).run(key, value);
  }

  /**
   * Writes this copy as a snapshot file for the share: compact (VACUUM INTO), without this instance's own
   * bookkeeping, noting the head it ends at when that is a segment (`journalHead`), so that readers who
   * start from it know which segment comes next.
   */
  writeSnapshot(file: string, journalHead: string | null): void {
    this.db.prepare("VACUUM INTO ?").run(file);
    const copy = new Database(file);
    try {
      copy.exec(`DROP TABLE IF EXISTS ${LOCAL_TABLE}`);
      if (journalHead) copy.prepare("INSERT OR REPLACE INTO share (key, value) VALUES ('journal_head', ?)").run(journalHead);
      else copy.prepare("DELETE FROM share WHERE key = 'journal_head'").run();
      copy.pragma("journal_mode = DELETE");
    } finally {
      copy.close();
    }
  }

  /** Closes the database, undoing changes that were never published. */
  close(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
    this.db.close();
  }

  private readonly statements = new Map<string, Database.Statement>();
  private stmt(key: string, sql: string): Database.Statement {
    let s = this.statements.get(key);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(key, s);
    }
    return s;
  }
}

/** What every open copy needs: the hot-path indexes and this connection's triggers (replication.ts). */
function prepareCopy(db: Database.Database): void {
  db.exec(HOT_PATH_INDEXES);
  installTriggers(db);
}

function readPragma(db: Database.Database, name: string, location: string): number {
  try {
    return db.pragma(name, { simple: true }) as number;
  } catch (err) {
    throw new ShareError("metadata-corrupt", `${location} is not a readable SQLite database (${(err as Error).message}).`, { cause: err });
  }
}

/** Validates a row from the share; anything malformed stops the run before it can touch either side. */
function toSharedRow(row: RawRow): SharedRow {
  const where = `entry ${JSON.stringify(String(row.id).slice(0, 80))} in the share's metadata.db`;
  if (typeof row.id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(row.id)) {
    throw new ShareError("hostile-entry", `Refusing ${where}: its id is not a valid entry id.`);
  }
  const problem = nameProblem(row.name);
  if (problem) throw new ShareError("hostile-entry", `Refusing ${where}: its name is unsafe (${problem}).`);
  if (!isValidHash(row.hash)) throw new ShareError("hostile-entry", `Refusing ${where}: its hash is not a SHA-256.`);
  if (!Number.isSafeInteger(row.size) || row.size < 0) throw new ShareError("hostile-entry", `Refusing ${where}: its size is invalid.`);
  if (!Number.isSafeInteger(row.version) || row.version < 0) throw new ShareError("hostile-entry", `Refusing ${where}: its version is invalid.`);
  if (typeof row.hlc !== "string" || !parseHlc(row.hlc)) throw new ShareError("hostile-entry", `Refusing ${where}: its clock stamp is invalid.`);
  // A flag other than 0 or 1 must not be read as "live": that would bring a tombstone back.
  if (row.deleted !== 0 && row.deleted !== 1) throw new ShareError("hostile-entry", `Refusing ${where}: its deleted flag is neither 0 nor 1.`);
  if (typeof row.origin !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(row.origin)) {
    throw new ShareError("hostile-entry", `Refusing ${where}: its origin is not a valid instance id.`);
  }
  let meta: unknown;
  try {
    meta = JSON.parse(row.meta);
  } catch {
    meta = undefined;
  }
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    throw new ShareError("hostile-entry", `Refusing ${where}: its metadata is not a JSON object.`);
  }
  return {
    id: row.id,
    state: {
      name: row.name,
      hash: row.hash,
      size: row.size,
      meta: meta as Meta,
      deleted: row.deleted === 1,
      version: row.version,
      hlc: row.hlc,
      origin: row.origin,
    },
  };
}
