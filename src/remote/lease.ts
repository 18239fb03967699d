/**
 * The writer's lock of SPEC §3: a lease made of claim files in `version.txt.lock/`, safe on servers whose
 * LOCK and conditional requests race or are ignored (FIELD-NOTES). Only unconditional PUT, PROPFIND and
 * DELETE are used; every claim has a unique name, so no two claim writes ever collide (the end-of-listing
 * marker, the same file for everyone, carries no state: whoever writes it writes the same bytes).
 *
 * Timing argument. A contender judges a claim by the *server's* clock: live while mtime + TTL > Date of the
 * listing. Server mtimes are truncated to the second, so a claim can look up to 1 s older than it is. The
 * holder therefore measures its own lease locally and conservatively: from the moment the PUT that wrote
 * the claim *started* (the server's mtime can only be later), minus that 1 s. So when anyone may take the
 * lock over, the holder's own clock already says the lease ended, and it stops writing a third of the TTL
 * before that (assertSafeToWrite).
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { LeaseLostError, LockBusyError, errorMessage } from "../errors.js";
import { isRemoteError } from "./errors.js";
import { datedClaim, readClaim, type Claim } from "./lease-claims.js";
import { deleteIgnoringMissing, type Listing, type Remote, type RemoteStat } from "./remote.js";
import { asCleanup } from "./stop.js";

export const LOCK_DIR = "version.txt.lock";
/**
 * A file in the lock folder whose name sorts after every claim's (`<uuid>.json`: 'z' follows every hex digit,
 * byte-wise and in locale order). rclone (golang.org/x/net/webdav) lists a folder in name order and, when an
 * entry is deleted between its readdir and its stat (a contender withdrawing its claim), ends the 207 answer
 * early: every later entry is silently left out, a live claim included. Measured on rclone 1.60 with 8
 * writers churning claims and 4 listers: 3,971 of 8,671 listings cut short, and none that showed the marker
 * missed a file. So a listing without the marker proves nothing. It is written once per lock folder and
 * never deleted. (This, not lag, is what let two holders overlap on rclone about once in 2,000 acquisitions
 * even with a confirming second listing; with the marker: 10,000 contended acquisitions, no overlap.)
 */
export const LISTING_END = "zz-end-of-listing";
const LISTING_END_BODY = Buffer.from("The last entry of a complete listing of this folder (syncd, SPEC §3). Do not delete.\n");

/** Whether a file of the lock folder is a claim (`<token>.json`), not the end marker or anything else. */
export function isClaimName(name: string): boolean {
  return name.endsWith(".json");
}

/** Whether a listing shows the end marker, i.e. was not cut short before any claim (see LISTING_END). */
export function isCompleteListing(listing: Listing): boolean {
  return listing.entries.some((e) => e.name === LISTING_END);
}

export interface LeaseEvent {
  type: "waiting" | "acquired" | "expired-claim-removed" | "heartbeat-failed";
  detail?: string;
  /**
   * "waiting": who holds the lock, from their claim (null when it could not be read, or when the lock is not
   * held by anyone but the server has not shown this instance's own claim yet); "expired-claim-removed": whose
   * claim it was, when it could be read.
   */
  holder?: ClaimHolder | null;
  /** "waiting", "acquired": how long this acquisition has waited so far. */
  waitedMs?: number;
  /** "waiting": how much longer it waits at most (what is left of waitMs). */
  leftMs?: number;
  /** "expired-claim-removed": when the dead claim was last written (the server's clock). */
  lastWritten?: Date;
}

/** The part of a claim that tells people who holds the lock. */
export type ClaimHolder = Pick<Claim, "instance" | "host" | "pid" | "acquiredAt">;

export interface LeaseOptions {
  ttlMs: number;
  waitMs: number;
  instance: string;
  host?: string;
  pid?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  onEvent?: (e: LeaseEvent) => void;
}

type Settings = Required<Omit<LeaseOptions, "onEvent">> & { onEvent: (e: LeaseEvent) => void };

/** Server modification times have a 1 s granularity on every server measured (FIELD-NOTES). */
const MTIME_GRANULARITY_MS = 1000;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 2000;
/** Listings that may omit our own fresh claim, or end before the marker, before an attempt counts as failed. */
const MAX_RELISTS = 5;
const RELIST_DELAY_MS = 100;

/** "held" carries the server's clock as the listing that proved it showed it (Date header, else our claim's mtime). */
type Verdict = { kind: "held"; serverNow: number } | { kind: "busy"; holders: RemoteStat[] } | { kind: "unseen" };

export class RemoteLease {
  private validUntil: number;
  private released = false;
  private heartbeatStopped = false;
  private lost: string | null = null;
  private lastHeartbeatError: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | null = null;

  private constructor(
    private readonly remote: Remote,
    private readonly settings: Settings,
    readonly token: string,
    private readonly claimPath: string,
    private readonly claimBody: Buffer,
    validUntil: number,
    private readonly serverClock: { serverMs: number; localMs: number },
  ) {
    this.validUntil = validUntil;
  }

  /**
   * The share server's clock now, in ms since the epoch: read when the lease was taken (the listing's Date
   * header, else our claim's mtime) and advanced by the local monotonic clock since. Decisions that must not
   * rest on this machine's wall clock alone (tombstone purges, whose clock is wrong) use it.
   */
  serverNow(): number {
    // Whole milliseconds, as every other time the share records (a fraction would be stored as a REAL).
    return Math.floor(this.serverClock.serverMs + (this.settings.now() - this.serverClock.localMs));
  }

  static async acquire(remote: Remote, options: LeaseOptions): Promise<RemoteLease> {
    const s = settingsOf(options);
    const token = randomUUID(); // one token for every attempt: a claim left by a failed DELETE is rewritten, not doubled
    const claimPath = `${LOCK_DIR}/${token}.json`;
    const claim: Claim = { token, instance: s.instance, host: s.host, pid: s.pid, ttlMs: s.ttlMs, acquiredAt: new Date().toISOString() };
    const body = Buffer.from(JSON.stringify(claim) + "\n");
    const begun = s.now();
    const deadline = begun + s.waitMs;
    // Who holds the lock, read once per holder's claim (the wait re-lists every ~2 s).
    const holders = new Map<string, Promise<ClaimHolder | null>>();
    await ensureLockDir(remote);
    for (let attempt = 0; ; attempt++) {
      const started = s.now();
      let verdict: Verdict;
      try {
        await writeClaim(remote, claimPath, body);
        verdict = await inspect(remote, token, s);
      } catch (err) {
        // Best effort: a claim left behind (even by a PUT that failed late) would block others for a TTL.
        // Also after a shutdown stopped the attempt (stop.ts): that is what asCleanup allows.
        await asCleanup(() => remote.delete(claimPath)).catch(() => {});
        throw err;
      }
      if (verdict.kind === "held") {
        const lease = new RemoteLease(remote, s, token, claimPath, body, started + s.ttlMs - MTIME_GRANULARITY_MS, {
          serverMs: verdict.serverNow,
          localMs: s.now(),
        });
        s.onEvent({ type: "acquired", detail: token, waitedMs: s.now() - begun });
        lease.scheduleHeartbeat();
        return lease;
      }
      await deleteIgnoringMissing(remote, claimPath);
      const left = deadline - s.now();
      if (left <= 0) throw await busyError(remote, verdict, s);
      const holder = verdict.kind === "busy" ? await holderOf(remote, verdict.holders[0]!, holders) : null;
      s.onEvent({ type: "waiting", detail: describeVerdict(verdict), holder, waitedMs: s.now() - begun, leftMs: Math.max(0, deadline - s.now()) });
      // Full jitter over a doubling window: contenders that collided once are unlikely to collide again.
      const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
      await s.sleep(Math.min(left, s.random() * window));
    }
  }

  /** Milliseconds of the lease left by the local, conservative measure; 0 once released or lost. */
  remainingMs(): number {
    if (this.released || this.lost) return 0;
    return Math.max(0, this.validUntil - this.settings.now());
  }

  /** Throws LeaseLostError unless at least a third of the TTL is left: call before every write to the share. */
  assertSafeToWrite(): void {
    const where = `The remote lock on ${this.remote.location}`;
    if (this.released) throw new LeaseLostError(`${where} was already released; stopping before writing to the share.`);
    if (this.lost) throw new LeaseLostError(`${where} was lost (${this.lost}); stopping before writing to the share.`);
    const left = this.remainingMs();
    if (left < this.settings.ttlMs / 3) {
      const why = this.lastHeartbeatError ? ` (last heartbeat failed: ${this.lastHeartbeatError})` : "";
      throw new LeaseLostError(
        `${where} has ${(left / 1000).toFixed(1)} s of its ${this.settings.ttlMs / 1000} s lease left${why}; stopping before writing to the share.`,
      );
    }
  }

  /** Deletes this lease's own claim (nothing else) and stops the heartbeat. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    // A heartbeat PUT landing after our DELETE would resurrect the claim and block others for a TTL.
    await this.inFlight;
    // Also after a shutdown stopped the run (stop.ts), briefly: a claim left behind blocks others for a TTL.
    await asCleanup(() => deleteIgnoringMissing(this.remote, this.claimPath));
  }

  /** @internal Tests only: the holder goes silent, as if its process froze. */
  stopHeartbeat(): void {
    this.heartbeatStopped = true;
    clearTimeout(this.timer);
  }

  private scheduleHeartbeat(): void {
    if (this.released || this.lost || this.heartbeatStopped) return;
    // Four beats per usable lease (TTL minus the 1 s mtime margin): between two beats at least 3/4 of it
    // is left, above the TTL/3 reserve of assertSafeToWrite for any TTL ≥ 2 s, and from 3 s on even one
    // failed beat does not stop writes.
    this.timer = setTimeout(() => {
      this.inFlight = this.beat().finally(() => {
        this.inFlight = null;
        this.scheduleHeartbeat();
      });
    }, (this.settings.ttlMs - MTIME_GRANULARITY_MS) / 4);
    this.timer.unref(); // a lease must never keep the process alive on its own
  }

  /** Rewrites the claim (new server mtime). Never throws: a failure is recorded and retried next tick. */
  private async beat(): Promise<void> {
    const started = this.settings.now();
    if (started >= this.validUntil) {
      this.lost = "its lease ran out before the heartbeat could renew it";
      return;
    }
    try {
      await this.remote.put(this.claimPath, this.claimBody);
    } catch (err) {
      this.lastHeartbeatError = errorMessage(err).replace(/\.$/, ""); // quoted inside a sentence later
      this.settings.onEvent({ type: "heartbeat-failed", detail: this.lastHeartbeatError });
      return;
    }
    // Only a rewrite that *completed* while the lease was valid extends it: until then nobody could judge
    // the claim expired. A late one may have landed after another instance took over; it must not revive us.
    if (this.settings.now() >= this.validUntil) {
      this.lost = "the heartbeat completed only after the lease had run out";
      return;
    }
    this.validUntil = started + this.settings.ttlMs - MTIME_GRANULARITY_MS;
    this.lastHeartbeatError = null;
  }
}

/** Acquires, runs fn, and always releases (a release failure is reported only if fn succeeded). */
export async function withLease<T>(remote: Remote, opts: LeaseOptions, fn: (lease: RemoteLease) => Promise<T>): Promise<T> {
  const lease = await RemoteLease.acquire(remote, opts);
  let result: T;
  try {
    result = await fn(lease);
  } catch (err) {
    await lease.release().catch(() => {});
    throw err;
  }
  await lease.release();
  return result;
}

function settingsOf(o: LeaseOptions): Settings {
  // Below ~2 s the 1 s mtime margin leaves no usable lease; a TTL is a config value in seconds anyway.
  if (!(o.ttlMs >= 2000)) throw new RangeError(`Lease TTL must be at least 2000 ms (got ${o.ttlMs}).`);
  if (!(o.waitMs >= 0)) throw new RangeError(`Lease wait must be ≥ 0 ms (got ${o.waitMs}).`);
  return {
    ttlMs: o.ttlMs,
    waitMs: o.waitMs,
    instance: o.instance,
    host: o.host ?? hostname(),
    pid: o.pid ?? process.pid,
    random: o.random ?? Math.random,
    sleep: o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now: o.now ?? (() => performance.now()),
    onEvent: o.onEvent ?? (() => {}),
  };
}

/** "The parent folder is missing": 409 on most servers, 404 on rclone (FIELD-NOTES). */
function isMissingParent(err: unknown): boolean {
  return isRemoteError(err, "conflict") || isRemoteError(err, "not-found");
}

/**
 * Creates `version.txt.lock/`, and the share's root folder when that is missing too (with the missing
 * folders of webdav.root above it, never those of webdav.url: see WebdavRemote.mkdir): the lease is the
 * first write to a new share.
 */
async function ensureLockDir(remote: Remote): Promise<void> {
  try {
    await remote.mkdir(LOCK_DIR);
  } catch (err) {
    if (!isMissingParent(err)) throw err;
    await remote.mkdir("");
    await remote.mkdir(LOCK_DIR);
  }
}

async function writeClaim(remote: Remote, path: string, body: Buffer): Promise<void> {
  try {
    await remote.put(path, body);
  } catch (err) {
    // The lock folder vanished meanwhile: recreate it once.
    if (!isMissingParent(err)) throw err;
    await ensureLockDir(remote);
    await remote.put(path, body);
  }
}

/**
 * One look at the lock folder, repeated while the listing is not conclusive: our own fresh claim not listed
 * yet, or the listing cut short before the end marker. A live rival in any listing is conclusive (backing off
 * is always safe); "held" needs a listing that shows both our claim and the marker.
 */
async function inspect(remote: Remote, token: string, s: Settings): Promise<Verdict> {
  const ownName = `${token}.json`;
  let markerWritten = false;
  for (let relist = 0; relist <= MAX_RELISTS; ) {
    const listing = await remote.list(LOCK_DIR);
    // The server's clock judges the server's mtimes. Only a server that sends no Date header leaves us
    // with the local clock, which is then trusted to be roughly in sync with the server's.
    const serverNow = (listing.serverDate ?? new Date()).getTime();
    const claims = listing.entries.filter((e) => e.type === "file" && isClaimName(e.name));
    const holders: RemoteStat[] = [];
    for (const claim of claims) {
      if (claim.name !== ownName && (await isLive(remote, claim, serverNow, s))) holders.push(claim);
    }
    if (holders.length > 0) return { kind: "busy", holders };
    const complete = isCompleteListing(listing);
    if (!complete && !markerWritten) {
      // A new lock folder, or one made by a syncd before the marker: write it and look again at once. (If the
      // listing was only cut short, writing the marker again is harmless.)
      await writeListingEnd(remote);
      markerWritten = true;
      continue;
    }
    // Without our own claim in it, a listing proves nothing: it may predate another's claim too.
    const own = claims.find((c) => c.name === ownName);
    if (complete && own) {
      const mtime = own.mtime.getTime();
      return { kind: "held", serverNow: listing.serverDate?.getTime() ?? (Number.isNaN(mtime) ? Date.now() : mtime) };
    }
    relist++;
    if (relist <= MAX_RELISTS) await s.sleep(RELIST_DELAY_MS * relist);
  }
  return { kind: "unseen" };
}

async function writeListingEnd(remote: Remote): Promise<void> {
  try {
    await remote.put(`${LOCK_DIR}/${LISTING_END}`, LISTING_END_BODY);
  } catch (err) {
    // rclone answers 423 to a PUT of a path another request is writing: a contender is writing it right now.
    if (!isRemoteError(err, "locked")) throw err;
  }
}

/** Live by our TTL, or else by the claim's own (longer) TTL. Expired claims are deleted on the way. */
async function isLive(remote: Remote, listed: RemoteStat, serverNow: number, s: Settings): Promise<boolean> {
  const claim = await datedClaim(remote, listed);
  if (!claim) return false;
  const age = serverNow - claim.mtime.getTime();
  if (Number.isNaN(age)) return true; // no mtime to judge by: cautious, a claim we cannot age is live
  if (age < s.ttlMs) return true;
  const read = await readClaim(remote, claim.path);
  if (read === "gone") return false;
  if (read !== "garbage" && age < read.ttlMs) return true;
  if (read === "garbage") {
    // A claim being rewritten right now reads as truncated: its mtime has then moved on. Check before deleting.
    const now = await remote.stat(claim.path);
    if (!now) return false;
    if (now.mtime.getTime() !== claim.mtime.getTime()) return true;
  }
  await deleteIgnoringMissing(remote, claim.path);
  s.onEvent({
    type: "expired-claim-removed",
    detail: `${claim.name} (last written ${claim.mtime.toISOString()})`,
    holder: typeof read === "object" ? holderPart(read) : null,
    lastWritten: claim.mtime,
  });
  return false;
}

/** Who wrote a live claim, read once per claim; null when it cannot be read (it may be gone already). */
function holderOf(remote: Remote, listed: RemoteStat, cache: Map<string, Promise<ClaimHolder | null>>): Promise<ClaimHolder | null> {
  let holder = cache.get(listed.name);
  if (!holder) {
    holder = readClaim(remote, listed.path).then(
      (read) => (typeof read === "object" ? holderPart(read) : null),
      () => null, // only for telling people who waits for whom: never a reason to fail
    );
    cache.set(listed.name, holder);
  }
  return holder;
}

function holderPart(c: Claim): ClaimHolder {
  return { instance: c.instance, host: c.host, pid: c.pid, acquiredAt: c.acquiredAt };
}

function describeVerdict(v: Verdict): string {
  if (v.kind === "busy") return `held by claim ${v.holders.map((h) => h.name).join(", ")}`;
  return "own claim not yet visible in the listing";
}

async function busyError(remote: Remote, verdict: Verdict, s: Settings): Promise<LockBusyError> {
  const waited = `it did not come free within ${Math.round(s.waitMs / 100) / 10} s`;
  // The exit code (75) is for scripts; people are told what to do.
  const retry = "try again later, or raise sync.lockWaitSeconds to wait longer.";
  if (verdict.kind !== "busy") {
    return new LockBusyError(
      `Could not take the remote lock on ${remote.location}: the server's listing never showed this instance's own claim, so ${waited}; ${retry}`,
    );
  }
  const holder = verdict.holders[0]!;
  const read = await readClaim(remote, holder.path).catch(() => "garbage" as const);
  const who =
    typeof read === "object"
      ? `instance "${read.instance}" on host "${read.host}" (pid ${read.pid}, since ${read.acquiredAt})`
      : `another instance (claim ${holder.name})`;
  return new LockBusyError(`The remote lock on ${remote.location} is held by ${who}; ${waited}; ${retry}`);
}
