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
import { isRemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { formatHlc } from "./hlc.js";
import type { SharedDb } from "./shared-db.js";

export const ORPHAN_GRACE_MS = 24 * 3600 * 1000;
export const GC_INTERVAL_MS = 24 * 3600 * 1000;
const LAST_GC_KEY = "last_gc_at";

/** The smallest HLC stamp of a change made at `wallMs`: tombstones stamped before it are purgeable. */
export function cutoffStamp(nowMs: number, retentionDays: number): string {
  return formatHlc({ wall: Math.max(0, nowMs - retentionDays * 86_400_000), counter: 0, node: "0" });
}

export function gcDue(db: SharedDb, nowMs: number): boolean {
  return nowMs - Number(db.info(LAST_GC_KEY) ?? 0) >= GC_INTERVAL_MS;
}

/**
 * Deletes data files that `db` does not reference and that are older than the grace period (by the
 * server's clock). Records the time in the share so that it runs once a day, not on every sync.
 */
export async function collectOrphans(remote: Remote, db: SharedDb, beforeWrite: () => void, nowMs = Date.now()): Promise<string[]> {
  const referenced = db.referencedHashes();
  const removed: string[] = [];
  const root = await remote.list("");
  for (const dir of root.entries) {
    if (dir.type !== "directory" || !/^[0-9a-f]{2}$/.test(dir.name)) continue;
    const listing = await remote.list(dir.name);
    const serverNow = (listing.serverDate ?? new Date(nowMs)).getTime();
    for (const file of listing.entries) {
      if (file.type !== "file" || !/^[0-9a-f]{64}$/.test(file.name) || referenced.has(file.name)) continue;
      if (serverNow - file.mtime.getTime() < ORPHAN_GRACE_MS) continue;
      beforeWrite();
      try {
        await remote.delete(file.path);
      } catch (err) {
        if (!isRemoteError(err, "not-found")) throw err;
      }
      removed.push(file.name);
    }
  }
  db.setInfo(LAST_GC_KEY, String(nowMs));
  return removed;
}
