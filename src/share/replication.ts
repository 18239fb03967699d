/**
 * What a journal segment carries, and how it is taken from and applied to a copy of the shared metadata.
 *
 * A commit's segment holds the rows that commit changed, in every table of the shared metadata, as they are
 * after it (a row of null: deleted). The changes are not assembled by hand at each place that writes: TEMP
 * triggers (living in this connection only, never in the file) note the key of every row written while a
 * run's changes are pending, and the segment reads those rows back when it is built. So a tombstone purge,
 * a wanted-data report, a thinned time mark or a commit-log trim reaches the other instances exactly as it
 * happened here, without anyone having to remember to journal it.
 *
 * The same triggers keep the count of live entries (the delete guard's figure) up to date, so that no
 * ordinary run counts a million rows.
 */
import type Database from "better-sqlite3";

/** The replicated tables, each with its key column and the columns a segment may write. */
export const REPLICATED: Record<string, { key: string; columns: string[] }> = {
  share: { key: "key", columns: ["key", "value"] },
  instances: { key: "id", columns: ["id", "name", "last_seen"] },
  entries: { key: "id", columns: ["id", "name", "hash", "size", "meta", "version", "deleted", "hlc", "origin", "rev"] },
  commits: { key: "id", columns: ["id", "version", "instance", "at"] },
  version_times: { key: "version", columns: ["version", "server_at"] },
  wanted_data: { key: "hash", columns: ["hash", "reported_at", "by_instance", "problem"] },
  garbage: { key: "hash", columns: ["hash", "version", "server_at"] },
};

/** Share keys that are not replicated by segments: the version is the segment's own. */
const UNREPLICATED_SHARE_KEYS = new Set(["version", "journal_head"]);

export type RowValue = string | number | null;
/** One row as a segment carries it: its table, its key, and its columns after the commit (null: deleted). */
export interface RowChange {
  t: string;
  k: RowValue;
  row: Record<string, RowValue> | null;
}

/** This instance's own bookkeeping inside its copy of the shared metadata; never uploaded (compaction drops it). */
export const LOCAL_TABLE = "replica_local";

/**
 * Installs, in this connection, the triggers that note changed keys (in temp.captured) and keep the live
 * count (in replica_local). Idempotent. Counts the live rows once if the count is not there yet.
 */
export function installTriggers(db: Database.Database): void {
  // INSERT OR REPLACE deletes the row it replaces; only with recursive triggers does that deletion fire the
  // delete triggers, which the live count needs (applyChanges replaces rows).
  db.pragma("recursive_triggers = ON");
  db.exec(`CREATE TABLE IF NOT EXISTS main.${LOCAL_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`);
  // k has no declared type (no affinity): a key is kept as given. (A type such as ANY would give it numeric
  // affinity, and a text key that looks like a number, a hash of leading zeros, would come back a number.)
  db.exec("CREATE TEMP TABLE IF NOT EXISTS captured (t TEXT NOT NULL, k, PRIMARY KEY (t, k))");
  for (const [table, { key }] of Object.entries(REPLICATED)) {
    const exists = db.prepare("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?").get(table);
    if (!exists) continue;
    // Written so that it never conflicts: an OR IGNORE in a trigger would be overridden by the conflict
    // clause of the statement that fired it (an UPSERT's), and a key noted twice would then fail that statement.
    const note = (k: string) =>
      `INSERT INTO temp.captured (t, k) SELECT '${table}', ${k} WHERE NOT EXISTS (SELECT 1 FROM temp.captured WHERE t = '${table}' AND k = ${k});`;
    for (const [event, row] of [["INSERT", "new"], ["UPDATE", "new"], ["DELETE", "old"]] as const) {
      db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS capture_${table}_${event.toLowerCase()} AFTER ${event} ON main.${table}
               BEGIN ${note(`${row}.${key}`)} END`);
    }
    // A key changed by an UPDATE is a deletion of the old key too.
    db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS capture_${table}_rekey AFTER UPDATE OF ${key} ON main.${table}
             WHEN old.${key} IS NOT new.${key}
             BEGIN ${note(`old.${key}`)} END`);
  }
  const counted = db.prepare(`SELECT 1 FROM main.${LOCAL_TABLE} WHERE key = 'live'`).get();
  if (!counted) {
    // Counted once, when this copy is made: from then on the triggers keep the counts.
    db.prepare(`INSERT INTO main.${LOCAL_TABLE} (key, value) VALUES ('live', (SELECT COUNT(*) FROM main.entries WHERE deleted = 0))`).run();
    db.prepare(`INSERT OR REPLACE INTO main.${LOCAL_TABLE} (key, value) VALUES ('rows', (SELECT COUNT(*) FROM main.entries))`).run();
  }
  const bump = (sign: "+" | "-", row: "new" | "old") => `UPDATE main.${LOCAL_TABLE} SET value = value ${sign} (${row}.deleted = 0) WHERE key = 'live';`;
  const rows = (sign: "+" | "-") => `UPDATE main.${LOCAL_TABLE} SET value = value ${sign} 1 WHERE key = 'rows';`;
  db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS live_insert AFTER INSERT ON main.entries BEGIN ${bump("+", "new")} ${rows("+")} END`);
  db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS live_delete AFTER DELETE ON main.entries BEGIN ${bump("-", "old")} ${rows("-")} END`);
  db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS live_update AFTER UPDATE OF deleted ON main.entries BEGIN ${bump("-", "old")} ${bump("+", "new")} END`);
}

/** Forgets what was noted so far: the next changes are a new commit's. */
export function resetCapture(db: Database.Database): void {
  db.exec("DELETE FROM temp.captured");
}

/**
 * The changes noted since resetCapture, as rows read now, in a stable order (table, key). A generator that
 * reads the noted keys a page at a time: a first sync's commit notes a million of them.
 */
export function* capturedChanges(db: Database.Database): Generator<RowChange> {
  const page = db.prepare("SELECT t, k FROM temp.captured WHERE (t, k) > (?, ?) ORDER BY t, k LIMIT 1000");
  const reads = new Map<string, Database.Statement>();
  let after: [string, RowValue] = ["", null];
  for (;;) {
    const keys = page.all(...after) as Array<{ t: string; k: RowValue }>;
    if (keys.length === 0) return;
    after = [keys.at(-1)!.t, keys.at(-1)!.k];
    const batch: RowChange[] = [];
    for (const { t, k } of keys) {
      const spec = REPLICATED[t];
      if (!spec || (t === "share" && UNREPLICATED_SHARE_KEYS.has(String(k)))) continue;
      let read = reads.get(t);
      if (!read) {
        read = db.prepare(`SELECT ${spec.columns.join(", ")} FROM main.${t} WHERE ${spec.key} = ?`);
        reads.set(t, read);
      }
      batch.push({ t, k, row: (read.get(k) as Record<string, RowValue> | undefined) ?? null });
    }
    yield* batch;
  }
}

/**
 * Applies a segment's changes (already checked to come from a segment named by version.txt, with the right
 * SHA-256). Still written by another machine: only known tables and columns are touched, values must be
 * plain SQL values, and entries are validated again whenever they are read (shared-db.ts toSharedRow).
 * Returns why the changes cannot be applied, or null when they were.
 */
export function applyChanges(db: Database.Database, changes: RowChange[]): string | null {
  const statements = new Map<string, { upsert: Database.Statement; remove: Database.Statement }>();
  for (const change of changes) {
    const spec = REPLICATED[change.t];
    if (!spec) return `it changes a table this syncd does not know (${String(change.t).slice(0, 40)})`;
    if (change.t === "share" && UNREPLICATED_SHARE_KEYS.has(String(change.k))) continue;
    if (!isValue(change.k) || change.k === null) return `it has a change of ${change.t} without a key`;
    let s = statements.get(change.t);
    if (!s) {
      if (change.t === "wanted_data" || change.t === "garbage") ensureOptionalTable(db, change.t);
      s = {
        upsert: db.prepare(`INSERT OR REPLACE INTO main.${change.t} (${spec.columns.join(", ")}) VALUES (${spec.columns.map(() => "?").join(", ")})`),
        remove: db.prepare(`DELETE FROM main.${change.t} WHERE ${spec.key} = ?`),
      };
      statements.set(change.t, s);
    }
    if (change.row === null) {
      s.remove.run(change.k);
      continue;
    }
    const values = spec.columns.map((c) => (change.row as Record<string, unknown>)[c]);
    if (!values.every(isValue)) return `a row of ${change.t} has a value that is not a plain value`;
    if (values[0] !== change.k) return `a row of ${change.t} is filed under another key`;
    s.upsert.run(...values);
  }
  return null;
}

function isValue(v: unknown): v is RowValue {
  return v === null || typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
}

/** Tables created on demand (shared-db.ts): a segment may be the first to bring one. */
export const OPTIONAL_TABLES: Record<string, string> = {
  wanted_data: `CREATE TABLE IF NOT EXISTS wanted_data (
      hash        TEXT PRIMARY KEY,
      reported_at INTEGER NOT NULL,
      by_instance TEXT NOT NULL,
      problem     TEXT NOT NULL
    ) WITHOUT ROWID`,
  garbage: `CREATE TABLE IF NOT EXISTS garbage (
      hash      TEXT PRIMARY KEY,
      version   INTEGER NOT NULL,
      server_at INTEGER NOT NULL
    ) WITHOUT ROWID`,
};

export function ensureOptionalTable(db: Database.Database, table: "wanted_data" | "garbage"): void {
  const existed = db.prepare("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?").get(table);
  db.exec(OPTIONAL_TABLES[table]!);
  if (!existed) installTriggers(db); // the new table's capture triggers
}

/** The live count the triggers keep. */
export function liveCount(db: Database.Database): number {
  return Number(db.prepare(`SELECT value FROM main.${LOCAL_TABLE} WHERE key = 'live'`).pluck().get() ?? 0);
}

/** The count of entry rows (tombstones included) the triggers keep. */
export function rowCount(db: Database.Database): number {
  return Number(db.prepare(`SELECT value FROM main.${LOCAL_TABLE} WHERE key = 'rows'`).pluck().get() ?? 0);
}
