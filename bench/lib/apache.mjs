/**
 * Apache httpd + mod_dav_fs (Debian's apache2) on 127.0.0.1 in a private ServerRoot, for the benchmarks: the
 * launcher the tests use too (test/helpers/apache.ts wraps it): WebDAV under /dav (a root below the server
 * root, as on Nextcloud-style servers), basic auth, and an access log that records method, path, status and
 * body bytes, so that requests and bytes are counted at the server (see traffic.mjs).
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { freePort, waitForHttp } from "./net.mjs";
import { join } from "node:path";
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
export async function startApache({ parent, username, password }) {
  const root = mkdtempSync(join(parent, "apache-"));
  chmodSync(root, 0o755);
  const www = join(root, "www");
  const locks = join(root, "locks");
  mkdirSync(www);
  mkdirSync(locks);
  let owner = null;
  if (process.getuid?.() === 0) {
    owner = lookupUser("www-data");
    chownSync(www, owner.uid, owner.gid);
    chownSync(locks, owner.uid, owner.gid);
    // The parents of ServerRoot must be traversable by www-data.
    chmodSync(parent, 0o755);
  }
  execFileSync("/usr/bin/htpasswd", ["-cbm", join(root, "htpasswd"), username, password], { stdio: "ignore" });
  const port = await freePort();
  const log = join(root, "access.log");
  const mods = ["mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user", "alias", "dav", "dav_fs"];
  writeFileSync(
    join(root, "httpd.conf"),
    [
      `ServerRoot ${root}`,
      `ServerName 127.0.0.1`,
      `Listen 127.0.0.1:${port}`,
      `PidFile ${join(root, "httpd.pid")}`,
      `ErrorLog ${join(root, "error.log")}`,
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
      `  AuthType Basic`,
      `  AuthName "syncd bench"`,
      `  AuthUserFile ${join(root, "htpasswd")}`,
      `  Require valid-user`,
      `</Directory>`,
      "",
    ].join("\n"),
  );
  const child = spawn(APACHE_BIN, ["-f", join(root, "httpd.conf"), "-DFOREGROUND"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d.toString()));
  await waitForHttp(port, () => (child.exitCode === null ? null : `apache2 exited with ${child.exitCode}: ${stderr}${safeRead(join(root, "error.log"))}`));
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
    pid: child.pid,
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function lookupUser(name) {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

function safeRead(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
