import { existsSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { SyncdError } from "../errors.js";
import { diskProblem, type DiskProblem } from "./disk-errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import { openForReading } from "./read-only-db.js";

export type Db = Database.Database;

export interface LibraryDb {
  db: Db;
  /** Why the library could only be opened for reading (see openLibraryDb), or null. */
  readOnly: DiskProblem | null;
  close(): void;
}

/**
 * The library's database, for reading and writing when its directory allows it; else, when an existing
 * library cannot be opened because its directory is read-only, not writable by this user or on a full
 * disk, for reading only (read-only-db.ts), so that the commands that only read still work there.
 */
export function openLibraryDb(file: string): LibraryDb {
  try {
    const db = openLocalDb(file);
    return { db, readOnly: null, close: () => db.close() };
  } catch (err) {
    const problem = existsSync(file) ? diskProblem(err, dirname(file)) : null;
    if (!problem) throw err;
    const opened = openForReading(file, problem, dirname(file));
    return { ...opened, readOnly: problem };
  }
}

/**
 * Opens (creating if needed) the local library database and brings its schema up to date.
 * WAL lets readers (CLI `ls`, the HTTP API) run while a sync writes; `synchronous = NORMAL` is durable
 * across process crashes in WAL mode, which is what a killed sync needs.
 */
export function openLocalDb(file: string): Db {
  const db = new Database(file);
  try {
    // First: two commands started at once on a new data directory both open it, and wait for each other.
    db.pragma("busy_timeout = 5000");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new SyncdError(
      "schema-too-new",
      `The local library ${db.name} has schema version ${current}, newer than this syncd understands (${SCHEMA_VERSION}); upgrade syncd.`,
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v];
    if (!step) break;
    // IMMEDIATE, and the version read again inside: another process that opened the same new library at
    // the same moment may have applied this step already ("table entries already exists" otherwise).
    db.transaction(() => {
      if ((db.pragma("user_version", { simple: true }) as number) > v) return;
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
