/**
 * Apache httpd + mod_dav_fs (Debian's apache2) on 127.0.0.1 in a private ServerRoot, for the benchmarks: the
 * launcher the tests use too (test/helpers/apache.ts wraps it): WebDAV under /dav (a root below the server
 * root, as on Nextcloud-style servers), basic auth, and an access log that records method, path, status and
 * body bytes, so that requests and bytes are counted at the server (see traffic.mjs).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./net.mjs";
import { launchServer, serverOwner } from "./proc.mjs";
import { LOG_FORMAT } from "./traffic.mjs";

export const APACHE_BIN = "/usr/sbin/apache2";
const MODULES = "/usr/lib/apache2/modules";

export function apacheAvailable() {
  return existsSync(APACHE_BIN) && existsSync(join(MODULES, "mod_dav_fs.so")) && existsSync("/usr/bin/htpasswd");
}

/**
 * Starts Apache under `parent`. Credentials are stored with htpasswd's default (apr1-MD5) hash: bcrypt (-B)
 * makes Apache spend ~1 ms of CPU per request verifying the password, which would swamp the cost of small
 * requests for every client alike.
 */
/**
 * `deflate`: compress every answer for a client that accepts it (SetOutputFilter DEFLATE), as a server
 * set up to compress its XML does (Nextcloud's recommended nginx gzips application/xml). Debian's own
 * deflate.conf does not reach WebDAV answers: AddOutputFilterByType never applies to mod_dav's 207s
 * (measured). Off by default, so that byte counts are those of an uncompressed server.
 */
export async function startApache({ parent, username, password, deflate = false }) {
  const root = mkdtempSync(join(parent, "apache-"));
  chmodSync(root, 0o755);
  const www = join(root, "www");
  const locks = join(root, "locks");
  mkdirSync(www);
  mkdirSync(locks);
  // As root, Apache runs as www-data: its folders are handed over, and the parents of ServerRoot made traversable.
  const owner = serverOwner(parent, [www, locks]);
  execFileSync("/usr/bin/htpasswd", ["-cbm", join(root, "htpasswd"), username, password], { stdio: "ignore" });
  const port = await freePort();
  const log = join(root, "access.log");
  const errorLog = join(root, "error.log");
  const mods = ["mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user", "alias", "dav", "dav_fs", ...(deflate ? ["deflate"] : [])];
  writeFileSync(
    join(root, "httpd.conf"),
    [
      `ServerRoot ${root}`,
      `ServerName 127.0.0.1`,
      `Listen 127.0.0.1:${port}`,
      `PidFile ${join(root, "httpd.pid")}`,
      `ErrorLog ${errorLog}`,
      ...mods.map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
      ...(owner ? ["User www-data", "Group www-data"] : []),
      // Apache's defaults, written out: keep-alive on, 100 requests per connection is raised so that a
      // client's pool is not torn down every 100 requests (both syncd and rclone benefit alike).
      `KeepAlive On`,
      `MaxKeepAliveRequests 0`,
      `KeepAliveTimeout 15`,
      `LogFormat "${LOG_FORMAT}" bench`,
      `CustomLog ${log} bench`,
      `DAVLockDB ${join(locks, "davlock")}`,
      `DocumentRoot ${www}`,
      `Alias /dav ${www}`,
      `<Directory ${www}>`,
      `  Dav On`,
      ...(deflate ? ["  SetOutputFilter DEFLATE"] : []),
      `  AuthType Basic`,
      `  AuthName "syncd bench"`,
      `  AuthUserFile ${join(root, "htpasswd")}`,
      `  Require valid-user`,
      `</Directory>`,
      "",
    ].join("\n"),
  );
  const server = await launchServer({
    name: "apache2",
    command: APACHE_BIN,
    args: ["-f", join(root, "httpd.conf"), "-DFOREGROUND"],
    port,
    root,
    errorLog,
  });
  return {
    kind: "apache",
    url: `http://127.0.0.1:${port}/dav`,
    /** The URL path that request paths in the log start with. */
    prefix: "/dav",
    username,
    password,
    dir: www,
    owner,
    log,
    errorLog,
    pid: server.pid,
    close: server.close,
  };
}
