/**
 * The snapshot, `metadata.db`: downloaded whole (a new instance, one that fell behind the kept journal, a
 * format-1 share) and uploaded whole (a new share, the upgrade of a format-1 share, a compaction). An upload
 * goes to a temporary name first and is moved into place, so that the file under the real name is always
 * complete; which snapshot is current is said by version.txt alone, written after.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { ShareError } from "../errors.js";
import { isRemoteError } from "../remote/errors.js";
import { deleteIgnoringMissing, type Remote } from "../remote/remote.js";
import { hashingTransform, putHashed } from "../sync/hashing.js";
import { METADATA_DB, METADATA_TMP_PREFIX } from "./layout.js";

/** Streams a remote file to disk, hashing as it goes; null when the remote file does not exist. */
export async function downloadTo(remote: Remote, path: string, file: string): Promise<{ sha256: string; size: number } | null> {
  let source;
  try {
    source = await remote.getStream(path);
  } catch (err) {
    if (isRemoteError(err, "not-found")) return null;
    throw err;
  }
  const tap = hashingTransform();
  try {
    await pipeline(source, tap.stream, createWriteStream(file));
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  const { hash, bytes } = tap.digest();
  return { sha256: hash, size: bytes };
}

/**
 * Uploads a closed snapshot file under `metadata.db.tmp-<token>`, hashed on its way up (what the server
 * acknowledged is what was hashed). Returns its SHA-256 and size; nothing is in place yet.
 */
export async function uploadSnapshot(remote: Remote, file: string, token: string, beforeWrite: () => void): Promise<{ tmp: string; sha256: string; bytes: number }> {
  const { size } = await stat(file);
  const tmp = `${METADATA_TMP_PREFIX}${token}`;
  beforeWrite();
  const sent = await putHashed(remote, tmp, size, () => createReadStream(file));
  if (!sent || sent.bytes !== size) {
    throw new ShareError("publish-incomplete", `Only ${sent?.bytes ?? 0} of the ${size} bytes of metadata.db were sent; nothing was published.`);
  }
  return { tmp, sha256: sent.hash, bytes: size };
}

/** Moves an uploaded snapshot into place as metadata.db. */
export async function placeSnapshot(remote: Remote, tmp: string, beforeWrite: () => void): Promise<void> {
  beforeWrite();
  await remote.move(tmp, METADATA_DB);
}

/**
 * Deletes `metadata.db.tmp-*` uploads that a dead writer left in the share root (never our own).
 * Only called under the lock, after evidence of a dead writer, so it costs nothing on ordinary runs.
 */
export async function removeStaleUploads(remote: Remote, ownToken: string, beforeWrite: () => void): Promise<string[]> {
  const { entries } = await remote.list("");
  const stale = entries.filter((e) => e.type === "file" && e.name.startsWith(METADATA_TMP_PREFIX) && e.name !== `${METADATA_TMP_PREFIX}${ownToken}`);
  for (const e of stale) {
    beforeWrite();
    await deleteIgnoringMissing(remote, e.name);
  }
  return stale.map((e) => e.name);
}
