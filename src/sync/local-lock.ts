/**
 * One sync per data directory at a time, across processes: the daemon and a manual `syncd sync` share it.
 * proper-lockfile locks a file that must exist (FIELD-NOTES); a SIGKILLed holder's lock goes stale after
 * `stale` ms, and a holder whose event loop stalls past it is told through onCompromised, which we make a
 * logged warning instead of the default uncaught throw (the remote lease still protects the share).
 * Waiting is our own loop rather than proper-lockfile's retries, so that a shutdown can interrupt it.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import lockfile from "proper-lockfile";
import { LocalLockBusyError } from "../errors.js";
import { localDiskError } from "../store/disk-errors.js";

const STALE_MS = 15_000;
const RETRY_MS = 250;

export async function acquireLocalLock(
  dataDir: string,
  waitMs: number,
  opts: { signal?: AbortSignal; onCompromised?: (err: Error) => void } = {},
): Promise<() => Promise<void>> {
  const file = join(dataDir, "sync.lock");
  // The first write of a sync: where a read-only data directory or a full disk is met and said so.
  await writeFile(file, "", { flag: "a" }).catch((err: unknown) => {
    throw localDiskError(err, dataDir) ?? err;
  });
  const deadline = Date.now() + waitMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const release = await lockfile.lock(file, { stale: STALE_MS, update: STALE_MS / 3, realpath: false, onCompromised: opts.onCompromised ?? (() => {}) });
      return async () => {
        try {
          await release();
        } catch {
          // Already released or compromised: nothing left to undo.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ELOCKED") throw err;
      if (Date.now() >= deadline) {
        throw new LocalLockBusyError(`Another sync of ${dataDir} is running on this machine (the daemon or another "syncd sync"); try again when it finishes.`);
      }
      await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())), undefined, { signal: opts.signal });
    }
  }
}
