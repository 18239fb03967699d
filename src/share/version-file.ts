/**
 * `version.txt`: the one small file the O(1) skip check reads (SPEC §3, docs/share-format.md).
 *
 * Format 1 (syncd 0.1):
 *   line 1: the decimal commit counter
 *   `sha256=<hex of metadata.db>` and `share=<share id>` lines
 * Format 2 adds, without changing those three (so that a format-1 syncd still finds metadata.db by its
 * checksum, opens it, and refuses it for its newer schema version):
 *   `format=2`
 *   `snapshot=<version> <bytes>`        the version metadata.db holds, and its size
 *   `journal=<first> <bytes>`           the oldest segment kept, and the bytes of the segments after the snapshot
 *   `segment=<version> <sha256> <bytes>` the newest segments (at most SEGMENT_WINDOW), oldest first, contiguous
 *   `compacting=<version> <sha256> <bytes>` while a compaction may have moved a newer snapshot into place
 * Unknown lines are ignored, so that later versions may add some.
 */
export const SEGMENT_WINDOW = 16;

/** A journal segment as version.txt (or another segment's back-links) names it. */
export interface SegmentRef {
  version: number;
  sha256: string;
  bytes: number;
}

export interface JournalInfo {
  /** The version metadata.db holds, and its size in bytes. */
  snapshot: { version: number; bytes: number };
  /** The oldest segment the share keeps: every segment from it to the head exists. */
  first: number;
  /** Bytes of the segments after the snapshot (the compaction bound reads it). */
  bytesSinceSnapshot: number;
  /** The newest segments, oldest first, ending at the head version when the head is a segment. */
  window: SegmentRef[];
  /** A compaction that may have moved this snapshot into place (metadata.db is then either snapshot). */
  compacting: SegmentRef | null;
}

export interface VersionInfo {
  version: number;
  /** SHA-256 of metadata.db (the snapshot). */
  sha256: string;
  share: string;
  /** Format 2's journal; null on a format-1 share. */
  journal: JournalInfo | null;
}

/**
 * What identifies the share's state at its version: the newest segment's SHA-256 when a segment made it,
 * the snapshot's otherwise (a format-1 share, a new or upgraded one). Two states with the same version
 * number and different heads are different histories (a restored share written again).
 */
export function headOf(info: VersionInfo): string {
  const last = info.journal?.window.at(-1);
  return last && last.version === info.version ? last.sha256 : info.sha256;
}

export function formatVersionFile(info: VersionInfo): string {
  const lines = [String(info.version), `sha256=${info.sha256}`, `share=${info.share}`];
  const j = info.journal;
  if (j) {
    lines.push("format=2", `snapshot=${j.snapshot.version} ${j.snapshot.bytes}`, `journal=${j.first} ${j.bytesSinceSnapshot}`);
    for (const s of j.window) lines.push(`segment=${formatRef(s)}`);
    if (j.compacting) lines.push(`compacting=${formatRef(j.compacting)}`);
  }
  return `${lines.join("\n")}\n`;
}

function formatRef(s: SegmentRef): string {
  return `${s.version} ${s.sha256} ${s.bytes}`;
}

const HASH = /^[0-9a-f]{64}$/;
const COUNT = /^\d{1,15}$/;

export function parseSegmentRef(text: string): SegmentRef | null {
  const [v, sha, bytes, ...rest] = text.trim().split(/\s+/);
  if (rest.length > 0 || !v || !sha || !bytes || !COUNT.test(v) || !HASH.test(sha) || !COUNT.test(bytes)) return null;
  return { version: Number(v), sha256: sha, bytes: Number(bytes) };
}

/** The parsed file, or null when it is not a valid version file (torn write, foreign file). */
export function parseVersionFile(text: string): VersionInfo | null {
  const lines = text.split(/\r?\n/);
  const first = lines[0]?.trim() ?? "";
  if (!COUNT.test(first)) return null;
  const fields = new Map<string, string>();
  const segments: string[] = [];
  for (const line of lines.slice(1)) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === "segment") segments.push(value);
    else fields.set(key, value);
  }
  const sha256 = fields.get("sha256") ?? "";
  const share = fields.get("share") ?? "";
  if (!HASH.test(sha256) || !/^[A-Za-z0-9_-]{1,64}$/.test(share)) return null;
  const version = Number(first);
  const format = fields.get("format");
  if (format === undefined) return { version, sha256, share, journal: null };
  // A format we do not know is not a file we can read: "invalid", never read as format 1.
  if (format !== "2") return null;
  const journal = parseJournal(version, fields, segments);
  return journal ? { version, sha256, share, journal } : null;
}

function parseJournal(version: number, fields: Map<string, string>, segmentLines: string[]): JournalInfo | null {
  const snapshot = (fields.get("snapshot") ?? "").split(" ");
  const journal = (fields.get("journal") ?? "").split(" ");
  if (snapshot.length !== 2 || journal.length !== 2 || ![...snapshot, ...journal].every((n) => COUNT.test(n))) return null;
  const snap = { version: Number(snapshot[0]), bytes: Number(snapshot[1]) };
  const firstSegment = Number(journal[0]);
  const window: SegmentRef[] = [];
  for (const line of segmentLines) {
    const ref = parseSegmentRef(line);
    if (!ref) return null;
    window.push(ref);
  }
  const compactingText = fields.get("compacting");
  const compacting = compactingText === undefined ? null : parseSegmentRef(compactingText);
  if (compactingText !== undefined && !compacting) return null;
  // The invariants a reader relies on: a snapshot not beyond the head, a contiguous window ending at the head
  // (or, with no segment since, at or before the snapshot), and every segment after the snapshot kept.
  if (snap.version > version || firstSegment > snap.version + 1 || window.length > SEGMENT_WINDOW) return null;
  for (let i = 1; i < window.length; i++) if (window[i]!.version !== window[i - 1]!.version + 1) return null;
  const last = window.at(-1);
  if (snap.version < version && last?.version !== version) return null;
  if (last && last.version > version) return null;
  if (compacting && (compacting.version < snap.version || compacting.version > version)) return null;
  return { snapshot: snap, first: firstSegment, bytesSinceSnapshot: Number(journal[1]), window, compacting };
}
