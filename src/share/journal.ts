/**
 * Reading the journal (docs/share-format.md): the segments a copy at version `from` needs to reach the
 * version version.txt names, fetched in parallel, each checked against the SHA-256 it is named by before
 * anything in it is read. version.txt names the newest SEGMENT_WINDOW segments; every segment names the
 * ones before it, so a reader further behind follows those back-links, a window at a time.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import { ShareError } from "../errors.js";
import type { Remote } from "../remote/remote.js";
import { fetchTwiceIf, isBrokenBody } from "../sync/refetch.js";
import { segmentPath } from "./layout.js";
import { readSegmentFile } from "./segment.js";
import { downloadTo } from "./snapshot.js";
import type { SegmentRef, VersionInfo } from "./version-file.js";

/** A segment on local disk, its bytes checked against its name. */
export interface FetchedSegment {
  ref: SegmentRef;
  file: string;
  /** The head it was written on (the previous segment's SHA-256, or the snapshot's). */
  parent: string;
}

/**
 * A segment that version.txt (or a segment's back-links) names is not on the share: a compaction removed
 * it meanwhile, or the share is damaged. The caller reads version.txt again to tell which.
 */
export class SegmentGone extends Error {
  constructor(readonly ref: SegmentRef) {
    super(`journal segment ${ref.version} is not on the share`);
  }
}

export const SEGMENT_FETCHES = 8;

/**
 * Fetches segments from+1 … info.version into `dir`, in parallel. Returns them oldest first. Throws
 * SegmentGone for one that is not there, ShareError("journal-damaged") for one whose bytes never match.
 */
export async function fetchSegments(remote: Remote, info: VersionInfo, from: number, dir: string, concurrency = SEGMENT_FETCHES): Promise<FetchedSegment[]> {
  const journal = info.journal;
  if (!journal || from >= info.version) return [];
  const known = new Map<number, SegmentRef>(journal.window.map((r) => [r.version, r]));
  const fetched = new Map<number, FetchedSegment>();
  const limit = pLimit(concurrency);
  const location = (ref: SegmentRef) => `${remote.location}/${segmentPath(ref)}`;
  try {
    for (;;) {
      const wanted = [...known.values()].filter((r) => r.version > from && r.version <= info.version && !fetched.has(r.version));
      if (wanted.length === 0) break;
      await Promise.all(
        wanted.map((ref) =>
          limit(async () => {
            const file = join(dir, `segment-${ref.version}-${ref.sha256.slice(0, 12)}`);
            await download(remote, ref, file);
            const header = await readSegmentFile(file, ref, info.share, location(ref));
            fetched.set(ref.version, { ref, file, parent: header.parent });
            for (const b of header.back) if (!known.has(b.version)) known.set(b.version, b);
          }),
        ),
      );
    }
    const out: FetchedSegment[] = [];
    for (let v = from + 1; v <= info.version; v++) {
      const segment = fetched.get(v);
      if (!segment) {
        throw new ShareError("journal-damaged", `The share's journal has no link to segment ${v} (version.txt names version ${info.version}); the share is damaged.`);
      }
      out.push(segment);
    }
    // Each segment must have been written on the one before it: otherwise these are not one history.
    for (let i = 1; i < out.length; i++) {
      if (out[i]!.parent !== out[i - 1]!.ref.sha256) {
        throw new ShareError("journal-damaged", `The journal segment ${location(out[i]!.ref)} was not written on segment ${out[i - 1]!.ref.version}; the share is damaged.`);
      }
    }
    return out;
  } catch (err) {
    await Promise.all([...fetched.values()].map((s) => rm(s.file, { force: true })));
    throw err;
  }
}

/** Downloads one segment to `file`, hashing it on the way; a body that does not match is fetched once more. */
async function download(remote: Remote, ref: SegmentRef, file: string): Promise<void> {
  await fetchTwiceIf(
    async () => {
      const got = await downloadTo(remote, segmentPath(ref), file);
      if (!got) throw new SegmentGone(ref);
      if (got.sha256 === ref.sha256 && got.size === ref.bytes) return;
      await rm(file, { force: true });
      throw new ShareError(
        "journal-damaged",
        `The journal segment ${remote.location}/${segmentPath(ref)} does not match the checksum it is named by (${got.size} bytes); the share is damaged.`,
      );
    },
    (err) => isBrokenBody(err) || (err instanceof ShareError && err.code === "journal-damaged"),
  );
}
