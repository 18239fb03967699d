/**
 * The share lock's events (remote/lease.ts) as a user reads them: sentences that say who holds the lock and
 * how long the wait may last, never internal codes ("lock waiting"). A wait is also progress of phase
 * "lock" with a structured `lock` field (SPEC §6 `sync.progress`), from which the CLI draws its countdown
 * and the dashboard its notice.
 */
import type { LeaseEvent } from "../remote/lease.js";
import { formatDuration } from "../duration.js";
import { itemProgress, type LockHolder, type LockWait, type SyncEventListener } from "./events.js";

/** While waiting, the log gets the sentence when the wait starts or the holder changes, then this often. */
const LOG_EVERY_MS = 10_000;

export class LockWaitReporter {
  private lastLog = -Infinity;
  private lastHolder: string | null = null;

  constructor(
    private readonly emit: SyncEventListener,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(e: LeaseEvent): void {
    switch (e.type) {
      case "waiting":
        return this.waiting(e);
      case "acquired": {
        const waited = (e.waitedMs ?? 0) / 1000;
        const message = waited >= 1 ? `Took the share's lock after waiting ${formatDuration(waited)}.` : "Took the share's lock.";
        return this.emit({ type: "log", level: "info", message, data: { waitedSeconds: round1(waited) } });
      }
      case "expired-claim-removed": {
        const who = e.holder ? describeHolder(holderOf(e.holder)) : "an instance whose claim could not be read";
        const when = e.lastWritten && !Number.isNaN(e.lastWritten.getTime()) ? ` since ${e.lastWritten.toISOString()}` : "";
        return this.emit({
          type: "log",
          level: "warn",
          message: `Took over the share's lock from ${who}, which had not renewed it${when}: it has probably stopped. What it left half-uploaded is cleaned up.`,
          data: { holder: e.holder ? holderOf(e.holder) : null, lastWritten: e.lastWritten?.toISOString() ?? null, claim: e.detail },
        });
      }
      case "heartbeat-failed":
        return this.emit({
          type: "log",
          level: "warn",
          message: `Could not renew the share's lock (${e.detail ?? "no reason given"}); syncd tries again, and the run stops before its next write to the share if the lock runs out first.`,
          data: { error: e.detail },
        });
    }
  }

  private waiting(e: LeaseEvent): void {
    const lock: LockWait = {
      holder: e.holder ? holderOf(e.holder) : null,
      waitedSeconds: round1((e.waitedMs ?? 0) / 1000),
      leftSeconds: round1((e.leftMs ?? 0) / 1000),
    };
    this.emit({ ...itemProgress("lock", 0, 1), lock });
    const key = lock.holder ? JSON.stringify(lock.holder) : null;
    const t = this.now();
    if (key === this.lastHolder && t - this.lastLog < LOG_EVERY_MS) return;
    this.lastHolder = key;
    this.lastLog = t;
    this.emit({ type: "log", level: "info", message: describeLockWait(lock), data: { ...lock } });
  }
}

/** "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 23 s more." */
export function describeLockWait(lock: LockWait, leftSeconds = lock.leftSeconds): string {
  const who = lock.holder ? describeHolder(lock.holder) : "another instance";
  return `Waiting for the share's lock, held by ${who} — up to ${formatDuration(leftSeconds)} more.`;
}

/** "laptop (pid 4242 on host a)". */
export function describeHolder(h: LockHolder): string {
  return `${h.instance} (pid ${h.pid} on host ${h.host})`;
}

function holderOf(h: NonNullable<LeaseEvent["holder"]>): LockHolder {
  return { instance: h.instance, host: h.host, pid: h.pid, since: h.acquiredAt };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
