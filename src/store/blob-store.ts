/**
 * The local content-addressed store: `<root>/blobs/<aa>/<sha256>`, temporary files in `<root>/tmp`
 * (root is the data directory; tmp is on the same file system, so the final rename is atomic).
 *
 * A blob only ever appears under its name complete and verified: bytes go to a temp file, are hashed as
 * they stream (never buffered whole: 1 GB files pass through in chunks), fsynced, then renamed into place
 * and the directory fsynced, so a crash leaves either nothing or the whole blob. Hashes are checked before
 * any path is built from them: they also arrive from other instances through the share.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { type FileHandle, mkdir, open, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { IntegrityError, SyncdError } from "../errors.js";
import { isValidHash } from "../model/entry.js";

export interface BlobInfo {
  hash: string;
  size: number;
}

const TEMP_PREFIX = "blob-";
/** Read size when copying a file in: one buffer per write, reused, so a 1 GB file leaves no garbage behind. */
const COPY_CHUNK = 256 * 1024;
/** Temp files untouched for this long belong to no live writer (a writer touches its file with every chunk). */
const DEFAULT_TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface WriteOptions {
  /**
   * "now" (the default): the blob's directory entry is fsynced before the write resolves. "deferred": the
   * rename is atomic but its durability is left to `syncDirs()`, which the caller must await before
   * committing anything that references the blob (a download batch: one fsync per folder, not per file).
   */
  dirSync?: "now" | "deferred";
}

export class BlobStore {
  readonly blobDir: string;
  readonly tmpDir: string;
  /** Folders holding renames not yet made durable (WriteOptions.dirSync "deferred"). */
  private readonly unsyncedDirs = new Set<string>();

  constructor(readonly root: string) {
    this.blobDir = join(root, "blobs");
    this.tmpDir = join(root, "tmp");
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
  }

  path(hash: string): string {
    checkHash(hash);
    return join(this.blobDir, hash.slice(0, 2), hash);
  }

  has(hash: string): boolean {
    try {
      return statSync(this.path(hash)).isFile();
    } catch (err) {
      if (errCode(err) === "ENOENT") return false;
      throw err;
    }
  }

  /** The size of a stored blob, or null when it is not stored: what an entry's `size` is checked against. */
  sizeOf(hash: string): number | null {
    try {
      const st = statSync(this.path(hash));
      return st.isFile() ? st.size : null;
    } catch (err) {
      if (errCode(err) === "ENOENT") return null;
      throw err;
    }
  }

  async writeFromFile(srcPath: string): Promise<BlobInfo> {
    const notRegular = () => new SyncdError("source-unreadable", `${srcPath} is not a regular file.`);
    let source: FileHandle;
    try {
      // stat before open: opening a FIFO for reading would block until something writes to it.
      if (!(await stat(srcPath)).isFile()) throw notRegular();
      source = await open(srcPath, "r");
    } catch (err) {
      if (err instanceof SyncdError) throw err;
      throw new SyncdError("source-unreadable", `Cannot read ${srcPath}: ${errCode(err) ?? String(err)}.`, { cause: err });
    }
    try {
      if (!(await source.stat()).isFile()) throw notRegular();
      return await this.writeFromStream(readChunks(source, Buffer.allocUnsafe(COPY_CHUNK)));
    } finally {
      await source.close();
    }
  }

  /**
   * Streams `readable` into the store. With `expectedHash` (a download), the bytes must hash to it and
   * nothing is kept otherwise; with `expectedSize`, a stream longer than announced is cut off early rather
   * than filling the disk.
   */
  async writeFromStream(
    readable: Readable | AsyncIterable<Buffer>,
    expectedHash?: string,
    expectedSize?: number,
    opts: WriteOptions = {},
  ): Promise<BlobInfo> {
    if (expectedHash !== undefined) checkHash(expectedHash);
    const tmp = join(this.tmpDir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}.tmp`);
    const hasher = createHash("sha256");
    let size = 0;
    let fh: FileHandle | undefined;
    let placed = false;
    try {
      fh = await open(tmp, "wx", 0o644);
      for await (const chunk of readable) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
        size += buf.length;
        if (expectedSize !== undefined && size > expectedSize) {
          throw new IntegrityError(`Received more than the announced ${expectedSize} bytes for ${expectedHash ?? "a file"}.`);
        }
        hasher.update(buf);
        await writeAll(fh, buf);
      }
      await fh.sync();
      await fh.close();
      fh = undefined;

      const hash = hasher.digest("hex");
      if (expectedHash !== undefined && hash !== expectedHash) {
        throw new IntegrityError(`Received data for ${expectedHash} that hashes to ${hash}; it was discarded.`);
      }
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new IntegrityError(`Received ${size} bytes for ${expectedHash ?? "a file"} instead of ${expectedSize}.`);
      }
      const dir = join(this.blobDir, hash.slice(0, 2));
      // mkdir returns the directory it created, if any: only then does the parent need an fsync too.
      if (await mkdir(dir, { recursive: true })) await fsyncDir(this.blobDir);
      // Replacing an existing blob is harmless (same bytes, just verified) and heals a corrupted copy.
      await rename(tmp, join(dir, hash));
      placed = true;
      if (opts.dirSync === "deferred") this.unsyncedDirs.add(dir);
      else await fsyncDir(dir);
      return { hash, size };
    } catch (err) {
      throw diskFull(err, expectedHash ?? "a file", this.root);
    } finally {
      if (fh) await fh.close().catch(() => {});
      if (!placed) await unlink(tmp).catch(() => {});
      if (!placed && readable instanceof Readable && !readable.readableEnded) readable.destroy();
    }
  }

  /** Makes the renames of deferred writes durable: one fsync per folder they touched. */
  async syncDirs(): Promise<void> {
    const dirs = [...this.unsyncedDirs];
    this.unsyncedDirs.clear();
    try {
      await Promise.all(dirs.map((dir) => fsyncDir(dir)));
    } catch (err) {
      for (const dir of dirs) this.unsyncedDirs.add(dir);
      throw err;
    }
  }

  async writeBuffer(buf: Buffer): Promise<BlobInfo> {
    return this.writeFromStream(Readable.from([buf]));
  }

  /**
   * Opens a blob for reading; throws at once (not on the stream) when it is missing. With its `size` (an
   * upload), the stream reads exactly that many bytes in buffers no larger than the file, and ends after
   * the last byte without a separate read for the end of the file: 10,000 small uploads no longer allocate
   * 64 KB twice each.
   */
  openRead(hash: string, size?: number): Readable {
    if (!this.has(hash)) {
      throw new IntegrityError(`The local store has no data for ${hash}; it is missing from ${this.blobDir}.`);
    }
    if (size === undefined || size <= 0) return createReadStream(this.path(hash));
    return createReadStream(this.path(hash), { start: 0, end: size - 1, highWaterMark: Math.min(size, 64 * 1024) });
  }

  /** Re-hashes a stored blob; false when it is missing or its bytes do not match its name. */
  async verify(hash: string): Promise<boolean> {
    const file = this.path(hash);
    const hasher = createHash("sha256");
    try {
      for await (const chunk of createReadStream(file)) hasher.update(chunk as Buffer);
    } catch (err) {
      if (errCode(err) === "ENOENT") return false;
      throw err;
    }
    return hasher.digest("hex") === hash;
  }

  remove(hash: string): void {
    try {
      unlinkSync(this.path(hash));
    } catch (err) {
      if (errCode(err) !== "ENOENT") throw err;
    }
  }

  /**
   * Deletes temp files left by crashed writers. Only files not modified for `maxAgeMs`: the CLI and the
   * daemon share a data directory, and a younger file may be another process's write in progress.
   */
  cleanTemp(maxAgeMs = DEFAULT_TEMP_MAX_AGE_MS): void {
    const cutoff = Date.now() - maxAgeMs;
    for (const name of readdirSync(this.tmpDir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const file = join(this.tmpDir, name);
      try {
        // mtimeMs carries sub-millisecond digits that Date.now() drops: floored, a file written in this very
        // millisecond still counts as "not newer than now" (cleanTemp(0) must remove every temp file).
        if (Math.floor(statSync(file).mtimeMs) <= cutoff) unlinkSync(file);
      } catch (err) {
        if (errCode(err) !== "ENOENT") throw err;
      }
    }
  }
}

function checkHash(hash: string): void {
  if (typeof hash !== "string" || !isValidHash(hash)) {
    throw new IntegrityError(`Invalid content hash ${JSON.stringify(String(hash).slice(0, 80))}: expected 64 lowercase hex digits.`);
  }
}

/**
 * A file's bytes in chunks of one reused buffer. Safe because the consumer (writeFromStream) hashes and
 * writes each chunk completely before it asks for the next.
 */
async function* readChunks(fh: FileHandle, buf: Buffer): AsyncGenerator<Buffer> {
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
  }
}

/** FileHandle.write may write less than asked; loop until the whole chunk is on its way to disk. */
async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

/** Makes a rename or a new entry in `dir` durable. Some file systems refuse to fsync a directory: fine. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (err) {
    const code = errCode(err);
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM" && code !== "EBADF") throw err;
  } finally {
    await fh?.close().catch(() => {});
  }
}

function diskFull(err: unknown, what: string, root: string): unknown {
  const code = errCode(err);
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new SyncdError("disk-full", `Local disk is full while writing ${what} into ${root}; free some space and try again.`, {
      cause: err,
    });
  }
  return err;
}

function errCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}
