/**
 * A real Apache httpd with mod_dav_fs (Debian's apache2 package) on 127.0.0.1, started by the tests in a
 * private ServerRoot: WebDAV under /dav (a root below the server root, as on Nextcloud-style servers),
 * basic auth, and an access log that the tests read to count requests at the server.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const APACHE_BIN = "/usr/sbin/apache2";
const MODULES = "/usr/lib/apache2/modules";

export function apacheAvailable(): boolean {
  return existsSync(APACHE_BIN) && existsSync(join(MODULES, "mod_dav_fs.so")) && existsSync("/usr/bin/htpasswd");
}

export interface ApacheShare {
  url: string;
  /** The folder served at `${url}/`. */
  dir: string;
  /** Requests as Apache logged them: method, decoded path, status. */
  requests(): Array<{ method: string; path: string; status: number }>;
  reset(): void;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startApache(opts: { username: string; password: string }): Promise<ApacheShare> {
  const root = mkdtempSync(join(tmpdir(), "syncd-apache-"));
  chmodSync(root, 0o755); // mkdtemp makes it 0700: www-data could not reach the share below it

  const www = join(root, "www");
  const locks = join(root, "locks");
  mkdirSync(www);
  mkdirSync(locks);
  // Apache's children run as www-data when started as root: they must be able to write the share.
  if (process.getuid?.() === 0) {
    const { uid, gid } = lookupUser("www-data");
    chownSync(www, uid, gid);
    chownSync(locks, uid, gid);
  }
  execFileSync("/usr/bin/htpasswd", ["-cbB", join(root, "htpasswd"), opts.username, opts.password], { stdio: "ignore" });
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
      ...(process.getuid?.() === 0 ? ["User www-data", "Group www-data"] : []),
      `LogFormat "%m %U %>s" syncd`,
      `CustomLog ${log} syncd`,
      `DAVLockDB ${join(locks, "davlock")}`,
      `DocumentRoot ${www}`,
      `Alias /dav ${www}`,
      `<Directory ${www}>`,
      `  Dav On`,
      `  AuthType Basic`,
      `  AuthName "syncd test"`,
      `  AuthUserFile ${join(root, "htpasswd")}`,
      `  Require valid-user`,
      `</Directory>`,
      "",
    ].join("\n"),
  );
  const child = spawn(APACHE_BIN, ["-f", join(root, "httpd.conf"), "-DFOREGROUND"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, child, () => stderr + safeRead(join(root, "error.log")));
  let offset = 0;
  const read = () => safeRead(log).slice(offset);
  return {
    url: `http://127.0.0.1:${port}/dav`,
    dir: www,
    requests: () =>
      read()
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [method = "", path = "", status = "0"] = line.split(" ");
          return { method, path: safeDecode(path), status: Number(status) };
        }),
    reset: () => {
      offset = safeRead(log).length;
    },
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function lookupUser(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

function safeRead(path: string): string {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : "";
  } catch {
    return "";
  }
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

async function waitForPort(port: number, child: ReturnType<typeof spawn>, logs: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`apache2 exited with ${child.exitCode}: ${logs()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: "OPTIONS" });
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`apache2 did not start on port ${port}: ${logs()}`);
}
