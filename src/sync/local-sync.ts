/**
 * The sync engine's side of the local library: reading rows with their base, and applying a run's results.
 * User-facing writes go through Library (the one write path); this module only records what a sync
 * decided, guarded so that a local edit made while the run was in flight is never overwritten.
 */
import type { Db } from "../store/db.js";
import type { EntryState, SyncStatus } from "../model/entry.js";
import { parseMeta } from "../store/entry-row.js";
import type { ConflictRecord } from "./plan.js";

/**
 * Tombstones one purge drops at most (LocalSyncView.purgeTombstones): a bound on what a run that changes
 * one row spends on them (a full batch: about 0.1 s at 1M entries, bench/local-hot-path.mjs), and still a
 * thousand a run to catch up after a mass deletion leaves the window.
 */
export const PURGE_BATCH = 1000;

export interface LocalSyncRow {
  id: string;
  state: EntryState;
  base: EntryState | null;
  status: SyncStatus;
  /** The share version at which the row was last synced (null: never synced here). */
  syncedRev: number | null;
}

/**
 * The columns a sync reads, fetched as arrays (better-sqlite3's raw mode): a full reconciliation reads every
 * row, and building one object per row in SQLite's binding, then an Entry, then a state, cost about twice
 * as much as this (100,000 rows: 1.2–1.8 s before).
 */
const SYNC_COLUMNS = "id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, base, synced_rev";
type RawSyncRow = [string, string, string, number, string, number, number, string, string, SyncStatus, string | null, number | null];

function toRow(raw: RawSyncRow): LocalSyncRow {
  const [id, name, hash, size, metaJson, version, deleted, hlc, origin, status, base, syncedRev] = raw;
  return {
    id,
    // The same fields in the same order as toState (store/entry-row.ts).
    state: { name, hash, size, meta: parseMeta(id, metaJson), deleted: deleted === 1, version, hlc, origin },
    base: base ? (JSON.parse(base) as EntryState) : null,
    status,
    syncedRev,
  };
}

export class LocalSyncView {
  private readonly byId;
  private readonly pendingStmt;
  private readonly allStmt;
  private readonly insertStmt;
  private readonly updateGuarded;
  private readonly setBase;
  private readonly markSyncedGuarded;
  private readonly holdStmt;
  private readonly setPendingStmt;
  private readonly setBaseStmt;
  private readonly openConflict;
  private readonly insertConflict;
  private readonly updateConflict;
  private readonly resolveConflicts;
  private readonly purgedStmt;
  private readonly purgeableStmt;
  private readonly rememberPurged;
  private readonly deleteTombstone;

  constructor(private readonly db: Db) {
    this.byId = db.prepare(`SELECT ${SYNC_COLUMNS} FROM entries WHERE id = ?`).raw(true);
    this.pendingStmt = db.prepare(`SELECT ${SYNC_COLUMNS} FROM entries WHERE sync_status = 'pending'`).raw(true);
    this.allStmt = db.prepare(`SELECT ${SYNC_COLUMNS} FROM entries`).raw(true);
    this.insertStmt = db.prepare(`
      INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, synced_rev, base, created_at, updated_at)
      VALUES (@id, @name, @hash, @size, @meta, @version, @deleted, @hlc, @origin, 'synced', @rev, @base, @now, @now)`);
    // Guarded by the stamp the plan saw: a user edit in the meantime changed hlc, and then wins.
    this.updateGuarded = db.prepare(`
      UPDATE entries SET name = @name, hash = @hash, size = @size, meta = @meta, version = @version,
        deleted = @deleted, hlc = @hlc, origin = @origin, sync_status = 'synced', synced_rev = @rev,
        base = @base, updated_at = @now
      WHERE id = @id AND hlc = @expectHlc`);
    this.setBase = db.prepare(`UPDATE entries SET base = @base, synced_rev = @rev WHERE id = @id`);
    // A row edited since the plan saw it becomes (or stays) pending, never 'conflict': a held row whose
    // conflict this run closed would otherwise never be pushed again.
    this.markSyncedGuarded = db.prepare(`
      UPDATE entries SET sync_status = CASE WHEN hlc = @expectHlc THEN 'synced' ELSE 'pending' END WHERE id = @id`);
    this.setPendingStmt = db.prepare(`UPDATE entries SET sync_status = 'pending' WHERE id = ?`);
    this.setBaseStmt = db.prepare(`UPDATE entries SET base = @base WHERE id = @id`);
    // Any status: a synced row meets a conflict too when the share went back in time and was written again
    // by an instance that never saw this row's state (share-history.ts). The stamp is the guard.
    this.holdStmt = db.prepare(`UPDATE entries SET sync_status = 'conflict' WHERE id = ? AND hlc = ?`);
    this.openConflict = db.prepare(`SELECT id FROM conflicts WHERE entry_id = ? AND resolved_at IS NULL`);
    this.insertConflict = db.prepare(`
      INSERT INTO conflicts (id, entry_id, kind, local, remote, fields, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.updateConflict = db.prepare(`UPDATE conflicts SET kind = ?, local = ?, remote = ?, fields = ? WHERE id = ?`);
    this.resolveConflicts = db.prepare(`UPDATE conflicts SET resolved_at = ? WHERE entry_id = ? AND resolved_at IS NULL`);
    this.purgedStmt = db.prepare(`SELECT hlc FROM purged WHERE id = ?`).pluck();
    // Exactly the partial index's condition (deleted = 1 AND sync_status = 'synced'), so SQLite can use it.
    this.purgeableStmt = db
      .prepare(
        `SELECT id, hlc FROM entries INDEXED BY entries_purgeable
         WHERE deleted = 1 AND sync_status = 'synced' AND synced_rev <= @through AND hlc < @stamp
         ORDER BY synced_rev LIMIT @limit`,
      )
      .raw(true);
    this.rememberPurged = db.prepare(
      `INSERT INTO purged (id, hlc, purged_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET hlc = MAX(hlc, excluded.hlc), purged_at = excluded.purged_at`,
    );
    this.deleteTombstone = db.prepare(`DELETE FROM entries WHERE id = ? AND deleted = 1 AND sync_status = 'synced'`);
  }

  get(id: string): LocalSyncRow | null {
    const raw = this.byId.get(id) as RawSyncRow | undefined;
    return raw ? toRow(raw) : null;
  }

  pending(): LocalSyncRow[] {
    return (this.pendingStmt.all() as RawSyncRow[]).map(toRow);
  }

  all(): LocalSyncRow[] {
    return (this.allStmt.all() as RawSyncRow[]).map(toRow);
  }

  /**
   * The ids a full reconciliation must plan, found in SQL with the share's working copy attached: rows
   * changed here or not yet synced, rows that differ from the share's (content or bookkeeping), and rows
   * on one side only. Every other row is synced, equal on both sides and equal to its base, which the
   * planner would leave alone: so 100,000 unchanged rows are never decoded (a full read and diff of them
   * in JS took ~3.5 s; this query takes well under 0.1 s). Meta is compared as text, so a row whose keys
   * are merely in another order is planned too (the planner compares it properly and finds it converged).
   * NULL-safe comparisons (IS NOT): a share row with a NULL where a value belongs is a difference to plan
   * (and to refuse there), never silently equal.
   */
  fullCandidates(sharedFile: string): string[] {
    // In content order: a run that goes in batches (engine.ts RUN_BATCH) then fills a few data folders at a
    // time, each whole, and checks each with one listing of just what it uploaded (transfer.ts).
    this.db.prepare("ATTACH DATABASE ? AS share").run(sharedFile);
    try {
      return this.db
        .prepare(
          `SELECT l.id, l.hash AS content FROM main.entries l LEFT JOIN share.entries r ON r.id = l.id
           WHERE r.id IS NULL OR l.sync_status != 'synced' OR l.base IS NULL
              OR l.hlc IS NOT r.hlc OR l.origin IS NOT r.origin OR l.version IS NOT r.version OR l.deleted IS NOT r.deleted
              OR l.name IS NOT r.name OR l.hash IS NOT r.hash OR l.size IS NOT r.size OR l.meta IS NOT r.meta
              OR json_extract(l.base, '$.hlc') IS NOT l.hlc OR json_extract(l.base, '$.version') IS NOT l.version
           UNION ALL
           SELECT r.id, r.hash FROM share.entries r WHERE NOT EXISTS (SELECT 1 FROM main.entries l WHERE l.id = r.id)
           ORDER BY content`,
        )
        .pluck()
        .all() as string[];
    } finally {
      this.db.prepare("DETACH DATABASE share").run();
    }
  }

  /**
   * Makes the local row `state` and its base `base`, unless the row changed since the plan saw it
   * (stamp `expectHlc`; null: the plan saw no row). Returns false when a local edit won the race.
   */
  write(id: string, state: EntryState, base: EntryState, rev: number, expectHlc: string | null, now = Date.now()): boolean {
    const params = {
      id,
      name: state.name,
      hash: state.hash,
      size: state.size,
      meta: JSON.stringify(state.meta),
      version: state.version,
      deleted: state.deleted ? 1 : 0,
      hlc: state.hlc,
      origin: state.origin,
      rev,
      base: JSON.stringify(base),
      now,
    };
    if (expectHlc === null) {
      if (this.byId.get(id)) return false;
      this.insertStmt.run(params);
      return true;
    }
    return this.updateGuarded.run({ ...params, expectHlc }).changes === 1;
  }

  /**
   * Records that the share now holds `base` for this entry; the row becomes synced only if it is still the
   * state the plan saw (a newer local edit stays pending, now diffed against the new base).
   */
  markSynced(id: string, base: EntryState, rev: number, expectHlc: string): boolean {
    this.setBase.run({ id, base: JSON.stringify(base), rev });
    this.markSyncedGuarded.run({ id, expectHlc });
    return this.get(id)?.status === "synced";
  }

  /**
   * A local edit won the race against this run's write: the row is diffed again by the next run, against
   * `base` when given (the state the share's new state descends from), else against the base it has.
   * False when there is no such row.
   */
  keepPending(id: string, base: EntryState | null): boolean {
    if (base) this.setBaseStmt.run({ id, base: JSON.stringify(base) });
    return this.setPendingStmt.run(id).changes > 0;
  }

  /**
   * Holds a manual conflict: the row keeps its local state and stops being pushed until resolved. Guarded
   * like every sync write: if the row changed since the plan (edited, or resolved meanwhile), the stale
   * conflict is not recorded and the next run plans the row afresh. Returns whether it was held.
   */
  hold(record: ConflictRecord, expectHlc: string, newId: () => string, now = Date.now()): boolean {
    if (this.holdStmt.run(record.entryId, expectHlc).changes === 0) return false;
    const local = JSON.stringify(record.local);
    const remote = JSON.stringify(record.remote);
    const fields = JSON.stringify(record.fields);
    const open = this.openConflict.get(record.entryId) as { id: string } | undefined;
    if (open) this.updateConflict.run(record.kind, local, remote, fields, open.id);
    else this.insertConflict.run(newId(), record.entryId, record.kind, local, remote, fields, now);
    return true;
  }

  /** Closes any open conflict of an entry that this run synced (resolved here or by the other side). */
  closeConflicts(entryId: string, now = Date.now()): void {
    this.resolveConflicts.run(now, entryId);
  }

  /**
   * Drops local tombstones that are synced and older than the retention window by both clocks (stamped
   * before `stamp`, synced at or before the share version `through`, see SharedDb.purgeableThrough), and
   * remembers each deletion's stamp (share-history.ts: an older copy of the entry is not taken as live).
   *
   * At most `limit` per call, oldest sync first, so that a run that changes one row never pays for a
   * backlog (the day a mass deletion leaves the window): the rest go in the next runs. Keeping a tombstone
   * longer than the window is always safe: it is a synced deletion the share either still holds or has
   * purged, and a run plans it only when it or the share's row changes, like any tombstone inside the
   * window (plan.ts: a synced tombstone with no share row is left alone); only the library stays larger.
   * The candidates come from the partial index entries_purgeable (migrations.ts v5), which holds synced
   * tombstones only: a range of it up to `through`, the stamp read from the index itself, so no row of the
   * table is visited but those purged. (The range also holds the tombstones that the share's clock calls old
   * and this machine's clock does not: there are such only where the clocks disagree.) Returns how many
   * were purged.
   */
  purgeTombstones(stamp: string, through: number, now = Date.now(), limit = PURGE_BATCH): number {
    return this.db.transaction(() => {
      const found = this.purgeableStmt.all({ stamp, through, limit }) as Array<[string, string]>;
      for (const [id, hlc] of found) {
        this.rememberPurged.run(id, hlc, now);
        this.deleteTombstone.run(id);
      }
      return found.length;
    }).immediate(); // a savepoint inside the run's transaction; on its own, under the write lock from the start
  }

  /** The stamp of this entry's deletion if this instance purged its tombstone, else null. */
  purgedStamp(id: string): string | null {
    return (this.purgedStmt.get(id) as string | undefined) ?? null;
  }

  /** The share's commits this instance has seen, newest first. */
  knownCommits(): Array<{ version: number; id: string }> {
    return this.db.prepare("SELECT version, commit_id AS id FROM share_commits ORDER BY version DESC").all() as Array<{ version: number; id: string }>;
  }

  /**
   * Records the share's commit log as this run saw it. After a rewind, what this instance knew beyond the
   * fork point belongs to a history the share no longer has, and is forgotten.
   */
  recordCommits(commits: Array<{ version: number; id: string }>, forgetAfter: number | null, keep: number): void {
    if (forgetAfter !== null) this.db.prepare("DELETE FROM share_commits WHERE version > ?").run(forgetAfter);
    const put = this.db.prepare("INSERT OR REPLACE INTO share_commits (version, commit_id) VALUES (?, ?)");
    for (const c of commits) put.run(c.version, c.id);
    const newest = commits.at(-1)?.version;
    if (newest !== undefined) this.db.prepare("DELETE FROM share_commits WHERE version <= ?").run(newest - keep);
  }

  /** IMMEDIATE, so that it serialises with Library.releaseBlob in another process (blob checks inside hold). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
