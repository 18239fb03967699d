/**
 * The servers the integration suite runs against, behind one interface, so that the same tests run on
 * each (issue 6: parameterised by server, not copied). In CI (CI=true) a server that is not installed is a
 * failure, never a silent skip; on a developer machine it is skipped with a note.
 */
import { apacheAvailable, startApache } from "./apache.js";
import { startDavServer } from "./dav-server.js";
import { lighttpdAvailable, startLighttpd } from "./lighttpd.js";
import { nginxAvailable, startNginx } from "./nginx.js";
import { rcloneAvailable, startRclone } from "./rclone.js";
import { sabreAvailable, startSabre } from "./sabre.js";

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
  // The three below log their requests themselves (test/helpers/access-log.ts); each has a password with a
  // space and non-ASCII letters, sent as UTF-8 in basic auth.
  {
    // nginx's dav module + dav-ext, under /dav: a PUT into a missing folder fails (create_full_put_path off).
    name: "nginx",
    available: nginxAvailable,
    start: () => startNginx({ username: "syncd", password: "pässwörd nginx" }),
  },
  {
    // lighttpd's mod_webdav, under /dav.
    name: "lighttpd",
    available: lighttpdAvailable,
    start: () => startLighttpd({ username: "syncd", password: "pässwörd lighttpd" }),
  },
  {
    // sabre/dav (Nextcloud's WebDAV library, Debian's 1.8) at Nextcloud's path /remote.php/dav/files/syncd.
    name: "sabre",
    available: sabreAvailable,
    start: () => startSabre({ username: "syncd", password: "pässwörd sabre" }),
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
