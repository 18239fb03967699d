/**
 * Publishing a run's changes as the share's next version (SPEC §3, docs/share-format.md). Under the lock,
 * after re-reading version.txt and finding the version the run started from:
 * - ordinarily, one journal segment with only the rows the run changed is uploaded (named by its SHA-256,
 *   so the name itself is checked by every reader), then version.txt names it;
 * - a new share, a format-1 share (the upgrade), or a repair without a journal writes the whole snapshot:
 *   uploaded under a temporary name, moved into place, then version.txt;
 * - when the journal has passed its bounds, the same writer folds it into a new snapshot (compaction.ts).
 * version.txt is always written last, so a reader finds the old version or the new one, and a writer that
 * dies in between leaves only files nothing names yet. The replica commits the run's changes only once
 * version.txt holds them.
 */
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ShareError } from "../errors.js";
import { isRemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { uninterrupted } from "../remote/stop.js";
import { putHashed } from "../sync/hashing.js";
import { compactIfDue, type CompactionBounds } from "./compaction.js";
import { JOURNAL_DIR, segmentPath, VERSION_TXT } from "./layout.js";
import { SEGMENT_KIND, writeSegmentFile } from "./segment.js";
import { readVersion, sameProbe, type LoadedShare } from "./share-access.js";
import { placeSnapshot, uploadSnapshot } from "./snapshot.js";
import { formatVersionFile, headOf, SEGMENT_WINDOW, type SegmentRef, type VersionInfo } from "./version-file.js";

export interface PublishContext {
  remote: Remote;
  /** The lease's token: names this writer's temporary upload. */
  token: string;
  /** Throws when the lease no longer allows a write (remote/lease.ts). */
  beforeWrite: () => void;
  log?: (message: string, data?: Record<string, unknown>) => void;
  /** When the journal is folded into a new snapshot (compaction.ts); default: compactionBounds(). */
  compaction?: CompactionBounds;
}

/**
 * Publishes the pending changes of `share.db` as share version `version`. A shutdown does not interrupt it
 * (stop.ts): the share is left at the old or the new version, never between.
 */
export function publishShare(ctx: PublishContext, share: LoadedShare, version: number): Promise<VersionInfo> {
  return uninterrupted("publishing", () => publish(ctx, share, version));
}

async function publish(ctx: PublishContext, share: LoadedShare, version: number): Promise<VersionInfo> {
  const { remote } = ctx;
  const now = await readVersion(remote);
  if (!sameProbe(now, share.startedFrom)) {
    throw new ShareError(
      "publish-raced",
      `${remote.location}/${VERSION_TXT} changed while this run held the lock; nothing was published, the next run will merge again.`,
    );
  }
  const from = share.startedFrom;
  if (share.wholeSnapshot || from.kind !== "ok" || !from.info.journal) return publishWhole(ctx, share, version);
  const published = await publishSegment(ctx, share, from.info, version);
  return compactIfDue(ctx, share, published);
}

/** One segment with the run's changes, then version.txt naming it. */
async function publishSegment(ctx: PublishContext, share: LoadedShare, from: VersionInfo, version: number): Promise<VersionInfo> {
  const { remote, beforeWrite } = ctx;
  const journal = from.journal!;
  const file = join(share.workDir, `segment-out-${randomUUID()}`);
  try {
    const written = await writeSegmentFile(
      file,
      { kind: SEGMENT_KIND, format: 2, share: from.share, version, parent: headOf(from), back: journal.window },
      share.db.pendingChanges(),
    );
    const ref: SegmentRef = { version, sha256: written.sha256, bytes: written.bytes };
    await putSegment(ctx, ref, file);
    const next: VersionInfo = {
      ...from,
      version,
      journal: { ...journal, bytesSinceSnapshot: journal.bytesSinceSnapshot + ref.bytes, window: [...journal.window, ref].slice(-SEGMENT_WINDOW) },
    };
    beforeWrite();
    await remote.put(VERSION_TXT, Buffer.from(formatVersionFile(next)));
    share.db.setHead(ref.sha256);
    share.db.commitPending();
    return next;
  } finally {
    await rm(file, { force: true });
  }
}

async function putSegment(ctx: PublishContext, ref: SegmentRef, file: string): Promise<void> {
  const put = async () => {
    ctx.beforeWrite();
    const sent = await putHashed(ctx.remote, segmentPath(ref), ref.bytes, () => createReadStream(file));
    if (!sent || sent.bytes !== ref.bytes || sent.hash !== ref.sha256) {
      throw new ShareError("publish-incomplete", `Only ${sent?.bytes ?? 0} of the ${ref.bytes} bytes of journal segment ${ref.version} were sent; nothing was published.`);
    }
  };
  try {
    await put();
  } catch (err) {
    // The journal folder is made with every snapshot; if someone removed it, a PUT into it fails in the way
    // of that server (409, 404, 500): made again, once.
    if (!isRemoteError(err) || !["conflict", "not-found", "server"].includes(err.kind)) throw err;
    ctx.beforeWrite();
    await ctx.remote.mkdir(JOURNAL_DIR);
    await put();
  }
}

/**
 * The whole snapshot at `version`: a new share, a format-1 share upgraded to format 2, or a repaired one.
 * The replica commits first (a snapshot is written from committed state) but is marked unpublished until
 * version.txt names the snapshot: a crash in between leaves a replica the next run does not trust.
 */
async function publishWhole(ctx: PublishContext, share: LoadedShare, version: number): Promise<VersionInfo> {
  const { remote, beforeWrite } = ctx;
  const { db } = share;
  db.setHead("unpublished");
  db.commitPending();
  const file = join(share.workDir, `snapshot-${randomUUID()}.db`);
  try {
    db.writeSnapshot(file, null);
    const uploaded = await uploadSnapshot(remote, file, ctx.token, beforeWrite);
    beforeWrite();
    await remote.mkdir(JOURNAL_DIR);
    await placeSnapshot(remote, uploaded.tmp, beforeWrite);
    const published: VersionInfo = {
      version,
      sha256: uploaded.sha256,
      share: db.shareId,
      journal: { snapshot: { version, bytes: uploaded.bytes }, first: version + 1, bytesSinceSnapshot: 0, window: [], compacting: null },
    };
    beforeWrite();
    await remote.put(VERSION_TXT, Buffer.from(formatVersionFile(published)));
    db.setHead(uploaded.sha256);
    return published;
  } finally {
    await rm(file, { force: true });
  }
}
