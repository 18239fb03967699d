/**
 * The share's current shared metadata as a test reads it from the server's disk: the snapshot
 * (metadata.db) with every journal segment after it applied (docs/share-format.md), each checked against
 * the SHA-256 it is named by. Problems (a missing or damaged segment, a snapshot version.txt does not
 * name) are reported rather than thrown, so that the kill audit can list them.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { applyChanges, type RowChange } from "../../src/share/replication.js";
import { parseVersionFile, type SegmentRef, type VersionInfo } from "../../src/share/version-file.js";

export interface ShareState {
  info: VersionInfo;
  /** An in-memory database holding the share's state at info.version (close it). */
  db: Database.Database;
  /** The version metadata.db holds. */
  snapshotVersion: number;
  problems: string[];
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Reads the share under `root`; null when version.txt or metadata.db is missing or version.txt does not parse. */
export function readShareState(root: string): ShareState | null {
  const versionFile = join(root, "version.txt");
  const metadata = join(root, "metadata.db");
  if (!existsSync(versionFile) || !existsSync(metadata)) return null;
  const info = parseVersionFile(readFileSync(versionFile, "utf8"));
  if (!info) return null;
  const problems: string[] = [];
  const bytes = readFileSync(metadata);
  const sha = sha256(bytes);
  const j = info.journal;
  let snapshotVersion = info.version;
  if (j) {
    if (sha === info.sha256) snapshotVersion = j.snapshot.version;
    else if (sha === j.compacting?.sha256) snapshotVersion = j.compacting.version;
    else problems.push(`metadata.db's SHA-256 is not a snapshot version.txt names (version ${info.version})`);
  } else if (sha !== info.sha256) problems.push(`metadata.db's SHA-256 is not the one version.txt names (version ${info.version})`);
  const db = new Database(bytes);
  const kv = () => new Map((db.prepare("SELECT key, value FROM share").all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
  if (Number(kv().get("version")) !== snapshotVersion) problems.push(`metadata.db is version ${kv().get("version")}, version.txt says ${snapshotVersion}`);
  if (kv().get("share_id") !== info.share) problems.push(`metadata.db is share ${kv().get("share_id")}, version.txt says ${info.share}`);
  if (j && problems.length === 0) {
    for (const ref of segmentChain(root, info, snapshotVersion, problems)) {
      const lines = gunzipSync(readFileSync(segmentFile(root, ref))).toString("utf8").split("\n").filter(Boolean);
      const changes = lines.slice(1).map((l) => JSON.parse(l) as RowChange);
      const problem = db.transaction(() => applyChanges(db, changes))();
      if (problem) problems.push(`segment ${ref.version} does not apply: ${problem}`);
      db.prepare("UPDATE share SET value = ? WHERE key = 'version'").run(String(ref.version));
    }
  }
  return { info, db, snapshotVersion, problems };
}

function segmentFile(root: string, ref: { version: number; sha256: string }): string {
  return join(root, "journal", `${String(ref.version).padStart(12, "0")}-${ref.sha256}.seg`);
}

/** The segments after `from` up to the head, oldest first, following back-links; problems for what is missing. */
function segmentChain(root: string, info: VersionInfo, from: number, problems: string[]): SegmentRef[] {
  const known = new Map(info.journal!.window.map((r) => [r.version, r]));
  const out: SegmentRef[] = [];
  for (let v = info.version; v > from; v--) {
    const ref = known.get(v);
    if (!ref) {
      problems.push(`no link to journal segment ${v}`);
      return [];
    }
    const file = segmentFile(root, ref);
    if (!existsSync(file)) {
      problems.push(`journal segment ${v} is missing`);
      return [];
    }
    const bytes = readFileSync(file);
    if (sha256(bytes) !== ref.sha256) {
      problems.push(`journal segment ${v} does not match its SHA-256 (${bytes.length} bytes)`);
      return [];
    }
    const header = JSON.parse(gunzipSync(bytes).toString("utf8").split("\n")[0]!) as { back: SegmentRef[] };
    for (const b of header.back) if (!known.has(b.version)) known.set(b.version, b);
    out.unshift(ref);
  }
  return out;
}

/** The journal files on disk (for tests that count them). */
export function journalFiles(root: string): string[] {
  const dir = join(root, "journal");
  return existsSync(dir) ? readdirSync(dir) : [];
}
