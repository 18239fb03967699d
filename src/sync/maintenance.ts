/**
 * Keeping the share small over time, under the lock: tombstones are purged after the retention window
 * (SPEC §3), and data files that no row references any more are deleted once they are older than a grace
 * period. Both only change what no instance can still need:
 * - an instance whose last sync is older than the window reconciles in full (engine.ts), so it learns
 *   of a deletion whose tombstone was purged without resurrecting the entry;
 * - a data file is referenced by its rows until they are purged, and a file uploaded by a run that died
 *   before publishing is trusted by that instance's run record for an hour at most (run-record.ts),
 *   far below the grace period.
 */
import { removeStaleScratch } from "../remote/probe-scratch.js";
import { deleteIgnoringMissing, type Remote } from "../remote/remote.js";
import { formatHlc } from "./hlc.js";
import { dataPath } from "../share/layout.js";
import type { SharedDb } from "../share/shared-db.js";

export const ORPHAN_GRACE_MS = 24 * 3600 * 1000;
export const GC_INTERVAL_MS = 24 * 3600 * 1000;
const LAST_GC_KEY = "last_gc_at";

/** The smallest HLC stamp of a change made at `wallMs`: tombstones stamped before it are purgeable. */
export function cutoffStamp(nowMs: number, retentionDays: number): string {
  // Whole milliseconds: a fractional wall (a window given in fractions of a day) would not format as a
  // fixed-width stamp, and string order would no longer be clock order.
  return formatHlc({ wall: Math.max(0, Math.floor(nowMs - retentionDays * 86_400_000)), counter: 0, node: "0" });
}

/**
 * How often a share version's server time is recorded (shared-db.ts, version_times): a 24th of the
 * retention window, at most an hour, so that a purge comes at most that much after the window ends.
 */
export function versionTimeStep(retentionMs: number): number {
  return Math.min(3600_000, Math.max(1000, retentionMs / 24));
}

/**
 * The newest share version that the server's clock places before the retention window: the newest one with
 * a time mark at or before `serverNow - retentionMs` (-1: none). Every version up to it was committed at
 * least a window ago by the server's clock. (SharedDb.purgeableThrough is this, in SQL.)
 */
export function purgeableThrough(marks: Iterable<{ version: number; serverAt: number }>, serverNow: number, retentionMs: number): number {
  let through = -1;
  for (const m of marks) if (m.serverAt <= serverNow - retentionMs && m.version > through) through = m.version;
  return through;
}

/**
 * Whether a tombstone may be purged: old by this machine's clock (its stamp before `cutoff`, see cutoffStamp)
 * and by the server's (written by a version up to `through`). Neither clock alone can decide a deletion.
 * (SharedDb.purgeTombstones and LocalSyncView.purgeTombstones are this, in SQL.)
 */
export function tombstonePurgeable(t: { hlc: string; rev: number }, cutoff: string, through: number): boolean {
  return t.hlc < cutoff && t.rev <= through;
}

export function gcDue(db: SharedDb, nowMs: number): boolean {
  return nowMs - Number(db.info(LAST_GC_KEY) ?? 0) >= GC_INTERVAL_MS;
}

/** Data files deleted by one run at most: a backlog goes over several runs. */
const GARBAGE_BATCH = 1000;

/**
 * Deletes the data files that commits stopped referencing (SharedDb's garbage list) at least the grace period
 * ago by the server's clock, and takes them off the list (a change the run publishes). No listing: the
 * journal says what was replaced. A file that an interrupted run uploaded again meanwhile is safe: such a run
 * lists its earlier uploads again before it names them (engine.ts, notWhole), and re-uploads what is gone.
 */
export async function collectGarbage(remote: Remote, db: SharedDb, beforeWrite: () => void, serverNow: number): Promise<string[]> {
  const removed: string[] = [];
  for (const hash of db.garbageDue(serverNow - ORPHAN_GRACE_MS, GARBAGE_BATCH)) {
    if (!db.referenced(hash)) {
      beforeWrite();
      await deleteIgnoringMissing(remote, dataPath(hash));
      removed.push(hash);
    }
    db.dropGarbage(hash);
  }
  return removed;
}

/**
 * Deletes data files that `db` does not reference and that are older than the grace period (by the
 * server's clock). Records the time in the share so that it runs once a day, not on every sync.
 */
export async function collectOrphans(remote: Remote, db: SharedDb, beforeWrite: () => void, nowMs = Date.now()): Promise<string[]> {
  const referenced = db.referencedHashes();
  const removed: string[] = [];
  const root = await remote.list("");
  // While at it: scratch folders of capability probes that died, of any instance (remote/probe-scratch.ts).
  await removeStaleScratch(remote, root, { beforeDelete: beforeWrite });
  for (const dir of root.entries) {
    if (dir.type !== "directory" || !/^[0-9a-f]{2}$/.test(dir.name)) continue;
    const listing = await remote.list(dir.name);
    const serverNow = (listing.serverDate ?? new Date(nowMs)).getTime();
    for (const file of listing.entries) {
      if (file.type !== "file" || !/^[0-9a-f]{64}$/.test(file.name) || referenced.has(file.name)) continue;
      // Written as "not provably old" so that a file listed without a modification time (NaN: sabre/dav now
      // and then, FIELD-NOTES) is kept: it may be an upload of a run that has not published yet.
      if (!(serverNow - file.mtime.getTime() >= ORPHAN_GRACE_MS)) continue;
      beforeWrite();
      await deleteIgnoringMissing(remote, file.path);
      removed.push(file.name);
    }
  }
  db.setInfo(LAST_GC_KEY, String(nowMs));
  return removed;
}
