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

/** How many data files one data folder holds on average, for a share of `dataFiles`: 256 folders `00`–`ff`. */
export function filesPerDataFolder(dataFiles: number): number {
  return dataFiles / 256;
}
