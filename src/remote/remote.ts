import type { Readable } from "node:stream";
import { isRemoteError } from "./errors.js";

/**
 * The narrow view of a WebDAV share that the sync engine needs. Paths are relative to the share's root
 * folder (`metadata.db`, `ab/ab12…`, `version.txt.lock/`), always with forward slashes and no leading `/`.
 * Implementations throw RemoteError (see errors.ts) for every failure, naming the URL and the status.
 */
export interface Remote {
  /** Human-readable location of the share root, for messages (no credentials). */
  readonly location: string;

  /** Reads a small file whole. Throws RemoteError kind "not-found" when it does not exist. */
  get(path: string): Promise<Buffer>;
  /** Opens a file for streaming; the caller must consume or destroy the stream. */
  getStream(path: string): Promise<Readable>;
  /**
   * Writes a file, always with a Content-Length (never a chunked body: FIELD-NOTES). A stream body is
   * given as a factory so that a retry can reopen it. Parent folders must exist (see mkdir).
   */
  put(path: string, body: Buffer | StreamBody): Promise<void>;
  /** Deletes a file (or a folder, with a trailing `/`). Throws kind "not-found" when it is already gone. */
  delete(path: string): Promise<void>;
  /** Moves a file, replacing the destination if it exists. */
  move(from: string, to: string): Promise<void>;
  /**
   * Creates a folder; succeeds when it already exists. Its parent must exist, except for the root (""):
   * that one is created with every missing folder of webdav.root above it, one level at a time.
   */
  mkdir(path: string): Promise<void>;
  /** Stat of a file or folder, or null when it does not exist. */
  stat(path: string): Promise<RemoteStat | null>;
  /** The direct children of a folder (Depth: 1, the folder itself excluded), with the server's clock. */
  list(dir: string): Promise<Listing>;
  /**
   * The size of the file at `path`, or null when there is none (nothing, or a folder), by the smallest
   * request that tells it (a HEAD): for checking an upload, where `stat`'s other properties are bytes wasted.
   */
  size(path: string): Promise<number | null>;
  /**
   * The sizes of the files directly in a folder, by name, from a Depth 1 listing that asks for nothing else
   * (about a third of `list`'s bytes per entry). A member the server lists without a size is left out, and
   * a listing may lack members (rclone's end early, FIELD-NOTES): a name that is not there must be asked
   * for with `size`, never taken as missing. A folder that does not exist gives an empty map.
   */
  sizes(dir: string): Promise<Map<string, number>>;
  /** Releases sockets and, for an embedded share, the server. */
  close(): Promise<void>;
}

export interface StreamBody {
  size: number;
  open(): Readable;
}

export interface RemoteStat {
  /** Path relative to the share root, as given to or derived by the Remote. */
  path: string;
  /** Last path segment. */
  name: string;
  type: "file" | "directory";
  size: number;
  /** Server modification time (1 s granularity on every server measured). */
  mtime: Date;
  etag: string | null;
}

export interface Listing {
  entries: RemoteStat[];
  /** The server's clock from the response's Date header, when it sent one. */
  serverDate: Date | null;
}

/** Deletes a file (or folder), which may be gone already: someone else removed it, or an earlier try did. */
export async function deleteIgnoringMissing(remote: Remote, path: string): Promise<void> {
  try {
    await remote.delete(path);
  } catch (err) {
    if (!isRemoteError(err, "not-found")) throw err;
  }
}
