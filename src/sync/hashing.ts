/** Hashing a stream on its way somewhere else (uploads and downloads of data files and of metadata.db). */
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import type { Remote } from "../remote/remote.js";

interface HashingTap {
  stream: Readable;
  /** SHA-256 and count of the bytes that have passed through so far. */
  digest(): { hash: string; bytes: number };
}

/**
 * Passes a stream through while computing its SHA-256. The digest is taken on demand rather than on the
 * source's 'end': the server may answer a PUT as soon as it has Content-Length bytes, before the file
 * stream has read its EOF, and the request then destroys the body. A source whose only pipe goes away is
 * paused by Node, so its 'end' would never come and a run waiting for it would hang (a CLI process whose
 * event loop then empties exits with status 0 in the middle of the upload phase). Destroying the tap
 * destroys the source too, so its file descriptor is not left open.
 */
function hashingTap(source: Readable, onBytes?: (n: number) => void): HashingTap {
  const { stream, digest } = hashingTransform(onBytes);
  source.on("error", (err) => stream.destroy(err));
  stream.on("close", () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(stream);
  return { stream, digest };
}

/** Told of the bytes of a PUT's body as the request takes them (progress), and of each new attempt. */
export interface PutWatcher {
  restart(): void;
  moved(bytes: number): void;
}

/**
 * PUTs `size` bytes from `open` and returns the SHA-256 and count of what was sent, read from the one pass
 * that fed the request (of its last attempt, if the Remote opened the body again); null if it was never opened.
 */
export async function putHashed(
  remote: Remote,
  path: string,
  size: number,
  open: () => Readable,
  watch?: PutWatcher,
): Promise<{ hash: string; bytes: number } | null> {
  let tap: HashingTap | null = null;
  await remote.put(path, {
    size,
    open: () => {
      watch?.restart();
      tap = hashingTap(open(), watch && ((n) => watch.moved(n)));
      return tap.stream;
    },
  });
  return (tap as HashingTap | null)?.digest() ?? null;
}

/** A pass-through Transform that hashes what crosses it: a stage of a pipeline (downloads). */
export function hashingTransform(onBytes?: (n: number) => void): { stream: Transform; digest(): { hash: string; bytes: number } } {
  const hasher = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hasher.update(chunk);
      bytes += chunk.length;
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  return { stream, digest: () => ({ hash: hasher.copy().digest("hex"), bytes }) };
}
