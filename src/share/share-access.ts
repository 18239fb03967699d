/**
 * Reading the share's shared state (SPEC §3, docs/share-format.md): `version.txt`, then the metadata it
 * names, verified. On a format-2 share that is this instance's replica (its own copy of the shared
 * metadata, kept between runs) brought forward by the journal segments it missed; only a new instance, one
 * that fell behind the kept journal, or one whose replica is not of this share's history downloads the
 * whole snapshot. A format-1 share (syncd 0.1) is read whole, as it always was, and upgraded by the first
 * run that publishes to it (publish.ts).
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ShareError } from "../errors.js";
import { isRemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { fetchTwiceIf, isBrokenBody } from "../sync/refetch.js";
import { fetchSegments, SegmentGone, type FetchedSegment } from "./journal.js";
import { METADATA_DB, segmentPath, VERSION_TXT } from "./layout.js";
import type { RowChange } from "./replication.js";
import { readSegmentFile } from "./segment.js";
import { SharedDb } from "./shared-db.js";
import { downloadTo } from "./snapshot.js";
import { formatVersionFile, headOf, parseVersionFile, type VersionInfo } from "./version-file.js";

export type VersionProbe =
  | { kind: "ok"; info: VersionInfo }
  | { kind: "missing" }
  | { kind: "invalid"; text: string };

/** GET version.txt. Network and server errors propagate: the state is then unknown, never "up to date". */
export async function readVersion(remote: Remote): Promise<VersionProbe> {
  let body: Buffer;
  try {
    body = await remote.get(VERSION_TXT);
  } catch (err) {
    if (isRemoteError(err, "not-found")) return { kind: "missing" };
    throw err;
  }
  const text = body.toString("utf8");
  const info = parseVersionFile(text);
  return info ? { kind: "ok", info } : { kind: "invalid", text: text.slice(0, 200) };
}

export function sameProbe(a: VersionProbe, b: VersionProbe): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "ok" && b.kind === "ok") return formatVersionFile(a.info) === formatVersionFile(b.info);
  if (a.kind === "invalid" && b.kind === "invalid") return a.text === b.text;
  return true;
}

export interface LoadedShare {
  /** The shared metadata at the share's version; the run's changes to it stay pending until published. */
  db: SharedDb;
  /** version.txt as found under the lock: publishing requires finding it unchanged. */
  startedFrom: VersionProbe;
  /** The share was created by this run (it was empty). */
  created: boolean;
  /** version.txt does not describe metadata.db (a writer died mid-publish): publish even with no change. */
  repaired: string | null;
  /** The next publish uploads the whole snapshot: a new share, a format-1 share (upgraded), a repair. */
  wholeSnapshot: boolean;
  /** What reaching the share's version took: the snapshot downloaded or not, segments applied. */
  fetched: { snapshot: boolean; segments: number };
  /** Where the run's temporary files go. */
  workDir: string;
  /** The copy is this instance's replica (kept after the run), not a temporary one. */
  replica: boolean;
}

export interface LoadOptions {
  /** This instance's replica of the shared metadata (kept between runs); null: a temporary copy in workDir. */
  replicaFile?: string | null;
}

/**
 * Loads the share's metadata. An empty folder becomes a new share (with a new share id); a metadata.db
 * newer than version.txt (a format-1 writer died between moving it into place and writing version.txt) is
 * adopted and the run republishes it; anything else that does not check out is refused with a message that
 * says what is wrong.
 */
export async function loadShare(remote: Remote, workDir: string, newShareId: () => string, options: LoadOptions = {}): Promise<LoadedShare> {
  for (let attempt = 1; ; attempt++) {
    try {
      // We hold the lock, so nobody writes meanwhile: a download that does not check out was either damaged on
      // its way (a proxy, a body cut short) or is damaged on the share. One more download tells which.
      const share = await fetchTwiceIf(
        () => loadShareOnce(remote, workDir, newShareId, options.replicaFile ?? null),
        (err) => (err instanceof ShareError && (err.code === "metadata-mismatch" || err.code === "metadata-corrupt")) || isBrokenBody(err),
      );
      share.db.beginPending();
      return share;
    } catch (err) {
      if (!(err instanceof SegmentGone)) throw err;
      // A segment named a moment ago is gone: a compaction moved the share on (a reader without the lock, or
      // one whose lease lapsed), and version.txt says where to start now. Unless version.txt did not move:
      // then the share lost a segment it still names.
      const now = await readVersion(remote);
      if (attempt >= 4 || (now.kind === "ok" && now.info.journal && now.info.journal.first <= err.ref.version && now.info.version >= err.ref.version)) {
        throw new ShareError(
          "journal-missing",
          `${remote.location}/${segmentPath(err.ref)} is missing although ${VERSION_TXT} names it; the share is damaged ` +
            "(restore the journal folder from a backup; instances that already hold that version are not affected).",
        );
      }
    }
  }
}

async function loadShareOnce(remote: Remote, workDir: string, newShareId: () => string, replicaFile: string | null): Promise<LoadedShare> {
  const startedFrom = await readVersion(remote);
  if (startedFrom.kind === "ok" && startedFrom.info.journal) return loadJournaled(remote, startedFrom, workDir, replicaFile);
  return loadWhole(remote, startedFrom, workDir, newShareId, replicaFile);
}

/** The file a copy of the shared metadata lives in: the replica, or a temporary file of this run. */
async function freshCopyFile(workDir: string, replicaFile: string | null): Promise<string> {
  if (!replicaFile) return join(workDir, `shared-${randomUUID()}.db`);
  await removeCopy(replicaFile);
  return replicaFile;
}

export async function removeCopy(file: string): Promise<void> {
  await rm(file, { force: true });
  await rm(`${file}-journal`, { force: true });
}

/** A format-2 share: the replica brought forward by segments, or the snapshot and the segments after it. */
async function loadJournaled(remote: Remote, startedFrom: VersionProbe & { kind: "ok" }, workDir: string, replicaFile: string | null): Promise<LoadedShare> {
  const info = startedFrom.info;
  const journal = info.journal!;
  const loaded = (db: SharedDb, snapshot: boolean, segments: number): LoadedShare => ({
    db,
    startedFrom,
    created: false,
    repaired: null,
    wholeSnapshot: false,
    fetched: { snapshot, segments },
    workDir,
    replica: replicaFile !== null,
  });
  const replica = replicaFile ? openReplica(replicaFile, info) : null;
  if (replica) {
    if (replica.version === info.version && replica.head === headOf(info)) return loaded(replica, false, 0);
    try {
      if (replica.version < info.version && replica.version + 1 >= journal.first) {
        const segments = await fetchSegments(remote, info, replica.version, workDir);
        // The first segment must follow the state this copy holds: otherwise the share is not a continuation
        // of it (restored from a backup and written again) and the copy is of no use.
        if (segments[0]?.parent === replica.head) {
          await applySegments(remote, replica, segments, info.share);
          return loaded(replica, false, segments.length);
        }
        await Promise.all(segments.map((s) => rm(s.file, { force: true })));
      }
    } catch (err) {
      replica.close();
      throw err;
    }
    replica.close();
  }
  // The snapshot, and the segments after it at the same time (a new instance waits for the larger of the two).
  const file = await freshCopyFile(workDir, replicaFile);
  const location = `${remote.location}/${METADATA_DB}`;
  // Both are waited for before either's failure is acted on: nothing is left writing into the work folder.
  const [snapshotResult, segmentsResult] = await Promise.allSettled([
    downloadTo(remote, METADATA_DB, file),
    fetchSegments(remote, info, journal.snapshot.version, workDir),
  ]);
  if (snapshotResult.status === "rejected" || segmentsResult.status === "rejected") {
    if (segmentsResult.status === "fulfilled") await Promise.all(segmentsResult.value.map((s) => rm(s.file, { force: true })));
    await removeCopy(file);
    // A vanished segment first: it sends the reader back to version.txt (loadShare), whatever else failed.
    throw segmentsResult.status === "rejected" ? segmentsResult.reason : (snapshotResult as PromiseRejectedResult).reason;
  }
  const downloaded = snapshotResult.value;
  const segments = segmentsResult.value;
  const discard = async () => {
    await Promise.all(segments.map((s) => rm(s.file, { force: true })));
    await removeCopy(file);
  };
  if (!downloaded) {
    await discard();
    throw new ShareError(
      "metadata-missing",
      `${location} is missing although ${VERSION_TXT} names version ${info.version}; the share is damaged (restore metadata.db, or see the README on resetting a share).`,
    );
  }
  // metadata.db is the snapshot version.txt names, or, while a compaction was under way, the one it made.
  const expected =
    downloaded.sha256 === info.sha256 ? journal.snapshot.version : downloaded.sha256 === journal.compacting?.sha256 ? journal.compacting.version : null;
  if (expected === null) {
    await discard();
    throw new ShareError("metadata-mismatch", `${location} does not match ${VERSION_TXT} (version ${info.version}, a different checksum); the share is damaged.`);
  }
  let db: SharedDb;
  try {
    db = SharedDb.open(file, location);
  } catch (err) {
    await discard();
    throw err;
  }
  try {
    if (db.shareId !== info.share || db.version !== expected) {
      throw new ShareError("metadata-mismatch", `${location} is version ${db.version} of share ${db.shareId}, not version ${expected} of share ${info.share}; the share is damaged.`);
    }
    const head = db.info("journal_head") ?? downloaded.sha256;
    db.setHead(head);
    const after = segments.filter((s) => s.ref.version > expected);
    await Promise.all(segments.filter((s) => s.ref.version <= expected).map((s) => rm(s.file, { force: true })));
    if (after.length > 0 && after[0]!.parent !== head) {
      throw new ShareError("journal-damaged", `The share's journal does not continue ${location} (version ${expected}); the share is damaged.`);
    }
    await applySegments(remote, db, after, info.share);
    return loaded(db, true, after.length);
  } catch (err) {
    db.close();
    await discard();
    throw err;
  }
}

/** The replica, if it can be brought forward to this share's version: of this share, not ahead of it. */
function openReplica(file: string, info: VersionInfo): SharedDb | null {
  if (!existsSync(file)) return null;
  let db: SharedDb;
  try {
    db = SharedDb.open(file, "the local replica of the share", { trusted: true });
  } catch {
    return null; // a damaged cache is rebuilt from the share
  }
  if (db.shareId === info.share && db.version <= info.version && db.head !== null) return db;
  db.close();
  return null;
}

/** Applies fetched segments in order, each in one transaction; removes their files. */
async function applySegments(remote: Remote, db: SharedDb, segments: FetchedSegment[], share: string): Promise<void> {
  try {
    for (const s of segments) {
      const location = `${remote.location}/${segmentPath(s.ref)}`;
      await db.applySegment(s.ref.version, s.ref.sha256, location, async (apply) => {
        let batch: RowChange[] = [];
        await readSegmentFile(s.file, s.ref, share, location, (change) => {
          batch.push(change);
          if (batch.length >= 1000) {
            apply(batch);
            batch = [];
          }
        });
        apply(batch);
      });
      await rm(s.file, { force: true });
    }
  } finally {
    await Promise.all(segments.map((s) => rm(s.file, { force: true })));
  }
}

/**
 * A format-1 share, or no (readable) version.txt: metadata.db is read whole, as syncd 0.1 wrote it, and the
 * run's publish writes the whole snapshot in format 2.
 */
async function loadWhole(
  remote: Remote,
  startedFrom: VersionProbe,
  workDir: string,
  newShareId: () => string,
  replicaFile: string | null,
): Promise<LoadedShare> {
  const file = await freshCopyFile(workDir, replicaFile);
  const location = `${remote.location}/${METADATA_DB}`;
  const downloaded = await downloadTo(remote, METADATA_DB, file);
  const loaded = (db: SharedDb, created: boolean, repaired: string | null): LoadedShare => {
    if (downloaded) db.setHead(downloaded.sha256);
    return { db, startedFrom, created, repaired, wholeSnapshot: true, fetched: { snapshot: downloaded !== null, segments: 0 }, workDir, replica: replicaFile !== null };
  };

  if (startedFrom.kind === "ok") {
    if (!downloaded) {
      throw new ShareError(
        "metadata-missing",
        `${location} is missing although ${VERSION_TXT} names version ${startedFrom.info.version}; the share is damaged (restore metadata.db, or see the README on resetting a share).`,
      );
    }
    const db = SharedDb.open(file, location);
    try {
      if (db.shareId !== startedFrom.info.share) {
        throw new ShareError("metadata-mismatch", `${location} belongs to share ${db.shareId} but ${VERSION_TXT} names share ${startedFrom.info.share}.`);
      }
      if (downloaded.sha256 === startedFrom.info.sha256 && db.version === startedFrom.info.version) return loaded(db, false, null);
      if (db.version > startedFrom.info.version) {
        return loaded(
          db,
          false,
          `The share's ${VERSION_TXT} still named version ${startedFrom.info.version} while its metadata was at version ${db.version} (a sync stopped between the two uploads); this run completes it.`,
        );
      }
      throw new ShareError(
        "metadata-mismatch",
        `${location} (version ${db.version}) does not match ${VERSION_TXT} (version ${startedFrom.info.version}, different checksum); the share is damaged.`,
      );
    } catch (err) {
      db.close();
      throw err;
    }
  }

  if (downloaded) {
    // version.txt missing or torn, but a metadata.db is there: a writer died before writing version.txt (or
    // version.txt was lost: the journal after that snapshot is then lost with it, which the instances'
    // newer state makes good: a share that went back in time, share-history.ts).
    const db = SharedDb.open(file, location);
    return loaded(db, false, `The share's ${VERSION_TXT} was missing or incomplete (a sync stopped before writing it); this run writes it again for version ${db.version}.`);
  }
  if (startedFrom.kind === "invalid") {
    throw new ShareError(
      "version-invalid",
      `${remote.location}/${VERSION_TXT} is not a syncd version file and there is no metadata.db; point webdav.root at a folder of its own.`,
    );
  }
  return loaded(SharedDb.create(file, newShareId()), true, null);
}
