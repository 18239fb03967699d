/**
 * A journal segment's bytes (docs/share-format.md): gzip of newline-separated JSON. The first line is the
 * header, every other line one changed row (replication.ts). A segment is immutable and content-addressed:
 * its file name and version.txt carry its SHA-256, and nothing in it is used before that hash matched.
 *
 * Segments are written and read as streams through files, never whole in memory: a first sync's commit
 * can hold a million rows.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { ShareError } from "../errors.js";
import { hashingTransform } from "../sync/hashing.js";
import type { RowChange } from "./replication.js";
import type { SegmentRef } from "./version-file.js";

export const SEGMENT_KIND = "syncd-journal-segment";

export interface SegmentHeader {
  kind: typeof SEGMENT_KIND;
  format: 2;
  share: string;
  /** The share version this segment makes. */
  version: number;
  /** The head (share-format.md) of the version it was written on: the previous segment's or snapshot's SHA-256. */
  parent: string;
  /** The segments just before it, oldest first (up to SEGMENT_WINDOW): a reader far behind follows them back. */
  back: SegmentRef[];
}

/** Writes a segment to `file`; returns its SHA-256 and size. */
export async function writeSegmentFile(file: string, header: SegmentHeader, changes: Iterable<RowChange>): Promise<{ sha256: string; bytes: number }> {
  function* lines(): Generator<string> {
    yield `${JSON.stringify(header)}\n`;
    for (const c of changes) yield `${JSON.stringify(c)}\n`;
  }
  const tap = hashingTransform();
  await pipeline(Readable.from(lines()), createGzip({ level: 6 }), tap.stream, createWriteStream(file));
  const { hash, bytes } = tap.digest();
  return { sha256: hash, bytes };
}

/** Longer than any row a segment carries (an entry's metadata is bounded far below it): a line past it is not a row. */
const MAX_LINE = 64 << 20;

/**
 * Reads a segment file whose bytes were checked against `ref`: the header (checked to be the one expected:
 * this share, this version), then each change in order to `onChange` (skipped when onChange is absent).
 * Anything malformed is a damaged share: a ShareError that says so.
 */
export async function readSegmentFile(
  file: string,
  ref: SegmentRef,
  share: string,
  location: string,
  onChange?: (change: RowChange) => void,
): Promise<SegmentHeader> {
  const bad = (why: string) => new ShareError("journal-damaged", `The journal segment ${location} ${why}; the share is damaged.`);
  const source = createReadStream(file);
  const gunzip = createGunzip();
  source.pipe(gunzip);
  let failure: Error | null = null;
  gunzip.on("error", (err) => (failure = err));
  const lines = createInterface({ input: gunzip, crlfDelay: Infinity });
  let header: SegmentHeader | null = null;
  try {
    for await (const line of lines) {
      if (line.length > MAX_LINE) throw bad("has a line longer than any row");
      if (line === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw bad("is not newline-separated JSON");
      }
      if (!header) {
        header = checkHeader(value, ref, share, bad);
        if (!onChange) break;
        continue;
      }
      const c = value as RowChange;
      if (c === null || typeof c !== "object" || typeof c.t !== "string" || !("k" in c) || !("row" in c)) throw bad("has a malformed change");
      onChange?.(c);
    }
  } catch (err) {
    if (err instanceof ShareError) throw err;
    throw bad(`does not decompress (${(err as Error).message})`);
  } finally {
    lines.close();
    source.destroy();
    gunzip.destroy();
  }
  if (failure && onChange) throw bad(`does not decompress (${(failure as Error).message})`);
  if (!header) throw bad(failure ? `does not decompress (${(failure as Error).message})` : "is empty");
  return header;
}

function checkHeader(value: unknown, ref: SegmentRef, share: string, bad: (why: string) => ShareError): SegmentHeader {
  const header = value as SegmentHeader;
  if (header === null || typeof header !== "object" || header.kind !== SEGMENT_KIND || header.format !== 2) throw bad("is not a syncd journal segment");
  if (header.share !== share) throw bad(`belongs to share ${String(header.share).slice(0, 64)}`);
  if (header.version !== ref.version) throw bad(`says version ${String(header.version)}, not ${ref.version}`);
  if (typeof header.parent !== "string" || !/^[0-9a-f]{64}$/.test(header.parent)) throw bad("names no parent");
  if (!Array.isArray(header.back) || !header.back.every(isRef)) throw bad("has malformed back-links");
  return header;
}

function isRef(r: unknown): r is SegmentRef {
  const x = r as SegmentRef;
  return (
    x !== null &&
    typeof x === "object" &&
    Number.isSafeInteger(x.version) &&
    typeof x.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(x.sha256) &&
    Number.isSafeInteger(x.bytes) &&
    x.bytes >= 0
  );
}
