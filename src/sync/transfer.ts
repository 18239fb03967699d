/**
 * Moving data files between the local store and the share: bounded concurrency, streamed both ways
 * (a 1 GB file never sits in memory), and verified: an upload is re-hashed as it is read from the local
 * store and its size checked on the server before anything references it; a download is accepted only
 * if its SHA-256 is the hash it is stored under.
 */
import pLimit from "p-limit";
import { IntegrityError, ShareError } from "../errors.js";
import { isRemoteError, type RemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { putHashed } from "./hashing.js";
import { fetchTwiceIf, isBrokenBody } from "./refetch.js";
import type { BlobStore } from "../store/blob-store.js";
import type { PhaseProgress } from "./events.js";
import { dataDir, dataPath } from "../share/layout.js";

export interface DataFile {
  hash: string;
  size: number;
}

export interface UploadOptions {
  concurrency: number;
  /** Called before every write to the share; throws when the lease no longer allows writing. */
  beforeWrite: () => void;
  progress: PhaseProgress;
  /** Told of each batch of uploads once the server is known to hold them whole (the run record). */
  onVerified?: (hashes: string[]) => void;
  /**
   * Told of a file the server refused as too large (413): the others go on instead of the run failing, and
   * the caller leaves out what needed it. Without it, the run fails.
   */
  onTooLarge?: (file: DataFile, err: RemoteError) => void;
}

/** Uploads are verified and recorded in batches: a killed run repeats at most one batch. */
const VERIFY_BATCH = 256;

export async function uploadFiles(remote: Remote, blobs: BlobStore, files: DataFile[], opts: UploadOptions): Promise<number> {
  const dirs = [...new Set(files.map((f) => dataDir(f.hash)))];
  await forEachLimited(dirs, opts.concurrency, async (dir) => {
    opts.beforeWrite();
    await remote.mkdir(dir);
  });
  let bytes = 0;
  // In hash order, each batch spans few data folders, so verifying it takes few listings.
  const ordered = [...files].sort((x, y) => (x.hash < y.hash ? -1 : 1));
  for (let start = 0; start < ordered.length; start += VERIFY_BATCH) {
    const batch = ordered.slice(start, start + VERIFY_BATCH);
    const refused = new Set<DataFile>();
    await forEachLimited(batch, opts.concurrency, async (file) => {
      opts.beforeWrite();
      try {
        await uploadOne(remote, blobs, file);
        bytes += file.size;
      } catch (err) {
        if (!(opts.onTooLarge && isRemoteError(err, "too-large"))) throw err;
        refused.add(file);
        opts.onTooLarge(file, err);
      }
      opts.progress.advance(1, file.size);
    });
    const stored = batch.filter((f) => !refused.has(f));
    await verifyUploads(remote, stored, opts.concurrency);
    opts.onVerified?.(stored.map((f) => f.hash));
  }
  return bytes;
}

async function uploadOne(remote: Remote, blobs: BlobStore, file: DataFile): Promise<void> {
  // A size that is not the bytes' would be published with them (and a short file would leave the PUT waiting
  // for bytes that never come): the store's own size decides first.
  const held = blobs.sizeOf(file.hash);
  if (held !== null && held !== file.size) {
    throw new IntegrityError(
      `The local copy of ${file.hash} holds ${held} bytes but its entry says ${file.size}; nothing was uploaded (run "syncd check" to see which entry is wrong).`,
    );
  }
  // The server acknowledged `size` bytes, and every byte it received went through the hash first: the hash of
  // what was sent is known now. (Waiting for the file's 'end' instead could wait forever: see hashing.)
  const sent = await putHashed(remote, dataPath(file.hash), file.size, () => blobs.openRead(file.hash, file.size));
  if (!sent || sent.bytes !== file.size || sent.hash !== file.hash) {
    throw new IntegrityError(
      `The local copy of ${file.hash} is corrupt (what was read of it hashes to ${sent?.hash ?? "nothing"}, ${sent?.bytes ?? 0} of ${file.size} bytes); restore it or remove the entry.`,
    );
  }
}

/**
 * Checks that the server holds every uploaded file at its full size, with one listing per data folder
 * rather than one request per file (10,000 uploads: ~256 PROPFINDs instead of 10,000). A body cut short
 * or stored empty (PHP-FPM and chunked bodies, FIELD-NOTES) is caught here, before anything references it.
 */
async function verifyUploads(remote: Remote, files: DataFile[], concurrency: number): Promise<void> {
  const [short] = await notWhole(remote, files, concurrency);
  if (short) {
    throw new ShareError(
      "upload-unverified",
      `The server stored ${remote.location}/${dataPath(short.file.hash)} with ${short.found ?? "no"} bytes instead of ${short.file.size}.`,
    );
  }
}

/**
 * The files the share does not hold at their full size (missing, or shorter: a PUT cut short on a server that
 * writes in place, as rclone and sabre/dav do), with what was found. One listing per data folder.
 */
export async function notWhole(remote: Remote, files: DataFile[], concurrency: number): Promise<Array<{ file: DataFile; found: number | null }>> {
  const byDir = new Map<string, DataFile[]>();
  for (const file of files) {
    const dir = dataDir(file.hash);
    byDir.set(dir, [...(byDir.get(dir) ?? []), file]);
  }
  const out: Array<{ file: DataFile; found: number | null }> = [];
  await forEachLimited([...byDir], concurrency, async ([dir, expected]) => {
    const listing = await remote.list(dir).catch((err: unknown) => {
      if (isRemoteError(err, "not-found")) return { entries: [] };
      throw err;
    });
    const sizes = new Map(listing.entries.map((e) => [e.name, e.size]));
    for (const file of expected) {
      // Some servers list lazily (rclone, FIELD-NOTES): a file missing from the listing is asked for directly.
      const size = sizes.has(file.hash) ? sizes.get(file.hash) : (await remote.stat(dataPath(file.hash)))?.size;
      if (size !== file.size) out.push({ file, found: size ?? null });
    }
  });
  return out;
}

export interface DownloadOptions {
  concurrency: number;
  /** Called before each download starts; throws to stop (an aborted run). */
  beforeEach?: () => void;
  progress: PhaseProgress;
  /**
   * Told of a data file that is missing or damaged on the share (see unavailability): the download goes on
   * with the others instead of failing, and the file stays out of the store. Without it, the run fails.
   */
  onUnavailable?: (file: DataFile, problem: DataProblem) => void;
}

/** Why a data file cannot be had from the share: its bytes, not the connection, are at fault. */
export interface DataProblem {
  kind: "missing" | "damaged";
  /** What was found, to end a sentence: "is missing on the share". */
  detail: string;
}

/**
 * Downloads into the local store. Each blob is fsynced before it is renamed into place, but the renames are
 * made durable once per folder at the end (not twice per file): 2,000 small files took 4.8 s with a
 * directory fsync each, ~3.5 s this way. The engine commits rows that reference them only after this returns.
 */
export async function downloadFiles(remote: Remote, blobs: BlobStore, files: DataFile[], opts: DownloadOptions): Promise<number> {
  let bytes = 0;
  await forEachLimited(files, opts.concurrency, async (file) => {
    opts.beforeEach?.();
    if (!blobs.has(file.hash)) {
      try {
        const got = await downloadOne(remote, blobs, file); // not `bytes += await`: that reads `bytes` before waiting
        bytes += got;
      } catch (err) {
        const problem = opts.onUnavailable ? unavailability(err) : null;
        if (!problem) throw err;
        opts.onUnavailable?.(file, problem);
      }
    }
    opts.progress.advance(1, file.size);
  });
  await blobs.syncDirs();
  return bytes;
}

/**
 * One data file into the local store, verified by its hash; returns the bytes stored. Nothing unverified is
 * ever kept (writeFromStream).
 *
 * When the bytes are not what the entry announced and the share's file has another size, the entry's `size`
 * may be the only thing wrong (a row that lies, SPEC §3): fetched at the file's own size, bytes that hash to
 * their name are the content, whatever a row says, and the run corrects the row (repair.ts). Anything else
 * stays a damaged file.
 */
async function downloadOne(remote: Remote, blobs: BlobStore, file: DataFile): Promise<number> {
  try {
    await fetchInto(remote, blobs, file.hash, file.size);
    return file.size;
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    const found = await remote.stat(dataPath(file.hash));
    if (!found || found.type !== "file" || found.size === file.size) throw err;
    try {
      await fetchInto(remote, blobs, file.hash, found.size);
    } catch (again) {
      throw again instanceof IntegrityError ? err : again;
    }
    return found.size;
  }
}

/**
 * A body that breaks off or arrives with the wrong bytes is fetched once more (refetch.ts), because a whole
 * run failing for one bad transfer would start every download over.
 */
async function fetchInto(remote: Remote, blobs: BlobStore, hash: string, size: number): Promise<void> {
  await fetchTwiceIf(
    async () => {
      const stream = await remote.getStream(dataPath(hash));
      await blobs.writeFromStream(stream, hash, size, { dirSync: "deferred" });
    },
    (err) => err instanceof IntegrityError || isBrokenBody(err),
  );
}

/** A download failure that is the share's data file's fault (not the network's, not our disk's), or null. */
export function unavailability(err: unknown): DataProblem | null {
  if (isRemoteError(err, "not-found")) return { kind: "missing", detail: "is missing on the share" };
  if (err instanceof IntegrityError) return { kind: "damaged", detail: "is damaged on the share (its bytes do not match its hash)" };
  return null;
}

/**
 * Runs `fn` over the items, at most `concurrency` at a time. After the first failure no new item starts;
 * it waits for the ones in flight to settle (so no request outlives the run) and rethrows that failure.
 */
export async function forEachLimited<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(Math.max(1, concurrency));
  let failure: { error: unknown } | null = null;
  await Promise.all(
    items.map((item) =>
      limit(async () => {
        if (failure) return;
        try {
          await fn(item);
        } catch (error) {
          failure ??= { error };
        }
      }),
    ),
  );
  if (failure) throw (failure as { error: unknown }).error;
}
