/**
 * Compaction (docs/share-format.md): folding the journal into a new snapshot, done by the writer that
 * finds the journal past its bounds, right after its own segment was published, still under the lock.
 *
 * Bounds, and why:
 * - the bytes of the segments since the snapshot pass 10 % of the snapshot's size (and 64 KiB, so that a
 *   small share is not rewritten on every other commit): a new instance downloads the snapshot and those
 *   segments together, so joining costs at most 1.1 × the snapshot (issue 13's target: 1.2 ×), and the
 *   snapshot upload a compaction costs is at most 10 × the journal it folds (amortised over the commits);
 * - or more than 1,000 segments since the snapshot: a new instance fetches them 8 at a time, so at 30 ms a
 *   request the journal adds at most ~4 s to joining, whatever their size.
 *
 * Steps, each safe to die after:
 * 1. the new snapshot goes up under a temporary name (a dead writer's is removed by the next holder);
 * 2. version.txt gains `compacting=`: readers accept metadata.db as either snapshot from now on;
 * 3. the new snapshot is moved into place as metadata.db;
 * 4. version.txt names it (and the journal it keeps), without `compacting=`;
 * 5. segments no reader can use any more are deleted: those up to the snapshot before this one. The journal
 *    since that snapshot is kept, so an instance that had synced since then still catches up by segments
 *    rather than by the whole snapshot; only one that fell further behind downloads it.
 */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { isRemoteError } from "../remote/errors.js";
import { deleteIgnoringMissing } from "../remote/remote.js";
import { JOURNAL_DIR, parseSegmentName, VERSION_TXT } from "./layout.js";
import type { PublishContext } from "./publish.js";
import type { LoadedShare } from "./share-access.js";
import { placeSnapshot, uploadSnapshot } from "./snapshot.js";
import { formatVersionFile, headOf, type JournalInfo, type VersionInfo } from "./version-file.js";

export interface CompactionBounds {
  /** Journal bytes since the snapshot, as a share of the snapshot's size. */
  ratio: number;
  /** ... and at least this many bytes. */
  minBytes: number;
  /** Or more segments than this since the snapshot. */
  maxSegments: number;
}

export const COMPACTION_BOUNDS: CompactionBounds = { ratio: 0.1, minBytes: 64 * 1024, maxSegments: 1000 };

/**
 * The bounds in force: the defaults, with `overrides` (SyncSettings.compaction, for tests) and the
 * environment's SYNCD_COMPACT_MAX_SEGMENTS (tests and diagnostics of the CLI: 0 compacts at every commit).
 */
export function compactionBounds(overrides: Partial<CompactionBounds> = {}, env: NodeJS.ProcessEnv = process.env): CompactionBounds {
  const fromEnv = Number(env.SYNCD_COMPACT_MAX_SEGMENTS ?? NaN);
  return { ...COMPACTION_BOUNDS, ...(Number.isSafeInteger(fromEnv) && fromEnv >= 0 ? { maxSegments: fromEnv } : {}), ...overrides };
}

/** Whether the journal of a share at `info` has passed its bounds. */
export function compactionDue(info: VersionInfo, bounds: CompactionBounds = COMPACTION_BOUNDS): boolean {
  const j = info.journal;
  if (!j) return false;
  const segments = info.version - j.snapshot.version;
  return segments > 0 && (j.bytesSinceSnapshot > Math.max(bounds.minBytes, j.snapshot.bytes * bounds.ratio) || segments > bounds.maxSegments);
}

/** Compacts when due; returns what version.txt says afterwards. The replica holds `published` committed. */
export async function compactIfDue(ctx: PublishContext, share: LoadedShare, published: VersionInfo): Promise<VersionInfo> {
  if (!compactionDue(published, ctx.compaction ?? compactionBounds())) return published;
  return compact(ctx, share, published);
}

export async function compact(ctx: PublishContext, share: LoadedShare, published: VersionInfo): Promise<VersionInfo> {
  const { remote, beforeWrite } = ctx;
  const journal = published.journal!;
  const file = join(share.workDir, `snapshot-${randomUUID()}.db`);
  let done: VersionInfo;
  try {
    share.db.writeSnapshot(file, headOf(published));
    const uploaded = await uploadSnapshot(remote, file, ctx.token, beforeWrite);
    const compacting = { version: published.version, sha256: uploaded.sha256, bytes: uploaded.bytes };
    beforeWrite();
    await remote.put(VERSION_TXT, Buffer.from(formatVersionFile({ ...published, journal: { ...journal, compacting } })));
    await placeSnapshot(remote, uploaded.tmp, beforeWrite);
    const kept: JournalInfo = {
      snapshot: { version: published.version, bytes: uploaded.bytes },
      first: journal.snapshot.version + 1,
      bytesSinceSnapshot: 0,
      window: journal.window,
      compacting: null,
    };
    done = { ...published, sha256: uploaded.sha256, journal: kept };
    beforeWrite();
    await remote.put(VERSION_TXT, Buffer.from(formatVersionFile(done)));
  } finally {
    await rm(file, { force: true });
  }
  const removed = await removeSegmentsBefore(ctx, done.journal!.first);
  ctx.log?.(`compacted the share's journal into a new snapshot at version ${done.version}`, {
    snapshotBytes: done.journal!.snapshot.bytes,
    foldedBytes: journal.bytesSinceSnapshot,
    foldedSegments: published.version - journal.snapshot.version,
    removedSegments: removed,
  });
  return done;
}

/**
 * Deletes journal files older than `first` (version.txt no longer names them, no reader can use them), and
 * any of them a dead writer left: one listing of the journal folder, only when compacting.
 */
async function removeSegmentsBefore(ctx: PublishContext, first: number): Promise<number> {
  const listing = await ctx.remote.list(JOURNAL_DIR).catch((err: unknown) => {
    if (isRemoteError(err, "not-found")) return { entries: [] };
    throw err;
  });
  let removed = 0;
  for (const entry of listing.entries) {
    const seg = entry.type === "file" ? parseSegmentName(entry.name) : null;
    if (!seg || seg.version >= first) continue;
    ctx.beforeWrite();
    await deleteIgnoringMissing(ctx.remote, `${JOURNAL_DIR}/${entry.name}`);
    removed++;
  }
  return removed;
}
