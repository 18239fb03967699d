/**
 * Reading and publishing the share's shared state (SPEC §3): `version.txt`, then `metadata.db` verified
 * against the SHA-256 that version.txt names. Publishing writes metadata.db under a temporary name, moves
 * it into place, and writes version.txt last, so a reader always finds either the old or the new state,
 * and a writer that dies in between leaves a newer valid metadata.db that the next holder adopts.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { ShareError } from "../errors.js";
import { isRemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import { uninterrupted } from "../remote/stop.js";
import { METADATA_DB, METADATA_TMP_PREFIX, VERSION_TXT } from "./layout.js";
import { hashingTransform, putHashed } from "./hashing.js";
import { fetchTwiceIf, isBrokenBody } from "./refetch.js";
import { SharedDb } from "./shared-db.js";
import { formatVersionFile, parseVersionFile, type VersionInfo } from "./version-file.js";

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
  if (a.kind === "ok" && b.kind === "ok") {
    return a.info.version === b.info.version && a.info.sha256 === b.info.sha256 && a.info.share === b.info.share;
  }
  if (a.kind === "invalid" && b.kind === "invalid") return a.text === b.text;
  return true;
}

export interface LoadedShare {
  db: SharedDb;
  /** version.txt as found under the lock: publishing requires finding it unchanged. */
  startedFrom: VersionProbe;
  /** The share was created by this run (it was empty). */
  created: boolean;
  /** version.txt does not describe metadata.db (a writer died mid-publish): publish even with no change. */
  repaired: string | null;
}

/**
 * Loads the share's metadata into a private working copy in `workDir`. An empty folder becomes a new share
 * (with a new share id); a metadata.db that is newer than version.txt (a writer died between moving it into
 * place and writing version.txt) is adopted and the run republishes it; anything else that does not check
 * out is refused with a message that says what is wrong.
 */
export async function loadShare(remote: Remote, workDir: string, newShareId: () => string): Promise<LoadedShare> {
  // We hold the lock, so nobody writes meanwhile: a download that does not check out was either damaged on
  // its way (a proxy, a body cut short) or is damaged on the share. One more download tells which.
  return fetchTwiceIf(
    () => loadShareOnce(remote, workDir, newShareId),
    (err) => (err instanceof ShareError && (err.code === "metadata-mismatch" || err.code === "metadata-corrupt")) || isBrokenBody(err),
  );
}

async function loadShareOnce(remote: Remote, workDir: string, newShareId: () => string): Promise<LoadedShare> {
  const startedFrom = await readVersion(remote);
  const file = join(workDir, `shared-${randomUUID()}.db`);
  const location = `${remote.location}/${METADATA_DB}`;
  const downloaded = await downloadTo(remote, METADATA_DB, file);

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
      if (downloaded.sha256 === startedFrom.info.sha256 && db.version === startedFrom.info.version) {
        return { db, startedFrom, created: false, repaired: null };
      }
      if (db.version > startedFrom.info.version) {
        return { db, startedFrom, created: false, repaired: `adopted metadata.db version ${db.version}, newer than version.txt (${startedFrom.info.version})` };
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
    // version.txt missing or torn, but a metadata.db is there: a writer died before writing version.txt.
    const db = SharedDb.open(file, location);
    return { db, startedFrom, created: false, repaired: `rewrote ${VERSION_TXT} for metadata.db version ${db.version}` };
  }
  if (startedFrom.kind === "invalid") {
    throw new ShareError(
      "version-invalid",
      `${remote.location}/${VERSION_TXT} is not a syncd version file and there is no metadata.db; point webdav.root at a folder of its own.`,
    );
  }
  return { db: SharedDb.create(file, newShareId()), startedFrom, created: true, repaired: null };
}

/** Streams a remote file to disk, hashing as it goes; null when the remote file does not exist. */
async function downloadTo(remote: Remote, path: string, file: string): Promise<{ sha256: string; size: number } | null> {
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
 * Publishes a closed metadata.db file as share version `version`. `beforeWrite` guards every write with
 * the lease; version.txt is re-read first and must still be what this run started from. A shutdown does
 * not interrupt it (stop.ts): the share is left at the old or the new version, never between.
 */
export function publishShare(...args: Parameters<typeof publish>): Promise<VersionInfo> {
  return uninterrupted("publishing", () => publish(...args));
}

async function publish(
  remote: Remote,
  file: string,
  info: { version: number; share: string },
  startedFrom: VersionProbe,
  token: string,
  beforeWrite: () => void,
): Promise<VersionInfo> {
  const now = await readVersion(remote);
  if (!sameProbe(now, startedFrom)) {
    throw new ShareError(
      "publish-raced",
      `${remote.location}/${VERSION_TXT} changed while this run held the lock; nothing was published, the next run will merge again.`,
    );
  }
  const { size } = await stat(file);
  const tmp = `${METADATA_TMP_PREFIX}${token}`;
  beforeWrite();
  // Hashed on its way up (one read of the file, not two): what the server acknowledged is what was hashed.
  const sent = await putHashed(remote, tmp, size, () => createReadStream(file));
  if (!sent || sent.bytes !== size) {
    throw new ShareError("publish-incomplete", `Only ${sent?.bytes ?? 0} of the ${size} bytes of metadata.db were sent; nothing was published.`);
  }
  const sha256 = sent.hash;
  beforeWrite();
  await remote.move(tmp, METADATA_DB);
  const published: VersionInfo = { version: info.version, sha256, share: info.share };
  beforeWrite();
  await remote.put(VERSION_TXT, Buffer.from(formatVersionFile(published)));
  return published;
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
    try {
      await remote.delete(e.name);
    } catch (err) {
      if (!isRemoteError(err, "not-found")) throw err;
    }
  }
  return stale.map((e) => e.name);
}
