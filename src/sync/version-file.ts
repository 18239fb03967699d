/**
 * `version.txt`: the one small file the O(1) skip check reads.
 *   line 1: the decimal commit counter
 *   then `sha256=<hex of metadata.db>` and `share=<share id>` lines (unknown lines are ignored, so that
 *   later versions may add some).
 */
export interface VersionInfo {
  version: number;
  sha256: string;
  share: string;
}

export function formatVersionFile(info: VersionInfo): string {
  return `${info.version}\nsha256=${info.sha256}\nshare=${info.share}\n`;
}

/** The parsed file, or null when it is not a valid version file (torn write, foreign file). */
export function parseVersionFile(text: string): VersionInfo | null {
  const lines = text.split(/\r?\n/);
  const first = lines[0]?.trim() ?? "";
  if (!/^\d{1,15}$/.test(first)) return null;
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const eq = line.indexOf("=");
    if (eq > 0) fields.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const sha256 = fields.get("sha256") ?? "";
  const share = fields.get("share") ?? "";
  if (!/^[0-9a-f]{64}$/.test(sha256) || !/^[A-Za-z0-9_-]{1,64}$/.test(share)) return null;
  return { version: Number(first), sha256, share };
}
