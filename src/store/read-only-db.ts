/**
 * The library's database when its data directory cannot be written (issue 11): read commands (ls, get,
 * status, conflicts) still work there, and every write says why it cannot. SQLite cannot simply open a
 * WAL database read-only in such a place: it needs its `-shm` index file, which a clean close removes and
 * which cannot be created again (measured: "unable to open database file" on a read-only mount, "disk I/O
 * error" (SQLITE_IOERR_SHMSIZE) on a full disk, read-only open or not). So, in order:
 * - a read-only connection, which works when the `-shm` is there (another process has the library open);
 * - on a full disk, a connection in exclusive locking mode, which keeps that index in memory and needs no
 *   new space to read (its writes fail with SQLITE_FULL; query_only forbids them anyway);
 * - otherwise a private copy of the database (and its `-wal`, so that committed changes not yet folded in
 *   are read too) in the system's temp folder, removed when the library is closed.
 * Every connection is `query_only`: nothing can be written through it, and the Library refuses writes
 * before trying (library.ts).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import Database from "better-sqlite3";
import { SyncdError } from "../errors.js";
import type { Db } from "./db.js";
import type { DiskProblem } from "./disk-errors.js";
import { SCHEMA_VERSION } from "./migrations.js";

export interface ReadOnlyDb {
  db: Db;
  /** Closes the connection and removes a private copy, if one was made. */
  close(): void;
}

export function openForReading(file: string, problem: DiskProblem, dirLabel: string): ReadOnlyDb {
  const attempts = problem === "full" ? [inMemoryIndex] : [readOnlyConnection, privateCopy];
  let last: unknown;
  for (const attempt of attempts) {
    let opened: ReadOnlyDb | null = null;
    try {
      opened = attempt(file);
      opened.db.pragma("query_only = ON");
      checkSchema(opened.db, dirLabel, problem);
      return opened;
    } catch (err) {
      opened?.close();
      if (err instanceof SyncdError) throw err;
      last = err;
    }
  }
  throw last;
}

function readOnlyConnection(file: string): ReadOnlyDb {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma("user_version"); // the first read is where a missing -shm fails
  return { db, close: () => db.close() };
}

function inMemoryIndex(file: string): ReadOnlyDb {
  const db = new Database(file, { fileMustExist: true });
  db.pragma("locking_mode = EXCLUSIVE"); // before the first read: the WAL index then lives in memory
  db.pragma("busy_timeout = 5000");
  db.pragma("user_version");
  return { db, close: () => db.close() };
}

function privateCopy(file: string): ReadOnlyDb {
  const dir = mkdtempSync(join(tmpdir(), "syncd-read-only-"));
  try {
    const copy = join(dir, basename(file));
    copyFileSync(file, copy);
    if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`);
    const db = new Database(copy, { fileMustExist: true });
    db.pragma("user_version");
    return {
      db,
      close: () => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A schema this syncd would migrate cannot be, here: reading it as it is could misread it. */
function checkSchema(db: Db, dirLabel: string, problem: DiskProblem): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new SyncdError("schema-too-new", `The local library in ${dirLabel} has schema version ${version}, newer than this syncd understands (${SCHEMA_VERSION}); upgrade syncd.`);
  }
  if (version < SCHEMA_VERSION) {
    const why = problem === "full" ? "its disk is full" : `it is ${problem === "read-only" ? "read-only" : "not writable by this user"}`;
    throw new SyncdError(
      "schema-upgrade-blocked",
      `The local library in ${dirLabel} must be upgraded to this syncd's schema (version ${version} to ${SCHEMA_VERSION}), which writes to it, but ${why}; fix that and run the command again.`,
    );
  }
}
