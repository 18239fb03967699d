/**
 * Reaching into a test share's folder on disk, as a damaged disk, a careless admin or a buggy writer would:
 * data files removed or overwritten, metadata.db rows rewritten (and version.txt made to match, so that the
 * share still checks out as a consistent one).
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Remote } from "../../src/remote/remote.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { formatVersionFile } from "../../src/share/version-file.js";
import { readShareState } from "./share-state.js";
import type { TestShare } from "./shares.js";

export function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The folder on disk of a share's root (`dir` is what the server serves, `root` the config's webdav.root). */
export function shareRoot(dir: string, root = "/syncd"): string {
  return join(dir, root.replace(/^\//, ""));
}

export function dataFile(rootDir: string, hash: string): string {
  return join(rootDir, hash.slice(0, 2), hash);
}

/**
 * Deletes a file through the server, not behind its back: rclone caches its folder listings, and a GET of a
 * file removed from its disk meanwhile never answers (measured: rclone 1.60 with the default dir cache).
 */
export async function deleteThroughServer(share: TestShare, path: string, root = "/syncd"): Promise<void> {
  await withRemote(share, root, (remote) => remote.delete(path));
}

/** Writes a file through the server (see deleteThroughServer). */
export async function putThroughServer(share: TestShare, path: string, content: string, root = "/syncd"): Promise<void> {
  await withRemote(share, root, (remote) => remote.put(path, Buffer.from(content)));
}

async function withRemote(share: TestShare, root: string, fn: (remote: Remote) => Promise<void>): Promise<void> {
  const remote = createWebdavRemote({ url: share.url, root, username: share.username, password: share.password, timeoutMs: 10_000 });
  try {
    await fn(remote);
  } finally {
    await remote.close();
  }
}

/** The share's rows as they are now: the snapshot with the journal after it applied (share-state.ts). */
export function shareRows(rootDir: string): Array<{ id: string; name: string; hash: string; size: number; deleted: number }> {
  const state = readShareState(rootDir);
  if (!state) throw new Error("the share has no valid version.txt and metadata.db");
  try {
    return state.db.prepare("SELECT id, name, hash, size, deleted FROM entries ORDER BY id").all() as Array<{
      id: string;
      name: string;
      hash: string;
      size: number;
      deleted: number;
    }>;
  } finally {
    state.db.close();
  }
}

/**
 * Publishes a new share version whose metadata was changed by `edit` (given the new version number), the
 * way a writer of the whole snapshot would: metadata.db holds the new version and version.txt names it as
 * the snapshot, with no journal after it.
 */
export function rewriteShare(rootDir: string, edit: (db: Database.Database, version: number) => void): number {
  const state = readShareState(rootDir);
  if (!state) throw new Error("the share has no valid version.txt");
  if (state.problems.length > 0) throw new Error(`the share is damaged: ${state.problems.join("; ")}`);
  const { db, info } = state;
  const version = info.version + 1;
  let bytes: Buffer;
  try {
    db.transaction(() => {
      edit(db, version);
      db.prepare("UPDATE share SET value = ? WHERE key = 'version'").run(String(version));
      db.prepare("DELETE FROM share WHERE key = 'journal_head'").run();
    })();
    bytes = db.serialize();
  } finally {
    db.close();
  }
  writeFileSync(join(rootDir, "metadata.db"), bytes);
  const journal = { snapshot: { version, bytes: bytes.length }, first: version + 1, bytesSinceSnapshot: 0, window: [], compacting: null };
  writeFileSync(join(rootDir, "version.txt"), formatVersionFile({ version, sha256: sha256(bytes), share: info.share, journal }));
  return version;
}
