/**
 * The share's `metadata.db`: the source of truth that every instance downloads, merges into and publishes.
 * It is a plain rollback-journal SQLite file (never WAL: a WAL file's bytes alone do not open, FIELD-NOTES),
 * marked with our application id and schema version so that a foreign or newer file is refused, not used.
 * Every row read from it is validated: the share is written by other machines and is hostile until checked.
 */
import Database from "better-sqlite3";
import { ShareError } from "../errors.js";
import { isValidHash, nameProblem, type EntryState, type Meta } from "../model/entry.js";
import { parseHlc } from "./hlc.js";

/** 'SYND' as a big-endian int: PRAGMA application_id of every metadata.db we write. */
export const SHARED_APPLICATION_ID = 0x53594e44;
export const SHARED_SCHEMA_VERSION = 1;

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

/** Commits kept in the log: far more than any instance can fall behind between a crash and its next run. */
const COMMITS_KEPT = 10_000;

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
  ) {}

  /** A new, empty share (version 0) in `file`. */
  static create(file: string, shareId: string): SharedDb {
    const db = new Database(file);
    db.pragma("journal_mode = DELETE");
    db.pragma(`application_id = ${SHARED_APPLICATION_ID}`);
    db.pragma(`user_version = ${SHARED_SCHEMA_VERSION}`);
    db.exec(SCHEMA);
    db.exec(COMMITS_SCHEMA);
    const put = db.prepare("INSERT INTO share (key, value) VALUES (?, ?)");
    db.transaction(() => {
      put.run("share_id", shareId);
      put.run("version", "0");
      put.run("created_at", String(Date.now()));
    })();
    return new SharedDb(db, shareId, 0);
  }

  /**
   * Opens a downloaded metadata.db and checks that it is ours, intact and of a schema we understand.
   * `location` names the remote file in error messages.
   */
  static open(file: string, location: string): SharedDb {
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
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok") {
        throw new ShareError("metadata-corrupt", `${location} failed SQLite's integrity check (${String(check)}).`);
      }
      if (db.pragma("journal_mode", { simple: true }) === "wal") db.pragma("journal_mode = DELETE");
      const info = new Map(
        (db.prepare("SELECT key, value FROM share").all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]),
      );
      const shareId = info.get("share_id");
      const version = Number(info.get("version"));
      if (!shareId || !Number.isSafeInteger(version) || version < 0) {
        throw new ShareError("metadata-corrupt", `${location} has no valid share id or version.`);
      }
      db.exec(COMMITS_SCHEMA);
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

  /** The share already holds (verified, referenced) the data file of this hash. */
  hasData(hash: string): boolean {
    return this.stmt("hasData", "SELECT 1 FROM entries WHERE hash = ? LIMIT 1").get(hash) !== undefined;
  }

  liveCount(): number {
    return this.db.prepare("SELECT COUNT(*) FROM entries WHERE deleted = 0").pluck().get() as number;
  }

  instanceNames(): Map<string, string> {
    const rows = this.db.prepare("SELECT id, name FROM instances").all() as Array<{ id: string; name: string }>;
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /** All content hashes that some row (live or tombstone) still references. */
  referencedHashes(): Set<string> {
    return new Set(this.db.prepare("SELECT DISTINCT hash FROM entries").pluck().all() as string[]);
  }

  /** Removes tombstones whose deletion was stamped before `stamp` (an HLC string); returns how many. */
  purgeTombstonesBefore(stamp: string): number {
    return this.db.prepare("DELETE FROM entries WHERE deleted = 1 AND hlc < ?").run(stamp).changes;
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
  commit(rows: SharedRow[], instance: { id: string; name: string }, commitId: string, now = Date.now()): number {
    const next = this.currentVersion + 1;
    const upsert = this.db.prepare(`
      INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, rev)
      VALUES (@id, @name, @hash, @size, @meta, @version, @deleted, @hlc, @origin, @rev)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, size = excluded.size,
        meta = excluded.meta, version = excluded.version, deleted = excluded.deleted, hlc = excluded.hlc,
        origin = excluded.origin, rev = excluded.rev`);
    this.db.transaction(() => {
      for (const { id, state } of rows) {
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
      this.db
        .prepare("INSERT INTO instances (id, name, last_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen")
        .run(instance.id, instance.name, now);
      this.db.prepare("UPDATE share SET value = ? WHERE key = 'version'").run(String(next));
      this.db.prepare("INSERT OR REPLACE INTO commits (id, version, instance, at) VALUES (?, ?, ?, ?)").run(commitId, next, instance.id, now);
      this.db.prepare("DELETE FROM commits WHERE version <= ?").run(next - COMMITS_KEPT);
    })();
    this.currentVersion = next;
    return next;
  }

  /**
   * Closes the database so that the file on disk is complete and self-contained (rollback journal
   * committed and removed). Compacts first when a quarter of the pages are free.
   */
  close(): void {
    if (!this.db.open) return;
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const free = this.db.pragma("freelist_count", { simple: true }) as number;
    if (free * 4 > pages) this.db.exec("VACUUM");
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
  if (!parseHlc(row.hlc)) throw new ShareError("hostile-entry", `Refusing ${where}: its clock stamp is invalid.`);
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
