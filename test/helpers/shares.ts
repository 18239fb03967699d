/**
 * The servers the integration suite runs against, behind one interface, so that the same tests run on
 * each (issue 6: parameterised by server, not copied). In CI (CI=true) a server that is not installed is a
 * failure, never a silent skip; on a developer machine it is skipped with a note.
 */
import { apacheAvailable, startApache } from "./apache.js";
import { startDavServer } from "./dav-server.js";
import { rcloneAvailable, startRclone } from "./rclone.js";

export interface TestShare {
  url: string;
  /** The path of the share's URL on the server ("" or "/dav"): request paths are `${prefix}${root}/…`. */
  prefix: string;
  username?: string;
  password?: string;
  /** The folder on disk that the server serves at `url` (tests hash the share's files there). */
  dir: string;
  /** What reached the server since the last reset: method and decoded path. */
  requests(): Array<{ method: string; path: string }>;
  reset(): void;
  close(): Promise<void>;
}

export interface ShareKind {
  name: string;
  available(): boolean;
  start(): Promise<TestShare>;
}

export const SHARE_KINDS: ShareKind[] = [
  {
    name: "webdav-server",
    available: () => true,
    start: async () => {
      const s = await startDavServer();
      return { url: s.url, prefix: "", dir: s.dir, requests: () => s.requests, reset: s.reset, close: s.close };
    },
  },
  {
    name: "apache",
    available: apacheAvailable,
    start: async () => {
      const credentials = { username: "syncd", password: "pässwörd €" };
      const s = await startApache(credentials);
      return { url: s.url, prefix: "/dav", dir: s.dir, ...credentials, requests: s.requests, reset: s.reset, close: s.close };
    },
  },
  {
    name: "rclone",
    available: rcloneAvailable,
    start: async () => {
      const credentials = { username: "syncd", password: "secret with spaces" };
      const s = await startRclone(credentials);
      return { url: s.url, prefix: "", dir: s.dir, ...credentials, requests: s.requests, reset: s.reset, close: s.close };
    },
  },
];

/** The servers to run on here: all in CI (a missing one then fails the run), the installed ones elsewhere. */
export function shareMatrix(): ShareKind[] {
  if (process.env.CI === "true") return SHARE_KINDS;
  const missing = SHARE_KINDS.filter((k) => !k.available());
  if (missing.length > 0) {
    process.stderr.write(`note: not installed here, skipped: ${missing.map((k) => k.name).join(", ")} (CI runs them)\n`);
  }
  return SHARE_KINDS.filter((k) => k.available());
}

/** The `webdav` section of a config for this share. */
export function webdavConfig(share: TestShare, root: string): Record<string, unknown> {
  return { url: share.url, root, ...(share.username ? { username: share.username, password: share.password } : {}) };
}
