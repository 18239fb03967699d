import type { Database } from "better-sqlite3";

/**
 * Versioned schema of the local library (PRAGMA user_version). Append a migration, never edit one that
 * has shipped: data directories in the field are at every version.
 */
export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  // 1: entries with their sync bookkeeping, instance state, conflicts.
  (db) => {
    db.exec(`
      CREATE TABLE entries (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        hash        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        meta        TEXT NOT NULL DEFAULT '{}',
        version     INTEGER NOT NULL,
        deleted     INTEGER NOT NULL DEFAULT 0,
        hlc         TEXT NOT NULL,
        origin      TEXT NOT NULL,
        -- 'pending': changed here since the last sync; 'conflict': held back by an open conflict.
        sync_status TEXT NOT NULL CHECK (sync_status IN ('synced', 'pending', 'conflict')),
        -- Share version at which this entry was last synced, and its state then (JSON EntryState):
        -- the base of the three-way diff. NULL until the entry has been synced once.
        synced_rev  INTEGER,
        base        TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- The O(1) skip check counts pending rows through this partial index (the index holds only them).
      CREATE INDEX entries_pending ON entries(sync_status) WHERE sync_status = 'pending';
      CREATE INDEX entries_hash ON entries(hash);
      CREATE INDEX entries_name ON entries(name);

      CREATE TABLE state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE conflicts (
        id          TEXT PRIMARY KEY,
        entry_id    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        local       TEXT NOT NULL,
        remote      TEXT NOT NULL,
        fields      TEXT NOT NULL DEFAULT '[]',
        created_at  INTEGER NOT NULL,
        resolved_at INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX conflicts_open ON conflicts(entry_id) WHERE resolved_at IS NULL;
    `);
  },
  // 2: a local change sequence for the HTTP changes feed (GET /api/v1/changes). Kept by triggers, so that
  // every writer (Library, the engine's LocalSyncView, store/resolve.ts, a CLI beside the daemon) bumps it
  // in the same transaction as its write, and none can forget to. Writers are serialised by SQLite's write
  // lock, so sequence numbers commit in order: a reader never sees N+1 while N is still uncommitted.
  (db) => {
    db.exec(`
      ALTER TABLE entries ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
      -- seq: the last number handed out. floor: the highest sequence of a row deleted from the table (a
      -- purged tombstone); a cursor below it may have missed that deletion.
      CREATE TABLE change_counter (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        seq   INTEGER NOT NULL,
        floor INTEGER NOT NULL DEFAULT 0
      );
      -- Existing rows get 1..n in the order they last changed (unique, so that a page can end between two).
      CREATE TEMP TABLE change_backfill (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO change_backfill SELECT id, ROW_NUMBER() OVER (ORDER BY updated_at, id) FROM entries;
      UPDATE entries SET change_seq = (SELECT seq FROM change_backfill b WHERE b.id = entries.id);
      INSERT INTO change_counter (id, seq) VALUES (1, (SELECT COUNT(*) FROM change_backfill));
      DROP TABLE change_backfill;
      CREATE INDEX entries_change_seq ON entries(change_seq);

      CREATE TRIGGER entries_change_insert AFTER INSERT ON entries BEGIN
        UPDATE change_counter SET seq = seq + 1 WHERE id = 1;
        UPDATE entries SET change_seq = (SELECT seq FROM change_counter WHERE id = 1) WHERE id = NEW.id;
      END;
      -- Only what an API client sees of an entry; sync bookkeeping (sync_status, base, synced_rev) is not a
      -- change. Every real change carries a new clock stamp; the other tests are belt and braces.
      CREATE TRIGGER entries_change_update AFTER UPDATE OF name, hash, size, meta, deleted, version, hlc ON entries
      WHEN NEW.hlc IS NOT OLD.hlc OR NEW.name IS NOT OLD.name OR NEW.hash IS NOT OLD.hash OR NEW.size IS NOT OLD.size
        OR NEW.meta IS NOT OLD.meta OR NEW.deleted IS NOT OLD.deleted OR NEW.version IS NOT OLD.version
      BEGIN
        UPDATE change_counter SET seq = seq + 1 WHERE id = 1;
        UPDATE entries SET change_seq = (SELECT seq FROM change_counter WHERE id = 1) WHERE id = NEW.id;
      END;
      CREATE TRIGGER entries_change_delete AFTER DELETE ON entries BEGIN
        UPDATE change_counter SET floor = MAX(floor, OLD.change_seq) WHERE id = 1;
      END;
    `);
  },
  // 3: the publish journal (sync/publish-journal.ts): what a run is about to publish, written before it
  // publishes and removed by its local commit, so that a run killed in between is recognised by the next.
  (db) => {
    db.exec(`
      CREATE TABLE publish_journal (
        entry_id  TEXT PRIMARY KEY,
        share_id  TEXT NOT NULL,
        commit_id TEXT NOT NULL,
        -- The local row as the run planned from it (JSON EntryState), and the state it published.
        seen      TEXT NOT NULL,
        published TEXT NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  // 4: what this instance remembers of the share's history (sync/share-history.ts), so that a share that
  // went back in time (a restored backup) loses nothing: the share's commit ids it has seen, and the
  // deletions whose tombstones it purged (so that an older copy of such an entry is not taken as live).
  (db) => {
    db.exec(`
      CREATE TABLE share_commits (
        version   INTEGER PRIMARY KEY,
        commit_id TEXT NOT NULL
      );
      CREATE TABLE purged (
        id        TEXT PRIMARY KEY,
        -- The deletion's clock stamp: a share row stamped at or before it is a state that deletion ended.
        hlc       TEXT NOT NULL,
        purged_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  // 5: O(change) on a sync run's hot path (issue 13): nothing an ordinary run does reads the whole table.
  // - The count of live rows (Library.liveCount, the delete guard's denominator) and of tombstones (the
  //   /metrics gauges) are kept by triggers, in the writer's own transaction like the change sequence
  //   (v2), instead of counted by a scan of every row. Counted once here, for the rows the library has.
  //   What the triggers cannot see: a REPLACE conflict resolution deletes without firing delete triggers
  //   (recursive_triggers is off), so nothing may write entries with INSERT OR REPLACE (nothing does; v2's
  //   floor relies on that as well).
  // - The tombstone purge (LocalSyncView.purgeTombstones) finds its candidates through a partial index
  //   that holds only synced tombstones, ordered by the share version they were synced at: a range up to
  //   the version the share's clock calls old, the stamp checked in the index itself.
  (db) => {
    db.exec(`
      CREATE TABLE entry_counts (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        -- Exactly what COUNT(*) ... WHERE deleted = 0 (live) and WHERE deleted <> 0 (tombstones) count.
        live       INTEGER NOT NULL,
        tombstones INTEGER NOT NULL
      );
      INSERT INTO entry_counts (id, live, tombstones)
        SELECT 1, COUNT(*) FILTER (WHERE deleted = 0), COUNT(*) FILTER (WHERE deleted <> 0) FROM entries;

      CREATE TRIGGER entries_count_insert AFTER INSERT ON entries BEGIN
        UPDATE entry_counts SET live = live + (NEW.deleted = 0), tombstones = tombstones + (NEW.deleted <> 0) WHERE id = 1;
      END;
      CREATE TRIGGER entries_count_delete AFTER DELETE ON entries BEGIN
        UPDATE entry_counts SET live = live - (OLD.deleted = 0), tombstones = tombstones - (OLD.deleted <> 0) WHERE id = 1;
      END;
      -- A deletion (a tombstone), an undeletion (a restore, or a pull of a live state over a tombstone).
      CREATE TRIGGER entries_count_update AFTER UPDATE OF deleted ON entries
      WHEN (OLD.deleted = 0) IS NOT (NEW.deleted = 0)
      BEGIN
        UPDATE entry_counts SET live = live + (NEW.deleted = 0) - (OLD.deleted = 0),
          tombstones = tombstones + (OLD.deleted = 0) - (NEW.deleted = 0) WHERE id = 1;
      END;

      CREATE INDEX entries_purgeable ON entries(synced_rev, hlc) WHERE deleted = 1 AND sync_status = 'synced';
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
