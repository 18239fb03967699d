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
];

export const SCHEMA_VERSION = MIGRATIONS.length;
