/** Names in the share's root folder (SPEC §3). */
export const METADATA_DB = "metadata.db";
export const VERSION_TXT = "version.txt";
/** Prefix of metadata.db uploads not yet moved into place; a dead writer may leave them behind. */
export const METADATA_TMP_PREFIX = "metadata.db.tmp-";

/** `<aa>/<sha256>`: data files are content-addressed and immutable once written. */
export function dataPath(hash: string): string {
  return `${hash.slice(0, 2)}/${hash}`;
}

export function dataDir(hash: string): string {
  return hash.slice(0, 2);
}

/** Format 2's journal: `journal/<version, 12 digits>-<sha256>.seg`, immutable, named by what version.txt says. */
export const JOURNAL_DIR = "journal";

export function segmentPath(s: { version: number; sha256: string }): string {
  return `${JOURNAL_DIR}/${String(s.version).padStart(12, "0")}-${s.sha256}.seg`;
}

/** The version and hash a journal file's name gives, or null for a name that is not a segment's. */
export function parseSegmentName(name: string): { version: number; sha256: string } | null {
  const m = /^(\d{12})-([0-9a-f]{64})\.seg$/.exec(name);
  return m ? { version: Number(m[1]), sha256: m[2]! } : null;
}

/** How many data files one data folder holds on average, for a share of `dataFiles`: 256 folders `00`–`ff`. */
export function filesPerDataFolder(dataFiles: number): number {
  return dataFiles / 256;
}
