import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLostError, LockBusyError } from "../../src/errors.js";
import { RemoteError } from "../../src/remote/errors.js";
import { LISTING_END, LOCK_DIR, RemoteLease, withLease, type LeaseEvent, type LeaseOptions } from "../../src/remote/lease.js";
import type { Listing, Remote } from "../../src/remote/remote.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let dav: DavServer;
let roots = 0;
const opened: Remote[] = [];

beforeAll(async () => {
  dav = await startDavServer();
});
afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
  await dav.close();
});

/**
 * A fresh share root per test, so that claims of one test never meet another's. Its lock folder is an
 * established one (with the end-of-listing marker) unless `newLockDir`.
 */
async function freshRoot({ newLockDir = false } = {}): Promise<{ root: string; remote: () => Remote; lockDir: string }> {
  const root = `lease-${++roots}`;
  const remote = () => {
    const r = createWebdavRemote({ url: dav.url, root, timeoutMs: 5000 });
    opened.push(r);
    return r;
  };
  await remote().mkdir("");
  const lockDir = join(dav.dir, root, LOCK_DIR);
  if (!newLockDir) {
    await mkdir(lockDir);
    await writeFile(join(lockDir, LISTING_END), "marker\n");
  }
  return { root, remote, lockDir };
}

/** The lock folder's files but the end-of-listing marker (written once, never deleted). */
async function claimsIn(lockDir: string): Promise<string[]> {
  return (await readdir(lockDir)).filter((n) => n !== LISTING_END).sort();
}

function opts(instance: string, extra: Partial<LeaseOptions> = {}): LeaseOptions {
  return { ttlMs: 5000, waitMs: 10_000, instance, ...extra };
}

/** Wraps a Remote to inject faults: failing or slow PUTs, listings that omit some entries. */
function faulty(
  inner: Remote,
  ctl: { failPut?: boolean; putDelayMs?: number; hideFromList?: (name: string) => boolean },
): Remote {
  return {
    location: inner.location,
    get: (p) => inner.get(p),
    getStream: (p) => inner.getStream(p),
    put: async (p, b) => {
      if (ctl.putDelayMs) await sleep(ctl.putDelayMs);
      if (ctl.failPut) throw new RemoteError("network", "PUT", `${inner.location}/${p}`, "connection reset by the server.");
      return inner.put(p, b);
    },
    delete: (p) => inner.delete(p),
    move: (a, b) => inner.move(a, b),
    mkdir: (p) => inner.mkdir(p),
    stat: (p) => inner.stat(p),
    list: async (d): Promise<Listing> => {
      const listing = await inner.list(d);
      const hide = ctl.hideFromList;
      return hide ? { ...listing, entries: listing.entries.filter((e) => !hide(e.name)) } : listing;
    },
    size: (p) => inner.size(p),
    sizes: (d) => inner.sizes(d),
    close: () => inner.close(),
  };
}

describe("RemoteLease: mutual exclusion", () => {
  it("a contender gives up with LockBusyError (exit code 75) naming the holder, and leaves no claim", async () => {
    const { remote, lockDir } = await freshRoot();
    const holder = await RemoteLease.acquire(remote(), opts("laptop", { host: "host-a", pid: 4242 }));
    const events: LeaseEvent[] = [];
    const started = performance.now();
    const err = await RemoteLease.acquire(remote(), opts("desktop", { waitMs: 1500, onEvent: (e) => events.push(e) })).then(
      () => null,
      (e: unknown) => e,
    );
    const waited = performance.now() - started;
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as LockBusyError).exitCode).toBe(75);
    expect((err as LockBusyError).message).toContain('held by instance "laptop" on host "host-a" (pid 4242');
    expect((err as LockBusyError).message).toMatch(/try again later/);
    expect(waited).toBeGreaterThanOrEqual(1500);
    expect(waited).toBeLessThan(1500 + 3000);
    const waits = events.filter((e) => e.type === "waiting");
    expect(waits.length).toBeGreaterThan(1);
    // Each wait names the holder, from its claim, and how long the wait may still last, less and less.
    for (const w of waits) expect(w.holder).toMatchObject({ instance: "laptop", host: "host-a", pid: 4242 });
    expect(waits[0]!.leftMs).toBeGreaterThan(waits.at(-1)!.leftMs!);
    expect(waits.at(-1)!.leftMs).toBeLessThanOrEqual(1500);
    expect(await claimsIn(lockDir)).toEqual([`${holder.token}.json`]);
    holder.assertSafeToWrite(); // the holder was never disturbed
    await holder.release();
  });

  it("waitMs 0 still makes one attempt", async () => {
    const { remote } = await freshRoot();
    const lease = await RemoteLease.acquire(remote(), opts("solo", { waitMs: 0 }));
    await expect(RemoteLease.acquire(remote(), opts("late", { waitMs: 0 }))).rejects.toBeInstanceOf(LockBusyError);
    await lease.release();
  });
});

describe("RemoteLease: expiry", () => {
  it("a holder that stops heartbeating loses the lock after its TTL, not before", async () => {
    const { remote } = await freshRoot();
    const ttlMs = 3000;
    const beforeA = performance.now();
    const a = await RemoteLease.acquire(remote(), opts("frozen", { ttlMs }));
    a.stopHeartbeat();
    const events: LeaseEvent[] = [];
    const b = await RemoteLease.acquire(remote(), opts("next", { ttlMs, onEvent: (e) => events.push(e) }));
    const tookOver = performance.now() - beforeA;
    // Safety: when B got the lock, A's own conservative clock already said its lease was over.
    expect(a.remainingMs()).toBe(0);
    expect(() => a.assertSafeToWrite()).toThrow(LeaseLostError);
    // Not before the TTL (minus the 1 s mtime granularity), and not much after it.
    expect(tookOver).toBeGreaterThanOrEqual(ttlMs - 1000);
    expect(tookOver).toBeLessThan(ttlMs + 1000 + 2500);
    expect(events.some((e) => e.type === "waiting")).toBe(true);
    expect(events.some((e) => e.type === "expired-claim-removed" && e.detail?.startsWith(a.token))).toBe(true);
    b.assertSafeToWrite();
    await b.release();
    await a.release(); // its claim is already gone: no error
    console.log(`lease expiry: TTL ${ttlMs} ms, taken over after ${Math.round(tookOver)} ms`);
  });

  it("removes expired and garbage claims, but respects a claim whose own TTL is longer than ours", async () => {
    const { remote, lockDir } = await freshRoot();
    await mkdir(lockDir, { recursive: true });
    const past = (s: number) => new Date(Date.now() - s * 1000);
    const claim = (token: string, ttlMs: number) =>
      JSON.stringify({ token, instance: "old", host: "far", pid: 1, ttlMs, acquiredAt: past(60).toISOString() });
    await writeFile(join(lockDir, "expired.json"), claim("expired", 5000));
    await utimes(join(lockDir, "expired.json"), past(60), past(60));
    await writeFile(join(lockDir, "garbage.json"), "{not json");
    await utimes(join(lockDir, "garbage.json"), past(60), past(60));
    await writeFile(join(lockDir, "notes.txt"), "not a claim: ignored");

    const events: LeaseEvent[] = [];
    const lease = await RemoteLease.acquire(remote(), opts("fresh", { waitMs: 0, onEvent: (e) => events.push(e) }));
    expect(events.filter((e) => e.type === "expired-claim-removed").map((e) => e.detail?.split(" ")[0]).sort()).toEqual([
      "expired.json",
      "garbage.json",
    ]);
    expect(await claimsIn(lockDir)).toEqual([`${lease.token}.json`, "notes.txt"]);
    await lease.release();

    // 20 s old: expired by our 5 s TTL, but its owner declared 120 s: still live.
    await writeFile(join(lockDir, "long.json"), claim("long", 120_000));
    await utimes(join(lockDir, "long.json"), past(20), past(20));
    const err = await RemoteLease.acquire(remote(), opts("fresh", { waitMs: 300 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as Error).message).toContain('instance "old" on host "far"');
    expect(await claimsIn(lockDir)).toEqual(["long.json", "notes.txt"]);
  });
});

describe("RemoteLease: heartbeat", () => {
  it("keeps the lease alive well past its TTL by rewriting the claim", async () => {
    const { remote, root } = await freshRoot();
    const ttlMs = 2000;
    const lease = await RemoteLease.acquire(remote(), opts("steady", { ttlMs }));
    dav.reset();
    await sleep(2.5 * ttlMs);
    expect(lease.remainingMs()).toBeGreaterThanOrEqual(ttlMs / 3);
    lease.assertSafeToWrite();
    const beats = dav.count({ method: "PUT", path: `/${root}/${LOCK_DIR}/${lease.token}.json` });
    expect(beats).toBeGreaterThanOrEqual(10); // every (TTL - 1 s)/4 = 250 ms for 5 s
    // Another contender sees a live claim all along.
    await expect(RemoteLease.acquire(remote(), opts("other", { ttlMs, waitMs: 200 }))).rejects.toBeInstanceOf(LockBusyError);
    await lease.release();
  });

  it("reports failing heartbeats and stops writes once less than TTL/3 is left", async () => {
    const { remote } = await freshRoot();
    const ctl: { failPut?: boolean } = {};
    const events: LeaseEvent[] = [];
    const ttlMs = 3000;
    const lease = await RemoteLease.acquire(faulty(remote(), ctl), opts("flaky", { ttlMs, onEvent: (e) => events.push(e) }));
    ctl.failPut = true;
    await sleep(1300); // validUntil = TTL - 1 s = 2 s; TTL/3 = 1 s: writes stop after ~1 s
    const failed = events.filter((e) => e.type === "heartbeat-failed");
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed[0]!.detail).toContain("connection reset");
    expect(() => lease.assertSafeToWrite()).toThrow(/lease left \(last heartbeat failed: WebDAV PUT .* connection reset/);
    ctl.failPut = false;
    await lease.release();
  });

  it("a heartbeat that completes after the lease ran out does not revive it", async () => {
    const { remote } = await freshRoot();
    const ctl: { putDelayMs?: number } = {};
    const ttlMs = 3000;
    const lease = await RemoteLease.acquire(faulty(remote(), ctl), opts("slow", { ttlMs }));
    ctl.putDelayMs = 2000; // the beat at 500 ms completes at ~2500 ms, after validUntil (~2000 ms)
    await sleep(3200);
    expect(lease.remainingMs()).toBe(0);
    expect(() => lease.assertSafeToWrite()).toThrow(/was lost \(the heartbeat completed only after the lease had run out\)/);
    ctl.putDelayMs = 0;
    await lease.release();
  });
});

describe("RemoteLease: release, withLease, injected clock", () => {
  it("release deletes only its own claim, once, and never fails when it is already gone", async () => {
    const { remote, root, lockDir } = await freshRoot();
    const r = remote();
    const lease = await RemoteLease.acquire(r, opts("me"));
    await r.put(`${LOCK_DIR}/someone-else.json`, Buffer.from("{}"));
    dav.reset();
    await lease.release();
    expect(dav.requests.filter((q) => q.method === "DELETE").map((q) => q.path)).toEqual([`/${root}/${LOCK_DIR}/${lease.token}.json`]);
    expect(await claimsIn(lockDir)).toEqual(["someone-else.json"]);
    await lease.release();
    expect(dav.count({ method: "DELETE" })).toBe(1);
    expect(() => lease.assertSafeToWrite()).toThrow(/already released/);

    const other = await RemoteLease.acquire(remote(), opts("me2", { waitMs: 0 })).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(LockBusyError); // someone-else.json is fresh, hence live
    await r.delete(`${LOCK_DIR}/someone-else.json`);
    const third = await RemoteLease.acquire(r, opts("me3"));
    await r.delete(`${LOCK_DIR}/${third.token}.json`); // gone behind its back
    await expect(third.release()).resolves.toBeUndefined();
  });

  it("withLease releases when fn throws, and passes the result through", async () => {
    const { remote, lockDir } = await freshRoot();
    const r = remote();
    await expect(withLease(r, opts("x"), async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await claimsIn(lockDir)).toEqual([]);
    expect(await withLease(r, opts("x"), async (lease) => lease.token.length)).toBeGreaterThan(0);
    expect(await claimsIn(lockDir)).toEqual([]);
  });

  it("writes its claim as JSON with token, instance, host, pid, ttlMs and acquiredAt", async () => {
    const { remote } = await freshRoot();
    const r = remote();
    const lease = await RemoteLease.acquire(r, opts("laptop", { ttlMs: 7000 }));
    expect(lease.token).toMatch(/^[0-9a-f-]{36}$/);
    const claim = JSON.parse((await r.get(`${LOCK_DIR}/${lease.token}.json`)).toString());
    expect(claim).toEqual({ token: lease.token, instance: "laptop", host: hostname(), pid: process.pid, ttlMs: 7000, acquiredAt: expect.any(String) });
    expect(Number.isNaN(Date.parse(claim.acquiredAt))).toBe(false);
    await lease.release();
  });

  it("assertSafeToWrite throws once less than TTL/3 is left (injected clock)", async () => {
    const { remote } = await freshRoot();
    let t = 1_000_000;
    const ttlMs = 60_000;
    const lease = await RemoteLease.acquire(remote(), opts("clock", { ttlMs, now: () => t }));
    // validUntil = start of the claim's PUT + TTL - 1 s (mtime granularity)
    expect(lease.remainingMs()).toBe(ttlMs - 1000);
    lease.assertSafeToWrite();
    t += ttlMs - 1000 - ttlMs / 3; // exactly TTL/3 left: still fine
    expect(lease.remainingMs()).toBe(ttlMs / 3);
    lease.assertSafeToWrite();
    t += 1;
    expect(() => lease.assertSafeToWrite()).toThrow(LeaseLostError);
    expect(() => lease.assertSafeToWrite()).toThrow(/has 20\.0 s of its 60 s lease left/);
    t += ttlMs;
    expect(lease.remainingMs()).toBe(0);
    await lease.release();
  });

  it("creates the share's root folder on a new share, but not the folders above it", async () => {
    const fresh = createWebdavRemote({ url: dav.url, root: `new-share-${++roots}`, timeoutMs: 5000 });
    opened.push(fresh);
    await withLease(fresh, opts("first"), async () => {});
    expect((await fresh.stat(LOCK_DIR))?.type).toBe("directory");
    const typo = createWebdavRemote({ url: `${dav.url}/no-such-parent`, root: "syncd", timeoutMs: 5000 });
    opened.push(typo);
    await expect(RemoteLease.acquire(typo, opts("typo"))).rejects.toMatchObject({ kind: "conflict" });
  });

  it("rejects a TTL too short to leave a usable lease", async () => {
    const { remote } = await freshRoot();
    await expect(RemoteLease.acquire(remote(), opts("x", { ttlMs: 1500 }))).rejects.toBeInstanceOf(RangeError);
  });
});

describe("RemoteLease: listings that leave claims out (rclone)", () => {
  it("lists again while its own claim is missing, then holds", async () => {
    const { remote } = await freshRoot();
    let hidden = 2;
    let lists = 0;
    const inner = remote();
    const lazy: Remote = {
      ...faulty(inner, {}),
      list: async (d) => {
        lists++;
        const listing = await inner.list(d);
        return hidden-- > 0 ? { ...listing, entries: [] } : listing;
      },
    };
    const lease = await RemoteLease.acquire(lazy, opts("lazy", { waitMs: 0 }));
    // Two listings without its claim (after the first, the marker it lacked is written again), then one with it.
    expect(lists).toBe(3);
    await lease.release();
  });

  it("a listing cut short before the end marker never counts: the rival it left out is found (rclone)", async () => {
    const { remote, lockDir } = await freshRoot();
    // Sorts after every claim token, before the marker: what rclone leaves out of a listing it ends early.
    await writeFile(join(lockDir, "fz-rival.json"), JSON.stringify({ token: "fz-rival", instance: "rival", host: "h", pid: 2, ttlMs: 5000, acquiredAt: new Date().toISOString() }));
    let lists = 0;
    const inner = remote();
    const cutShort: Remote = {
      ...faulty(inner, {}),
      list: async (d) => {
        const listing = await inner.list(d);
        // x/net/webdav ends the 207 at an entry deleted between its readdir and its stat: a name-ordered prefix.
        return ++lists <= 2 ? { ...listing, entries: listing.entries.filter((e) => e.name < "fz") } : listing;
      },
    };
    const err = await RemoteLease.acquire(cutShort, opts("cut", { waitMs: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as Error).message).toContain('instance "rival"');
    expect(lists).toBe(3);
    expect(await claimsIn(lockDir)).toEqual(["fz-rival.json"]);
  });

  it("a new lock folder (or one from a syncd before the marker) gets the marker; then one listing decides", async () => {
    const { remote, lockDir } = await freshRoot({ newLockDir: true });
    let lists = 0;
    const inner = remote();
    const counted: Remote = { ...faulty(inner, {}), list: async (d) => (lists++, inner.list(d)) };
    await withLease(counted, opts("first", { waitMs: 0 }), async () => {});
    expect(lists).toBe(2);
    expect(await readdir(lockDir)).toEqual([LISTING_END]);
    await withLease(counted, opts("second", { waitMs: 0 }), async () => {});
    expect(lists).toBe(3);
  });

  it("on a server whose listings are complete, one listing decides", async () => {
    const { remote } = await freshRoot();
    let lists = 0;
    const inner = remote();
    const counted: Remote = { ...faulty(inner, {}), list: async (d) => (lists++, inner.list(d)) };
    const lease = await RemoteLease.acquire(counted, opts("prompt", { waitMs: 0 }));
    expect(lists).toBe(1);
    await lease.release();
  });

  it("never holds on a listing that does not show its own claim", async () => {
    const { remote, lockDir } = await freshRoot();
    const blind = faulty(remote(), { hideFromList: () => true });
    const err = await RemoteLease.acquire(blind, opts("blind", { waitMs: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as Error).message).toContain("never showed this instance's own claim");
    expect(await claimsIn(lockDir)).toEqual([]);
  });
});

describe("RemoteLease: process lifetime", () => {
  it("never keeps the process alive: a holder that neither releases nor closes still exits", async () => {
    const { root } = await freshRoot();
    // A child process must run plain JS: the build of src/ that test/global-setup.ts makes before the suite.
    const lease = new URL("../../dist/remote/lease.js", import.meta.url);
    const webdav = new URL("../../dist/remote/webdav-remote.js", import.meta.url);
    expect(existsSync(fileURLToPath(lease)), "dist/ is missing: run the build (test/global-setup.ts does)").toBe(true);
    const script = `
      const { RemoteLease } = await import(${JSON.stringify(lease.href)});
      const { createWebdavRemote } = await import(${JSON.stringify(webdav.href)});
      const remote = createWebdavRemote({ url: ${JSON.stringify(dav.url)}, root: ${JSON.stringify(root)}, timeoutMs: 5000 });
      const lease = await RemoteLease.acquire(remote, { ttlMs: 60000, waitMs: 0, instance: "child" });
      lease.assertSafeToWrite();
      console.log("held " + lease.token);
    `;
    const started = performance.now();
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 20_000 }, (err, out) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout: out }),
      );
      child.stdin?.end();
    });
    const took = performance.now() - started;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^held [0-9a-f-]{36}$/m);
    // The heartbeat (every ~15 s here) and the pooled keep-alive socket must not hold the event loop.
    expect(took).toBeLessThan(5000);
  });
});
