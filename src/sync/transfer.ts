/**
 * Moving data files between the local store and the share: bounded concurrency, streamed both ways
 * (a 1 GB file never sits in memory), and verified: an upload is re-hashed as it is read from the local
 * store and its size checked on the server before anything references it; a download is accepted only
 * if its SHA-256 is the hash it is stored under.
 */
import type { Readable } from "node:stream";
import pLimit from "p-limit";
import { IntegrityError, ShareError } from "../errors.js";
import { isRemoteError, type RemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { putHashed } from "./hashing.js";
import { fetchTwiceIf, isBrokenBody } from "./refetch.js";
import type { BlobStore } from "../store/blob-store.js";
import type { FileProgress, TransferProgress } from "./transfer-progress.js";
import { dataDir, dataPath } from "../share/layout.js";

export interface DataFile {
  hash: string;
  size: number;
}

export interface UploadOptions {
  concurrency: number;
  /** Called before every write to the share; throws when the lease no longer allows writing. */
  beforeWrite: () => void;
  /** Told of each file's bytes as the requests take them. */
  progress: TransferProgress;
  /** Told of each batch of uploads once the server is known to hold them whole (the run record). */
  onVerified?: (hashes: string[]) => void;
  /**
   * Told of a file the server refused as too large (413): the others go on instead of the run failing, and
   * the caller leaves out what needed it. Without it, the run fails.
   */
  onTooLarge?: (file: DataFile, err: RemoteError) => void;
  /** About how many data files each data folder already holds: see VerifyOptions. */
  expectedFolderSize?: FolderSize;
  /**
   * Whether a data folder is known to exist on the share (the share's metadata references a file in it, and
   * syncd never deletes a data folder): its MKCOL is not sent (400–800 bytes on the wire, more than checking
   * the upload). Should the folder be missing after all, the PUT fails for it, and it is created then.
   */
  folderExists?: (dir: string) => boolean;
}

export interface VerifyOptions {
  /**
   * About how many data files each data folder holds besides the ones checked (the share's data files /
   * 256). It decides whether a folder is listed or its files are checked one by one (worthListing). When
   * unknown, files are checked one by one: that costs at most ~1.8 times a listing of their folder, where
   * listing a folder of a big share to check a few files costs without bound (~1 MB at a million files).
   * Given per folder when the caller knows it (the share's metadata counts a folder's files by its index).
   */
  expectedFolderSize?: FolderSize;
}

/** How many data files a folder holds besides the ones checked: one estimate for all, or per folder. */
export type FolderSize = number | ((dir: string) => number);

/**
 * Uploads are verified and recorded in batches of whole data folders (uploadBatches): a killed run repeats
 * at most one batch.
 */
const VERIFY_BATCH = 256;

export async function uploadFiles(remote: Remote, blobs: BlobStore, files: DataFile[], opts: UploadOptions): Promise<number> {
  const folders = new DataFolders(remote, opts);
  await folders.prepare(files, opts.concurrency);
  let bytes = 0;
  for (const batch of uploadBatches(files)) {
    const refused = new Set<DataFile>();
    await forEachLimited(batch, opts.concurrency, async (file) => {
      opts.beforeWrite();
      const progress = opts.progress.begin(file);
      try {
        await folders.uploadInto(file, () => uploadOne(remote, blobs, file, progress));
        bytes += file.size;
      } catch (err) {
        if (!(opts.onTooLarge && isRemoteError(err, "too-large"))) throw err;
        refused.add(file);
        opts.onTooLarge(file, err);
      }
      progress.end();
    });
    const stored = batch.filter((f) => !refused.has(f));
    await verifyUploads(remote, stored, opts.concurrency, opts);
    opts.onVerified?.(stored.map((f) => f.hash));
  }
  return bytes;
}

/**
 * The uploads in hash order, cut into batches of whole data folders: each folder is then checked once,
 * when all of its uploads are there (a folder split between two batches would be listed twice, the second
 * time with the first batch's files in it). A batch holds at most VERIFY_BATCH files, unless one folder's
 * uploads alone are more (a first upload of a million files: ~3,900 a folder).
 */
export function uploadBatches(files: DataFile[]): DataFile[][] {
  const batches: DataFile[][] = [];
  let batch: DataFile[] = [];
  for (const folder of byFolder(files).values()) {
    if (batch.length > 0 && batch.length + folder.length > VERIFY_BATCH) {
      batches.push(batch);
      batch = [];
    }
    for (const file of folder) batch.push(file);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Files by data folder, folders and the files in each in hash order. */
function byFolder(files: DataFile[]): Map<string, DataFile[]> {
  const ordered = [...files].sort((x, y) => (x.hash < y.hash ? -1 : x.hash > y.hash ? 1 : 0));
  const out = new Map<string, DataFile[]>();
  for (const file of ordered) {
    const dir = dataDir(file.hash);
    const folder = out.get(dir);
    if (folder) folder.push(file);
    else out.set(dir, [file]);
  }
  return out;
}

/**
 * The data folders uploads go into: the ones not known to exist are created before any upload; one that
 * was known to exist but is missing after all is created when a PUT into it fails for that reason, and
 * the PUT is sent again.
 */
class DataFolders {
  private readonly made = new Map<string, Promise<void>>();

  constructor(
    private readonly remote: Remote,
    private readonly opts: Pick<UploadOptions, "beforeWrite" | "folderExists">,
  ) {}

  async prepare(files: DataFile[], concurrency: number): Promise<void> {
    const known = this.opts.folderExists ?? (() => false);
    const dirs = [...new Set(files.map((f) => dataDir(f.hash)))].filter((dir) => !known(dir));
    await forEachLimited(dirs, concurrency, (dir) => this.make(dir));
  }

  async uploadInto(file: DataFile, upload: () => Promise<void>): Promise<void> {
    const dir = dataDir(file.hash);
    // A folder created before this PUT started is there: a failure of the PUT is then about something else.
    const createdBefore = this.made.has(dir);
    try {
      await upload();
    } catch (err) {
      // Kind "conflict" is how WebdavRemote reports a PUT into a missing folder, whatever the server's status.
      // But when another upload made the folder while this PUT was in flight, WebdavRemote finds the folder
      // there and reports the server's own status (nginx: 500): that PUT also deserves its second try.
      const madeMeanwhile = !createdBefore && this.made.has(dir);
      if (createdBefore || !isRemoteError(err) || (err.kind !== "conflict" && !madeMeanwhile)) throw err;
      await this.make(dir);
      this.opts.beforeWrite();
      await upload();
    }
  }

  /** One MKCOL per folder, however many uploads wait for it. */
  private make(dir: string): Promise<void> {
    let made = this.made.get(dir);
    if (!made) {
      this.opts.beforeWrite();
      made = this.remote.mkdir(dir);
      this.made.set(dir, made);
    }
    return made;
  }
}

async function uploadOne(remote: Remote, blobs: BlobStore, file: DataFile, progress: FileProgress): Promise<void> {
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
  // Bytes count as they are read into the request: a second attempt (the Remote's retry, or uploadInto's
  // after making the folder) counts afresh without moving the bar back (transfer-progress.ts).
  const sent = await putHashed(remote, dataPath(file.hash), file.size, () => blobs.openRead(file.hash, file.size), progress);
  if (!sent || sent.bytes !== file.size || sent.hash !== file.hash) {
    throw new IntegrityError(
      `The local copy of ${file.hash} is corrupt (what was read of it hashes to ${sent?.hash ?? "nothing"}, ${sent?.bytes ?? 0} of ${file.size} bytes); restore it or remove the entry.`,
    );
  }
}

/**
 * Checks that the server holds every uploaded file at its full size, by the fewest bytes on the wire (see
 * notWhole). A body cut short or stored empty (PHP-FPM and chunked bodies, FIELD-NOTES) is caught here,
 * before anything references it.
 */
async function verifyUploads(remote: Remote, files: DataFile[], concurrency: number, opts: VerifyOptions): Promise<void> {
  const [short] = await notWhole(remote, files, concurrency, opts);
  if (short) {
    throw new ShareError(
      "upload-unverified",
      `The server stored ${remote.location}/${dataPath(short.file.hash)} with ${short.found ?? "no"} bytes instead of ${short.file.size}.`,
    );
  }
}

/**
 * The files the share does not hold at their full size (missing, or shorter: a PUT cut short on a server that
 * writes in place, as rclone and sabre/dav do), with what was found, in hash order. Each data folder is
 * either listed (sizes only) or its files are asked for one by one, whichever costs fewer bytes
 * (worthListing).
 */
export async function notWhole(
  remote: Remote,
  files: DataFile[],
  concurrency: number,
  opts: VerifyOptions = {},
): Promise<Array<{ file: DataFile; found: number | null }>> {
  const out: Array<{ file: DataFile; found: number | null }> = [];
  const judge = (file: DataFile, size: number | null) => {
    if (size !== file.size) out.push({ file, found: size });
  };
  // One lookup per listed folder and per file checked by itself, so that `concurrency` spans both.
  const lookups: Array<() => Promise<void>> = [];
  for (const [dir, expected] of byFolder(files)) {
    const others = typeof opts.expectedFolderSize === "function" ? opts.expectedFolderSize(dir) : opts.expectedFolderSize;
    if (worthListing(expected.length, others)) lookups.push(() => checkByListing(remote, dir, expected, judge));
    else for (const file of expected) lookups.push(async () => judge(file, await sizeOf(remote, file)));
  }
  await forEachLimited(lookups, concurrency, (lookup) => lookup());
  return out.sort((x, y) => (x.file.hash < y.file.hash ? -1 : 1));
}

/**
 * Bytes on the wire, measured on the six servers of the test matrix (issue 13), in units of one entry of a
 * sizes-only listing (240–315 bytes, most of it the entry's path): a file checked by itself (a HEAD and its
 * answer, 450–620 bytes) costs about 1.8 entries; a listing's own request, answer headers and entry for the
 * folder itself about 3.3.
 */
const CHECK_COST = 1.8;
const LISTING_COST = 3.3;

/**
 * Whether listing a folder that holds `checked` files to check and about `others` more costs fewer bytes
 * than checking the `checked` one by one: when the checked files are most of the folder (a first upload),
 * not when they are a few in a big share's folder.
 */
export function worthListing(checked: number, others: number | undefined): boolean {
  return others !== undefined && LISTING_COST + others + checked < CHECK_COST * checked;
}

/** Checks the files of one folder by one listing. */
async function checkByListing(remote: Remote, dir: string, files: DataFile[], judge: (file: DataFile, size: number | null) => void): Promise<void> {
  const sizes = await remote.sizes(dir);
  for (const file of files) {
    // Some servers list lazily (rclone, FIELD-NOTES): a file missing from the listing is asked for directly.
    const listed = sizes.get(file.hash);
    judge(file, listed ?? (await sizeOf(remote, file)));
  }
}

/**
 * The size of one file, by the cheapest request (a HEAD). One that is not the expected size is asked again
 * by PROPFIND before it is believed: an application that answers HEAD without running its GET may say
 * Content-Length 0, and every upload would then fail. What PROPFIND says is what a listing would say.
 */
async function sizeOf(remote: Remote, file: DataFile): Promise<number | null> {
  const size = await remote.size(dataPath(file.hash));
  if (size === file.size) return size;
  const found = await remote.stat(dataPath(file.hash));
  return found?.type === "file" ? found.size : null;
}

export interface DownloadOptions {
  concurrency: number;
  /** Called before each download starts; throws to stop (an aborted run). */
  beforeEach?: () => void;
  /** Told of each file's bytes as the responses bring them. */
  progress: TransferProgress;
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
    const progress = opts.progress.begin(file);
    if (!blobs.has(file.hash)) {
      try {
        const got = await downloadOne(remote, blobs, file, progress); // not `bytes += await`: that reads `bytes` before waiting
        bytes += got;
      } catch (err) {
        const problem = opts.onUnavailable ? unavailability(err) : null;
        if (!problem) throw err;
        opts.onUnavailable?.(file, problem);
      }
    }
    progress.end();
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
async function downloadOne(remote: Remote, blobs: BlobStore, file: DataFile, progress: FileProgress): Promise<number> {
  try {
    await fetchInto(remote, blobs, file.hash, file.size, progress);
    return file.size;
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    const found = await remote.stat(dataPath(file.hash));
    if (!found || found.type !== "file" || found.size === file.size) throw err;
    try {
      await fetchInto(remote, blobs, file.hash, found.size, progress);
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
async function fetchInto(remote: Remote, blobs: BlobStore, hash: string, size: number, progress: FileProgress): Promise<void> {
  await fetchTwiceIf(
    async () => {
      progress.restart();
      const stream = await remote.getStream(dataPath(hash));
      await blobs.writeFromStream(counted(stream, progress), hash, size, { dirSync: "deferred" });
    },
    (err) => err instanceof IntegrityError || isBrokenBody(err),
  );
}

/**
 * The chunks of a download, told to progress as they arrive. When the consumer stops early (a body longer
 * than announced), leaving the loop destroys the response stream.
 */
async function* counted(stream: Readable, progress: FileProgress): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    progress.moved(buf.length);
    yield buf;
  }
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
