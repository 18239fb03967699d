/**
 * A bad day on the local disk in one sentence (issue 11): a data directory that cannot be written (a
 * read-only mount, its permissions) or a disk that is full, whether Node's file system calls or SQLite ran
 * into it. Before this, `syncd ls` on a read-only data directory said "unexpected error: unable to open
 * database file". SQLite's own codes often leave the cause open ("unable to open database file", "disk I/O
 * error"): then the directory itself is asked (can it be written, how much room is left).
 */
import { accessSync, constants, existsSync, statfsSync } from "node:fs";
import { relative, isAbsolute } from "node:path";
import { SyncdError } from "../errors.js";

export type DiskProblem = "read-only" | "not-writable" | "full";

/** Below this much free space, a write that failed with an unspecific I/O error is taken to have hit a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

const PROBLEM_OF_CODE: Record<string, DiskProblem> = {
  ENOSPC: "full",
  EDQUOT: "full",
  SQLITE_FULL: "full",
  EROFS: "read-only",
  EACCES: "not-writable",
  EPERM: "not-writable",
};

/** Codes that say "something about the disk", without saying what: the directory is asked. */
const UNSPECIFIC = /^(SQLITE_CANTOPEN|SQLITE_IOERR|SQLITE_READONLY|SQLITE_PERM)/;

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** What is wrong with writing into `dir` right now, if anything that can be told from outside. */
export function diagnoseDir(dir: string): DiskProblem | null {
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    if (codeOf(err) === "EROFS") return "read-only";
    if (codeOf(err) === "EACCES" || codeOf(err) === "EPERM") return "not-writable";
    return null;
  }
  try {
    const fs = statfsSync(dir);
    if (fs.bavail * fs.bsize < NEARLY_FULL_BYTES || (fs.files > 0 && fs.ffree === 0)) return "full";
  } catch {
    // No answer: nothing to add.
  }
  return null;
}

/** The disk problem behind `err`, when it is one, for a file in `dir`. */
export function diskProblem(err: unknown, dir: string): DiskProblem | null {
  const code = codeOf(err);
  if (code === undefined || err instanceof SyncdError) return null;
  const known = PROBLEM_OF_CODE[code];
  // SQLite names a read-only database as such, but the directory says whether it is the mount or the permissions.
  if (known) return known === "full" ? known : (diagnoseDir(dir) ?? known);
  if (UNSPECIFIC.test(code)) return diagnoseDir(dir) ?? (code.startsWith("SQLITE_READONLY") ? "read-only" : null);
  return null;
}

export class DiskError extends SyncdError {
  constructor(
    readonly problem: DiskProblem,
    where: string,
    detail: string,
    options?: { cause?: unknown; missing?: boolean },
  ) {
    super(`disk-${problem}`, describe(problem, where, detail, options?.missing === true), options);
  }
}

function describe(problem: DiskProblem, where: string, detail: string, missing: boolean): string {
  const why = detail ? ` (${detail})` : "";
  if (problem === "full") return `The disk holding ${where} is full: free some space and try again${why}.`;
  // Nothing can be read from a directory that is not there: say so, not that reading still works.
  if (missing) return `${capital(where)} does not exist and this user cannot create it${why}: create it, owned by this user, or set another dataDir in the config.`;
  const only = "commands that only read, such as ls, get and status, still work";
  if (problem === "read-only") return `${capital(where)} is read-only: this needs to write to it${why}; ${only}.`;
  return `${capital(where)} is not writable by this user: this needs to write to it${why}; check its owner and permissions (${only}).`;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * `err` as a DiskError naming the data directory (or, for a file outside it, that file), when it is a disk
 * problem; null otherwise. For the boundaries that report errors: the CLI's commands, the library.
 */
export function localDiskError(err: unknown, dataDir: string): DiskError | null {
  const path = (err as { path?: unknown } | null)?.path;
  const outside = typeof path === "string" && !inside(path, dataDir);
  const problem = diskProblem(err, outside ? parentOf(path) : dataDir);
  if (!problem) return null;
  const where = outside ? path : `the data directory ${dataDir}`;
  const code = codeOf(err) as string;
  const message = err instanceof Error ? err.message.replace(/^\w+: /, "").replace(/, \w+ '.*'$/, "") : "";
  const missing = !outside && !existsSync(dataDir);
  return new DiskError(problem, where, message && !message.startsWith(code) ? `${code}: ${message}` : message || code, { cause: err, missing });
}

function inside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

function parentOf(path: string): string {
  return path.replace(/\/[^/]*\/?$/, "") || "/";
}
