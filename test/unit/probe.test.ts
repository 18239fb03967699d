/**
 * The probe's verdict rule (SPEC §3, issue 6) against an in-memory Remote whose listings can be made to
 * lack modification times, lag, or never show a new file; and ensureProbed's record keeping.
 */
import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ShareError } from "../../src/errors.js";
import { RemoteError } from "../../src/remote/errors.js";
import {
  ensureProbed,
  probeShare,
  probeStateKey,
  ProbeRefusedError,
  readProbeReport,
  SCRATCH_PREFIX,
  type ProbeOptions,
} from "../../src/remote/probe.js";
import { OWNER_FILE, thisProcess, type ScratchOwner } from "../../src/remote/probe-scratch.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "../../src/remote/remote.js";

const norm = (p: string) => p.replace(/^\/+|\/+$/g, "");
const parentOf = (p: string) => norm(p).split("/").slice(0, -1).join("/");

/** A share in memory: folders must exist before writing into them, as on every real server. */
class FakeRemote implements Remote {
  readonly location = "http://fake.example/dav/syncd";
  files = new Map<string, { data: Buffer; mtime: Date }>();
  dirs = new Map<string, Date>([["", new Date()]]);
  /** Listings carry getlastmodified. */
  listMtimes = true;
  /** How many listings of a file's folder omit it after it was written (Infinity: never listed). */
  listingLag = 0;
  /** How many of the next listings of a claims folder end early, after their first entry in name order (rclone, lease.ts LISTING_END). */
  cutShortListings = 0;
  private listedSince = new Map<string, number>();
  /** Throw this from the next move. */
  failMove: RemoteError | null = null;
  requests = 0;

  async get(path: string): Promise<Buffer> {
    this.requests++;
    const f = this.files.get(norm(path));
    if (!f) throw new RemoteError("not-found", "GET", path, "404 Not Found.", { status: 404 });
    return f.data;
  }
  async getStream(path: string): Promise<Readable> {
    return Readable.from([await this.get(path)]);
  }
  async put(path: string, body: Buffer | StreamBody): Promise<void> {
    this.requests++;
    if (!Buffer.isBuffer(body)) throw new Error("fake takes buffers only");
    if (!this.dirs.has(parentOf(path))) throw new RemoteError("conflict", "PUT", path, "409 Conflict.", { status: 409 });
    this.files.set(norm(path), { data: Buffer.from(body), mtime: new Date(Math.floor(Date.now() / 1000) * 1000) });
    this.listedSince.set(norm(path), 0);
  }
  async delete(path: string): Promise<void> {
    this.requests++;
    const p = norm(path);
    if (this.files.delete(p)) return;
    if (!this.dirs.has(p)) throw new RemoteError("not-found", "DELETE", path, "404 Not Found.", { status: 404 });
    for (const k of [...this.files.keys()]) if (k.startsWith(`${p}/`)) this.files.delete(k);
    for (const k of [...this.dirs.keys()]) if (k === p || k.startsWith(`${p}/`)) this.dirs.delete(k);
  }
  async move(from: string, to: string): Promise<void> {
    this.requests++;
    if (this.failMove) throw this.failMove;
    const f = this.files.get(norm(from));
    if (!f) throw new RemoteError("not-found", "MOVE", from, "404 Not Found.", { status: 404 });
    if (!this.dirs.has(parentOf(to))) throw new RemoteError("conflict", "MOVE", from, "409 Conflict.", { status: 409 });
    this.files.delete(norm(from));
    this.files.set(norm(to), f);
  }
  async mkdir(path: string): Promise<void> {
    this.requests++;
    const p = norm(path);
    if (this.dirs.has(p)) return;
    if (p !== "" && !this.dirs.has(parentOf(p))) throw new RemoteError("conflict", "MKCOL", path, "409 Conflict.", { status: 409 });
    this.dirs.set(p, new Date());
  }
  async stat(path: string): Promise<RemoteStat | null> {
    this.requests++;
    const p = norm(path);
    const f = this.files.get(p);
    if (f) return { path: p, name: p.split("/").pop()!, type: "file", size: f.data.length, mtime: f.mtime, etag: `"${f.mtime.getTime()}-${f.data.length}-${f.data[0]}"` };
    const d = this.dirs.get(p);
    return d ? { path: p, name: p.split("/").pop()!, type: "directory", size: 0, mtime: d, etag: null } : null;
  }
  async list(dir: string): Promise<Listing> {
    this.requests++;
    const d = norm(dir);
    if (!this.dirs.has(d)) throw new RemoteError("not-found", "PROPFIND", dir, "404 Not Found.", { status: 404 });
    const entries: RemoteStat[] = [];
    const child = (k: string) => parentOf(k) === d && k !== d;
    for (const [k, f] of this.files) {
      if (!child(k)) continue;
      const seen = this.listedSince.get(k) ?? 0;
      this.listedSince.set(k, seen + 1);
      if (seen < this.listingLag) continue;
      entries.push({ path: k, name: k.split("/").pop()!, type: "file", size: f.data.length, mtime: this.listMtimes ? f.mtime : new Date(Number.NaN), etag: null });
    }
    for (const [k, m] of this.dirs) if (child(k)) entries.push({ path: k, name: k.split("/").pop()!, type: "directory", size: 0, mtime: m, etag: null });
    if (this.cutShortListings > 0 && d.endsWith("/claims")) {
      this.cutShortListings--;
      return { entries: entries.sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, 1), serverDate: new Date() };
    }
    return { entries, serverDate: new Date() };
  }
  async size(path: string): Promise<number | null> {
    this.requests++;
    return this.files.get(norm(path))?.data.length ?? null;
  }
  async sizes(dir: string): Promise<Map<string, number>> {
    const listing = await this.list(dir).catch(() => ({ entries: [] }));
    return new Map(listing.entries.filter((e) => e.type === "file").map((e) => [e.name, e.size]));
  }
  async close(): Promise<void> {}

  scratchLeft(): string[] {
    return [...this.dirs.keys()].filter((k) => k.startsWith(SCRATCH_PREFIX));
  }
}

const fast: ProbeOptions = { sleep: async () => {} };

function state(): { getState(k: string): string | null; setState(k: string, v: string): void; map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getState: (k) => map.get(k) ?? null, setState: (k, v) => void map.set(k, v) };
}

async function refusal(p: Promise<unknown>): Promise<ProbeRefusedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProbeRefusedError) return err;
    throw err;
  }
  throw new Error("expected the probe to refuse the share");
}

describe("probeShare's verdict", () => {
  it("accepts a share whose listings show new files with modification times; without raw requests statuses are null", async () => {
    const remote = new FakeRemote();
    const report = await probeShare(remote, fast);
    expect(report.verdict).toBe("ok");
    expect(report.rawChecks).toBe(false);
    expect(report.findings.listing).toMatchObject({ modificationTimes: true, visible: true, lagged: 0 });
    expect(report.findings.listing.relists).toEqual(Array(16).fill(0));
    expect(report.findings.listing).toMatchObject({ listings: 16, cutShort: 0 });
    expect(report.findings.roundTrip.ok).toBe(true);
    expect(report.findings.moveOverwrite).toMatchObject({ replaced: true, sourceGone: true });
    expect(report.findings.putMissingParent).toEqual({ status: null, remoteKind: "conflict" });
    expect(report.findings.depth).toEqual({ none: null, infinity: null });
    expect(report.findings.etag).toMatchObject({ source: "propfind", stableWithoutWrite: true, changesOnSameSizeRewrite: true });
    expect(report.notes.join(" ")).toContain("not measured");
    expect(report.scratchRemoved).toBe(true);
    expect(remote.scratchLeft()).toEqual([]);
  });

  it("refuses a share whose listings have no modification times, saying why the lease cannot be safe, and cleans up", async () => {
    const remote = new FakeRemote();
    remote.listMtimes = false;
    const err = await refusal(probeShare(remote, fast));
    expect(err).toBeInstanceOf(ShareError);
    expect(err.code).toBe("share-unsafe");
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain(remote.location);
    expect(err.message).toMatch(/no modification time/);
    expect(err.message).toMatch(/SPEC §3/);
    expect(err.message).toMatch(/crashed instance would block every other/);
    expect(err.report.verdict).toBe("refused");
    expect(err.report.findings.listing.modificationTimes).toBe(false);
    expect(err.report.refusal).toBe(err.message.slice(err.message.indexOf(": ") + 2));
    expect(remote.scratchLeft()).toEqual([]);
  });

  it("refuses a share whose listings never show a claim after N relists", async () => {
    const remote = new FakeRemote();
    remote.listingLag = Infinity;
    const slept: number[] = [];
    const err = await refusal(probeShare(remote, { maxRelists: 4, sleep: async (ms) => void slept.push(ms) }));
    expect(err.message).toMatch(/never appeared in 5 listings of its folder over 1\.0 s/);
    expect(err.message).toMatch(/sees its own claim listed/);
    expect(err.report.findings.listing.visible).toBe(false);
    expect(err.report.findings.listing.relists).toContain(null);
    // Once one claim is known never to show, the other trials stop instead of waiting out their relists.
    expect(err.report.findings.listing.relists.length).toBeLessThan(16);
    expect(slept.slice(0, 4)).toEqual([100, 100, 100, 100]); // eight writers relist in step: 100 ms, then 200…
    expect(remote.scratchLeft()).toEqual([]);
  });

  it("accepts a lagging listing (a quirk, SPEC §3 covers it) and records how many relists it took", async () => {
    const remote = new FakeRemote();
    remote.listingLag = 2; // counted per listing of the folder: one writer at a time keeps it exact
    const report = await probeShare(remote, { ...fast, listingConcurrency: 1 });
    expect(report.verdict).toBe("ok");
    expect(report.findings.listing.relists).toEqual(Array(16).fill(2));
    expect(report.findings.listing.lagged).toBe(16);
    expect(report.notes.join(" ")).toMatch(/Listings lag behind completed PUTs \(16 of 16 .* after 2 relists\)/);
  });

  it("counts listings that end early (rclone), accepts them and says how the lease copes", async () => {
    const remote = new FakeRemote();
    remote.cutShortListings = 3;
    const report = await probeShare(remote, { ...fast, listingConcurrency: 1 });
    expect(report.verdict).toBe("ok");
    const { listing } = report.findings;
    expect(listing.cutShort).toBe(3);
    // A cut-short listing that left out the new claim was taken again.
    expect(listing.listings).toBe(16 + listing.relists.reduce<number>((n, r) => n + (r ?? 0), 0));
    expect(report.notes.join(" ")).toMatch(new RegExp(`3 of ${listing.listings} listings ended early.*end marker`));
  });

  it("removes its scratch folder when a check fails, and reports the failure itself", async () => {
    const remote = new FakeRemote();
    remote.failMove = new RemoteError("network", "MOVE", "x", "connection reset by the server.");
    await expect(probeShare(remote, fast)).rejects.toBe(remote.failMove);
    expect(remote.scratchLeft()).toEqual([]);
  });

  it("creates the share's root when it does not exist yet, and removes scratch folders of probes that died", async () => {
    const remote = new FakeRemote();
    remote.dirs.clear();
    await probeShare(remote, fast);
    expect(remote.dirs.has("")).toBe(true);
    remote.dirs.set(`${SCRATCH_PREFIX}dead`, new Date(Date.now() - 2 * 3600_000));
    remote.dirs.set(`${SCRATCH_PREFIX}running`, new Date(Date.now() - 60_000));
    await probeShare(remote, fast);
    expect(remote.scratchLeft()).toEqual([`${SCRATCH_PREFIX}running`]);
  });
});

/** The pid of a process that has exited (the kernel hands pids out in order: not reused at once). */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ["-e", ""]).pid;
  if (!pid) throw new Error("could not start a process");
  return pid;
}

/** A scratch folder as a probe leaves it when it dies, written `ageMs` ago, with `owner.json` if given. */
function leaveScratch(remote: FakeRemote, name: string, owner: ScratchOwner | null, ageMs = 60_000): void {
  remote.dirs.set(`${SCRATCH_PREFIX}${name}`, new Date(Date.now() - ageMs));
  if (owner) remote.files.set(`${SCRATCH_PREFIX}${name}/${OWNER_FILE}`, { data: Buffer.from(JSON.stringify(owner)), mtime: new Date(Date.now() - ageMs) });
}

describe("scratch folders of probes that died (issue 11)", () => {
  it("removes a fresh one whose owner ran on this machine and is gone; keeps live, foreign and unknown ones", async () => {
    const me = thisProcess();
    const remote = new FakeRemote();
    leaveScratch(remote, "dead", { ...me, pid: deadPid() });
    leaveScratch(remote, "live", { ...me, pid: process.ppid }); // a concurrent probe, running right now
    leaveScratch(remote, "elsewhere", { ...me, machine: "another-boot/pid:[1]", pid: deadPid() }); // its pid means nothing here
    leaveScratch(remote, "unknown", null); // a probe that has not written its owner yet, or an older syncd
    leaveScratch(remote, "old", { ...me, machine: "another-boot/pid:[1]" }, 2 * 3600_000);
    await probeShare(remote, fast);
    expect(remote.scratchLeft().sort()).toEqual([`${SCRATCH_PREFIX}elsewhere`, `${SCRATCH_PREFIX}live`, `${SCRATCH_PREFIX}unknown`]);
  });

  it("the probe's own folder names its owner while it runs", async () => {
    const remote = new FakeRemote();
    let owner: ScratchOwner | null = null;
    const put = remote.put.bind(remote);
    remote.put = async (path, body) => {
      await put(path, body);
      if (path.endsWith(`/${OWNER_FILE}`)) owner = JSON.parse((body as Buffer).toString()) as ScratchOwner;
    };
    await probeShare(remote, fast);
    expect(owner).toMatchObject({ pid: process.pid, machine: thisProcess().machine });
  });

  it("a probe from this data directory that never finished is removed by the next one, whatever its age", async () => {
    const remote = new FakeRemote();
    const lib = state();
    // What a first sync killed during its probe leaves: the local record of the probe, and its folder (here
    // without owner.json: killed before writing it), younger than an hour.
    const killed = { ...thisProcess(), pid: deadPid() };
    lib.setState(probeStateKey(remote.location), JSON.stringify({ unfinished: { scratch: `${SCRATCH_PREFIX}killed`, owner: killed } }));
    leaveScratch(remote, "killed", null);
    expect(readProbeReport(lib, remote.location)).toBeNull(); // so the next sync probes
    const report = await ensureProbed(lib, remote, remote.location, fast);
    expect(report.verdict).toBe("ok");
    expect(remote.scratchLeft()).toEqual([]);
    expect(readProbeReport(lib, remote.location)).toEqual(report);
  });

  it("keeps the folder of a probe from this data directory that is still running (syncd probe beside the daemon)", async () => {
    const remote = new FakeRemote();
    const lib = state();
    const running = { ...thisProcess(), pid: process.ppid };
    lib.setState(probeStateKey(remote.location), JSON.stringify({ unfinished: { scratch: `${SCRATCH_PREFIX}running`, owner: running } }));
    leaveScratch(remote, "running", null);
    await ensureProbed(lib, remote, remote.location, fast);
    expect(remote.scratchLeft()).toEqual([`${SCRATCH_PREFIX}running`]);
  });
});

describe("ensureProbed", () => {
  it("probes a share once and records the report under probe:<location>; later calls read it back", async () => {
    const remote = new FakeRemote();
    const lib = state();
    const first = await ensureProbed(lib, remote, remote.location, fast);
    expect([...lib.map.keys()]).toEqual([probeStateKey(remote.location)]);
    expect(probeStateKey(remote.location)).toBe("probe:http://fake.example/dav/syncd");
    expect(JSON.parse(lib.map.get(probeStateKey(remote.location))!)).toEqual(first);
    expect(Date.parse(first.probedAt)).toBeGreaterThan(Date.now() - 60_000);
    const before = remote.requests;
    const again = await ensureProbed(lib, remote, remote.location, fast);
    expect(again).toEqual(first);
    expect(remote.requests).toBe(before); // not a single request
    expect(readProbeReport(lib, remote.location)).toEqual(first);
    // Another share (another location) is probed on its own.
    await ensureProbed(lib, remote, "embedded:/data/share/syncd", fast);
    expect(remote.requests).toBeGreaterThan(before);
    expect(readProbeReport(lib, "embedded:/data/share/syncd")!.location).toBe("embedded:/data/share/syncd");
  });

  it("records a refusal, throws it, and probes again next time (the server may have been fixed)", async () => {
    const remote = new FakeRemote();
    remote.listMtimes = false;
    const lib = state();
    await expect(ensureProbed(lib, remote, undefined, fast)).rejects.toBeInstanceOf(ProbeRefusedError);
    expect(readProbeReport(lib, remote.location)!.verdict).toBe("refused");
    remote.listMtimes = true;
    const report = await ensureProbed(lib, remote, undefined, fast);
    expect(report.verdict).toBe("ok");
    expect(readProbeReport(lib, remote.location)!.verdict).toBe("ok");
  });

  it("ignores a stored report it cannot read, and probes", async () => {
    const remote = new FakeRemote();
    const lib = state();
    lib.setState(probeStateKey(remote.location), "{not json");
    expect(readProbeReport(lib, remote.location)).toBeNull();
    expect((await ensureProbed(lib, remote, undefined, fast)).verdict).toBe("ok");
  });
});
