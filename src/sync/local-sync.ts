/**
 * The sync engine's side of the local library: reading rows with their base, and applying a run's results.
 * User-facing writes go through Library (the one write path); this module only records what a sync
 * decided, guarded so that a local edit made while the run was in flight is never overwritten.
 */
import type { Db } from "../store/db.js";
import type { EntryState, SyncStatus } from "../model/entry.js";
import { rowToEntry, toState, type EntryRow } from "../store/entry-row.js";
import type { ConflictRecord } from "./plan.js";

export interface LocalSyncRow {
  id: string;
  state: EntryState;
  base: EntryState | null;
  status: SyncStatus;
}

function toRow(raw: EntryRow): LocalSyncRow {
  return {
    id: raw.id,
    state: toState(rowToEntry(raw)),
    base: raw.base ? (JSON.parse(raw.base) as EntryState) : null,
    status: raw.sync_status,
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
  private readonly openConflict;
  private readonly insertConflict;
  private readonly updateConflict;
  private readonly resolveConflicts;

  constructor(private readonly db: Db) {
    this.byId = db.prepare(`SELECT * FROM entries WHERE id = ?`);
    this.pendingStmt = db.prepare(`SELECT * FROM entries WHERE sync_status = 'pending'`);
    this.allStmt = db.prepare(`SELECT * FROM entries`);
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
    this.holdStmt = db.prepare(`
      UPDATE entries SET sync_status = 'conflict' WHERE id = ? AND hlc = ? AND sync_status IN ('pending', 'conflict')`);
    this.openConflict = db.prepare(`SELECT id FROM conflicts WHERE entry_id = ? AND resolved_at IS NULL`);
    this.insertConflict = db.prepare(`
      INSERT INTO conflicts (id, entry_id, kind, local, remote, fields, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.updateConflict = db.prepare(`UPDATE conflicts SET kind = ?, local = ?, remote = ?, fields = ? WHERE id = ?`);
    this.resolveConflicts = db.prepare(`UPDATE conflicts SET resolved_at = ? WHERE entry_id = ? AND resolved_at IS NULL`);
  }

  get(id: string): LocalSyncRow | null {
    const raw = this.byId.get(id) as EntryRow | undefined;
    return raw ? toRow(raw) : null;
  }

  pending(): LocalSyncRow[] {
    return (this.pendingStmt.all() as EntryRow[]).map(toRow);
  }

  all(): LocalSyncRow[] {
    return (this.allStmt.all() as EntryRow[]).map(toRow);
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

  /** A local edit won the race against this run's write: the row is diffed again by the next run. */
  setPending(id: string): void {
    this.setPendingStmt.run(id);
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

  /** Drops local tombstones that are synced and older than the retention window (stamped before `stamp`). */
  purgeTombstonesBefore(stamp: string): number {
    return this.db.prepare("DELETE FROM entries WHERE deleted = 1 AND sync_status = 'synced' AND hlc < ?").run(stamp).changes;
  }

  /** IMMEDIATE, so that it serialises with Library.releaseBlob in another process (blob checks inside hold). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
