/**
 * The capability probe's scratch folders, `.syncd-probe-<hex>` under the share's root (probe.ts), and the
 * removal of those whose probe died before it could remove its own (issue 11: a first sync killed during
 * its probe left one on the share for good, since a share is probed again only until a probe succeeds).
 *
 * Each probe writes `owner.json` into its folder first: the host, pid and "machine" of its process. A
 * folder of another probe is removed only when that probe is provably gone, never when it may be running:
 * - it was left untouched for STALE_SCRATCH_MS by the server's clock (a probe takes seconds, not an hour);
 * - or its owner ran on this machine and its process no longer exists. "This machine" is the same boot of
 *   the same kernel and the same process-id namespace (containers on one host share the boot id, not pids),
 *   so a pid is only ever looked up where it means the same process. Elsewhere (no /proc) only age counts.
 * A probe that did not finish in this data directory is also remembered locally (probe.ts), so the next
 * probe from here removes its folder whatever its age, after a reboot too.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { isRemoteError } from "./errors.js";
import type { Listing, Remote, RemoteStat } from "./remote.js";

export const SCRATCH_PREFIX = ".syncd-probe-";
export const OWNER_FILE = "owner.json";
/** A scratch folder untouched this long was left by a probe that died (a probe takes seconds). */
export const STALE_SCRATCH_MS = 60 * 60 * 1000;

export interface ScratchOwner {
  host: string;
  pid: number;
  /** `<boot id>/<pid namespace>`, or null where they cannot be read: then a pid proves nothing. */
  machine: string | null;
  startedAt: string;
}

export function newScratchName(): string {
  return `${SCRATCH_PREFIX}${randomBytes(6).toString("hex")}`;
}

export function thisProcess(): ScratchOwner {
  return { host: hostname(), pid: process.pid, machine: machineId(), startedAt: new Date().toISOString() };
}

function machineId(): string | null {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const pidNamespace = readlinkSync("/proc/self/ns/pid");
    return boot && pidNamespace ? `${boot}/${pidNamespace}` : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // it exists, it is just not ours
  }
}

/** Whether the process that owned a scratch folder is provably gone (see the header). */
export function ownerGone(owner: ScratchOwner, me: ScratchOwner = thisProcess(), alive: (pid: number) => boolean = isAlive): boolean {
  if (owner.machine === null || owner.machine !== me.machine) return false;
  return owner.pid !== me.pid && !alive(owner.pid);
}

export async function writeOwner(remote: Remote, scratch: string, owner: ScratchOwner): Promise<void> {
  await remote.put(`${scratch}/${OWNER_FILE}`, Buffer.from(`${JSON.stringify(owner)}\n`));
}

export function parseOwner(text: string): ScratchOwner | null {
  try {
    const o = JSON.parse(text) as Partial<ScratchOwner>;
    if (typeof o.pid !== "number" || typeof o.host !== "string" || (o.machine !== null && typeof o.machine !== "string")) return null;
    return { host: o.host, pid: o.pid, machine: o.machine, startedAt: String(o.startedAt ?? "") };
  } catch {
    return null;
  }
}

async function readOwner(remote: Remote, scratch: string): Promise<ScratchOwner | null> {
  try {
    return parseOwner((await remote.get(`${scratch}/${OWNER_FILE}`)).toString("utf8"));
  } catch (err) {
    if (isRemoteError(err, "not-found")) return null; // not written yet (a probe just starting) or an older syncd
    throw err;
  }
}

export interface StaleScratchOptions {
  /** The caller's own scratch folder: never removed. */
  own?: string;
  /** Folders to remove whatever their age: this data directory's probes that did not finish (probe.ts). */
  leftovers?: string[];
  /** Called before each removal (the lease check, under the lock). */
  beforeDelete?: () => void;
  me?: ScratchOwner;
  alive?: (pid: number) => boolean;
}

/**
 * Removes the scratch folders of dead probes among the entries of `root` (a listing of the share's root
 * folder); returns their names. A folder that cannot be judged (no mtime, no readable owner) is kept, and
 * one that cannot be removed now is left for next time: this is tidying, it must not fail a run. Only a
 * stop (stop.ts) and `beforeDelete` (the lease) end it early.
 */
export async function removeStaleScratch(remote: Remote, root: Listing, opts: StaleScratchOptions = {}): Promise<string[]> {
  const serverNow = (root.serverDate ?? new Date()).getTime();
  const removed: string[] = [];
  for (const e of root.entries) {
    if (e.type !== "directory" || !e.name.startsWith(SCRATCH_PREFIX) || e.name === opts.own) continue;
    if (!(opts.leftovers?.includes(e.name) || serverNow - e.mtime.getTime() > STALE_SCRATCH_MS || (await deadOwner(remote, e, opts)))) continue;
    opts.beforeDelete?.();
    try {
      await remote.delete(`${e.path}/`);
    } catch (err) {
      if (isRemoteError(err, "aborted")) throw err;
      if (!isRemoteError(err, "not-found")) continue;
    }
    removed.push(e.name);
  }
  return removed;
}

async function deadOwner(remote: Remote, folder: RemoteStat, opts: StaleScratchOptions): Promise<boolean> {
  let owner: ScratchOwner | null;
  try {
    owner = await readOwner(remote, folder.path);
  } catch (err) {
    if (isRemoteError(err, "aborted")) throw err;
    return false; // unreadable: cannot be judged
  }
  return owner !== null && ownerGone(owner, opts.me, opts.alive);
}
