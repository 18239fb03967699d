/**
 * Structural checks of what a piece of code asks SQLite (issue 13, "O(change) everywhere on the hot path"):
 * every statement it executes on a database is recorded, and SQLite's own query plan (EXPLAIN QUERY PLAN)
 * of each is searched for a full scan. No timing: a statement whose plan reads a whole table is a failure
 * at ten rows as at a million.
 */
import Database from "better-sqlite3";

/** An in-memory database, to reach the prototype every statement shares. */
function scratchDb(): Db {
  return new Database(":memory:");
}

type Db = Database.Database;
type Method = (this: Database.Statement, ...args: unknown[]) => unknown;

/**
 * Every statement executed on `db` (or on every database `db` accepts) while `fn` runs (by its SQL), with the
 * arguments of its first execution.
 */
export async function traceStatements(db: Db | ((d: Db) => boolean), fn: () => unknown): Promise<Map<string, unknown[]>> {
  const traced = typeof db === "function" ? db : (d: Db) => d === db;
  const probe = typeof db === "function" ? null : db;
  // better-sqlite3 statements share one prototype; its methods are what every caller ends in.
  const proto = Object.getPrototypeOf((probe ?? scratchDb()).prepare("SELECT 1")) as Record<string, Method>;
  const seen = new Map<string, unknown[]>();
  const methods = ["run", "get", "all", "iterate"] as const;
  const originals = methods.map((m) => proto[m] as Method);
  methods.forEach((m, i) => {
    const original = originals[i] as Method;
    proto[m] = function (this: Database.Statement, ...args: unknown[]) {
      if (traced(this.database) && !seen.has(this.source)) seen.set(this.source, args);
      return original.apply(this, args);
    };
  });
  try {
    await fn();
  } finally {
    methods.forEach((m, i) => {
      proto[m] = originals[i] as Method;
    });
  }
  return seen;
}

/**
 * The statements of the triggers on `table`, runnable on their own: NEW.x and OLD.x become parameters, so
 * that their plans can be asked for like any statement's (EXPLAIN QUERY PLAN does not show a trigger's).
 */
export function triggerStatements(db: Db, table: string): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  const triggers = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?").pluck().all(table) as string[];
  for (const sql of triggers) {
    const body = sql.slice(sql.search(/\bBEGIN\b/i) + "BEGIN".length, sql.search(/\bEND\s*$/i));
    for (const part of body.split(";")) {
      const stmt = part.trim().replace(/\b(NEW|OLD)\.\w+/gi, "?");
      if (stmt) out.set(stmt, new Array<null>((stmt.match(/\?/g) ?? []).length).fill(null));
    }
  }
  return out;
}

export interface PlanStep {
  sql: string;
  detail: string;
}

/**
 * Tables a hot-path statement may read whole, and why that is still O(change):
 * - publish_journal holds the rows of one run's publish at most, and every local commit empties it.
 */
const BOUNDED_TABLES = new Set(["publish_journal"]);

/**
 * The same for the shared metadata (the replica, share/): tables that hold O(instances) or a fixed number of
 * rows, never O(library): share (a few keys), instances, commits (the newest 10,000 at most), version_times
 * (thinned to about 48), wanted_data (reports of damaged files), the replica's own replica_local, the run's
 * noted changes (temp captured) and SQLite's schema.
 */
export const SHARED_BOUNDED_TABLES = new Set(["share", "instances", "commits", "version_times", "wanted_data", "replica_local", "captured", "sqlite_master", "sqlite_temp_master", "sqlite_schema"]);

/** Transaction control and pragmas have no query plan worth asking for. */
const NO_PLAN = /^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b/i;

/** Each statement's query plan, as SQLite's one-line details. */
export function queryPlans(db: Db, statements: Map<string, unknown[]>): PlanStep[] {
  const out: PlanStep[] = [];
  for (const [sql, args] of statements) {
    if (NO_PLAN.test(sql)) continue;
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>;
    for (const { detail } of rows) out.push({ sql, detail });
  }
  return out;
}

/**
 * The steps that read a whole table or a whole index of one ("SCAN t", "SCAN t USING INDEX i"), but for
 * the few tables that only ever hold O(change) rows (BOUNDED_TABLES). A search ("SEARCH t USING …") reads
 * only the rows its key range selects.
 */
export function fullScans(steps: PlanStep[], bounded: Set<string> = BOUNDED_TABLES): PlanStep[] {
  return steps.filter(({ detail }) => {
    const scanned = /^SCAN (?:\w+\.)?(\w+)/.exec(detail)?.[1];
    return scanned !== undefined && scanned !== "CONSTANT" && !bounded.has(scanned);
  });
}
