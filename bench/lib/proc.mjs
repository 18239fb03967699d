/**
 * What the launchers of real servers (nginx.mjs, lighttpd.mjs, sabre.mjs) share: the unprivileged user a
 * server runs as when we are root, reading its logs, and stopping it.
 */
import { spawn } from "node:child_process";
import { chmodSync, chownSync, readFileSync, rmSync } from "node:fs";
import { waitForHttp } from "./net.mjs";

/** uid and gid of a local user, from /etc/passwd (no `id` subprocess). */
export function lookupUser(name) {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * As root, the server runs as www-data, as Debian's packages run it, never as the owner of the test's own
 * files: the folders it writes to are handed to www-data, and `parent` (a folder of our own, never /tmp
 * itself) is made traversable for it. Returns the owner, or null when we are not root (then the server runs
 * as us and owns everything already).
 */
export function serverOwner(parent, writable) {
  if (process.getuid?.() !== 0) return null;
  const owner = lookupUser("www-data");
  for (const dir of writable) chownSync(dir, owner.uid, owner.gid);
  chmodSync(parent, 0o755);
  return owner;
}

export function safeRead(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * SIGTERM, then SIGKILL if the process is still there after `graceMs`. `group`: the child was spawned
 * `detached` (its own process group) and the whole group is signalled, for servers whose workers outlive
 * their parent (php -S's forked workers keep serving after the parent died of SIGTERM).
 */
export async function stopChild(child, { graceMs = 5000, group = false } = {}) {
  const signal = (sig) => {
    try {
      if (group) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const alive = () => child.exitCode === null && child.signalCode === null;
  const exited = alive() ? new Promise((resolve) => child.once("exit", resolve)) : Promise.resolve();
  signal("SIGTERM");
  let timer;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  if (alive()) {
    signal("SIGKILL");
    await exited;
  } else if (group) {
    // The leader is gone; make sure no worker of its group stays behind.
    signal("SIGKILL");
  }
}

/**
 * Starts a server process and waits until it answers HTTP on `port`. A server that dies or does not come
 * up is stopped, `root` (its private folder) removed, and the error carries its stderr and `errorLog`.
 * `close()` stops it (its whole process group with `spawnOptions.detached`) and removes `root`.
 */
export async function launchServer({ name, command, args, spawnOptions = {}, port, root, errorLog }) {
  const group = spawnOptions.detached === true;
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], ...spawnOptions });
  // Some servers write a line per request to stderr: keep the tail only, for the message if it dies.
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d.toString()).slice(-8000)));
  const close = async () => {
    await stopChild(child, { group });
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitForHttp(port, () => (child.exitCode === null ? null : `${name} exited with ${child.exitCode}: ${stderr}${safeRead(errorLog)}`));
  } catch (err) {
    await close();
    throw err;
  }
  return { pid: child.pid, close };
}
