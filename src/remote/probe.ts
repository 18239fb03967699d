/**
 * The capability probe (issue 6, SPEC §5 `syncd probe`): tests, in a scratch folder of the share, the
 * behaviours the engine relies on and the server differences of FIELD-NOTES.md, and says whether the
 * lease of SPEC §3 can be safe there.
 *
 * Two things refuse a share, because the lease cannot work without them:
 * - listings without modification times: a claim is live while its server mtime plus its TTL is in the
 *   future, so without an mtime no claim could ever be judged expired (a crashed instance's claim would
 *   block every other forever), and no holder could prove its claim fresh;
 * - a claim that never shows up in a listing: a contender holds the lock only when it sees its own claim
 *   listed (proof that the listing is recent enough to show a competitor's claim too). A listing that lags
 *   behind a completed PUT, or ends early (rclone), is a quirk the lease's relisting covers, not a refusal.
 * Everything else is recorded as findings; syncd is written not to depend on it (folders created before
 * writing, an explicit Depth on every PROPFIND, trailing slashes on folders, Content-Length on every PUT,
 * no LOCK, no conditional request, no ETag).
 *
 * Checks that need a status or a header the Remote interface hides go through the remote's raw requester
 * (webdav-remote.ts, RAW_REQUEST); without one (a wrapped or fake Remote) they are recorded as null
 * ("not measured"), and the verdict, which needs only the Remote interface, is unaffected.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ShareError } from "../errors.js";
import type { Library } from "../store/library.js";
import { isRemoteError, type RemoteErrorKind } from "./errors.js";
import { isCompleteListing, LISTING_END } from "./lease.js";
import { isAlive, newScratchName, parseOwner, removeStaleScratch, SCRATCH_PREFIX, thisProcess, writeOwner, type ScratchOwner } from "./probe-scratch.js";
import type { Remote, RemoteStat } from "./remote.js";
import { asCleanup } from "./stop.js";
import { rawRequesterOf, type RawRequester, type RawResponse } from "./webdav-remote.js";
import { notesOf, PROBE_REPORT_VERSION, refusalOf, warningsOf, type EtagFinding, type ProbeFindings, type ProbeReport } from "./probe-report.js";

export { describeReport, PROBE_REPORT_VERSION, type EtagFinding, type ProbeFindings, type ProbeReport } from "./probe-report.js";
/** Scratch folders are named `${SCRATCH_PREFIX}<random hex>` under the share's root (see probe-scratch.ts). */
export { SCRATCH_PREFIX } from "./probe-scratch.js";

export interface ProbeOptions {
  /** Raw requests for the checks the Remote interface hides; default: the remote's own, if it has one. */
  raw?: RawRequester | null;
  /**
   * Claims written to measure how fast listings show a new file (default 16), `listingConcurrency` at a
   * time (default 8), each followed by listings of the folder until it shows, as lease contenders do:
   * rclone's lag shows under concurrent writers (FIELD-NOTES), rarely with one alone.
   */
  listingTrials?: number;
  listingConcurrency?: number;
  /** Listings after the first before a claim counts as never listed (default 10, about 5.5 s in all). */
  maxRelists?: number;
  /** Wait before relist i (from 1); default 100·i ms, at most 1 s. */
  relistDelayMs?: (i: number) => number;
  sleep?: (ms: number) => Promise<void>;
  /** Wall clock (ms since the epoch), for the clock offset; default Date.now. */
  now?: () => number;
  /** Name of the scratch folder under the root (default `.syncd-probe-<random>`). */
  scratchName?: string;
  /** Scratch folders of this data directory's probes that did not finish: removed whatever their age. */
  leftovers?: string[];
  /** How the report names the share (default remote.location; see probeLocation). */
  location?: string;
}


/** The share cannot host the lease of SPEC §3; the report says what was measured. */
export class ProbeRefusedError extends ShareError {
  constructor(readonly report: ProbeReport) {
    super("share-unsafe", `Refusing the share ${report.location}: ${report.refusal ?? "it failed the capability probe."}`);
  }
}

/**
 * Probes the share behind `remote` and returns the report; throws ProbeRefusedError (a ShareError) when the
 * lease cannot be safe there, and a RemoteError when the share cannot be reached at all. The scratch folder
 * is removed whatever happens.
 */
export async function probeShare(remote: Remote, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const started = performance.now();
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const raw = opts.raw === undefined ? rawRequesterOf(remote) : opts.raw;
  const maxRelists = opts.maxRelists ?? 10;
  const trials = Math.max(1, opts.listingTrials ?? 16);
  const concurrency = Math.max(1, opts.listingConcurrency ?? 8);
  const relistDelay = opts.relistDelayMs ?? ((i: number) => Math.min(1000, 100 * i));
  const scratch = opts.scratchName ?? newScratchName();
  const at = (name: string) => `${scratch}/${name}`;
  const probedAt = new Date(now()).toISOString();
  const location = opts.location ?? remote.location;

  const clock = new ClockSampler(now);
  await createScratch(remote, scratch);
  let findings: ProbeFindings;
  let scratchRemoved = false;
  try {
    // Who is probing here, before anything else: another probe must be able to tell that we are alive.
    await writeOwner(remote, scratch, thisProcess());
    await removeDeadScratch(remote, scratch, opts.leftovers ?? [], clock);
    findings = await runChecks();
  } finally {
    // Also after a shutdown stopped the checks (stop.ts), briefly: that is what a scratch folder must not outlive.
    scratchRemoved = await asCleanup(() => removeScratch(remote, scratch));
  }

  const refusal = refusalOf(findings, maxRelists, relistDelay);
  const report: ProbeReport = {
    version: PROBE_REPORT_VERSION,
    location,
    probedAt,
    durationMs: Math.round(performance.now() - started),
    rawChecks: raw !== null,
    verdict: refusal ? "refused" : "ok",
    refusal,
    findings,
    notes: notesOf(findings, raw !== null),
    warnings: warningsOf(findings, scratchRemoved, scratch),
    scratchRemoved,
  };
  if (refusal) throw new ProbeRefusedError(report);
  return report;

  async function runChecks(): Promise<ProbeFindings> {
    // PUT with Content-Length, then GET: same bytes. The raw PUT/GET also show the ETag headers.
    const data = randomBytes(4096);
    let putStatus: number | null = null;
    let rawBodyOk = true;
    const etagPut: EtagFinding = unmeasured();
    const etagGet: EtagFinding = unmeasured();
    if (raw) {
      const put = await raw({ method: "PUT", path: at("roundtrip.bin"), body: data, headers: { "Content-Type": "application/octet-stream" } });
      putStatus = put.status;
      Object.assign(etagPut, etagHeader(put));
      const get = await raw({ method: "GET", path: at("roundtrip.bin") });
      rawBodyOk = get.status === 200 && get.body.equals(data);
      Object.assign(etagGet, etagHeader(get));
    } else {
      await remote.put(at("roundtrip.bin"), data);
    }
    // Through the Remote as well: this is what the engine does.
    await remote.put(at("roundtrip-remote.bin"), data);
    const back = await remote.get(at("roundtrip-remote.bin"));
    const putOk = putStatus === null || (putStatus >= 200 && putStatus < 300);
    const roundTrip = { ok: back.equals(data) && rawBodyOk && putOk, size: data.length, putStatus };

    // A missing file: 404 for GET and PROPFIND; the Remote says not-found / null.
    const missingFile = {
      get: raw ? (await raw({ method: "GET", path: at("missing.bin") })).status : null,
      propfind: raw ? (await raw({ method: "PROPFIND", path: at("missing.bin"), headers: { Depth: "0" } })).status : null,
      remoteKind: await failureKind(() => remote.get(at("missing.bin"))),
      statIsNull: (await remote.stat(at("missing.bin"))) === null,
    };

    // PUT into a missing folder.
    const small = Buffer.from("probe\n");
    const putMissingParent = {
      status: raw ? (await raw({ method: "PUT", path: at("no-such-folder/file.bin"), body: small })).status : null,
      remoteKind: await failureKind(() => remote.put(at("no-such-folder-2/file.bin"), small)),
    };

    // MKCOL of an existing folder, raw and through mkdir (which must succeed).
    const mkcolStatus = raw ? (await raw({ method: "MKCOL", path: `${scratch}/` })).status : null;
    const mkdirIdempotent = (await failureKind(() => remote.mkdir(scratch))) === null;

    // MOVE with overwrite onto an existing file replaces it.
    const source = randomBytes(64);
    await remote.put(at("move-source.bin"), source);
    await remote.put(at("move-target.bin"), randomBytes(64));
    let moveStatus: number | null = null;
    if (raw) {
      moveStatus = (await raw({ method: "MOVE", path: at("move-source.bin"), destination: at("move-target.bin"), headers: { Overwrite: "T" } })).status;
    } else {
      await remote.move(at("move-source.bin"), at("move-target.bin"));
    }
    const moveOverwrite = {
      status: moveStatus,
      replaced: (await remote.get(at("move-target.bin")).catch(() => Buffer.alloc(0))).equals(source),
      sourceGone: (await remote.stat(at("move-source.bin"))) === null,
    };
    // If the raw MOVE did not replace, make sure the Remote's move does (it is what publishing uses).
    if (raw && !moveOverwrite.replaced) {
      await remote.put(at("move-source.bin"), source);
      await remote.move(at("move-source.bin"), at("move-target.bin")).catch(() => {});
      moveOverwrite.replaced = (await remote.get(at("move-target.bin")).catch(() => Buffer.alloc(0))).equals(source);
      moveOverwrite.sourceGone = (await remote.stat(at("move-source.bin"))) === null;
    }

    // MOVE into a missing folder.
    await remote.put(at("move-orphan.bin"), small);
    await remote.put(at("move-orphan-2.bin"), small);
    const moveMissingParent = {
      status: raw
        ? (await raw({ method: "MOVE", path: at("move-orphan.bin"), destination: at("no-such-dest/file.bin"), headers: { Overwrite: "T" } })).status
        : null,
      remoteKind: await failureKind(() => remote.move(at("move-orphan-2.bin"), at("no-such-dest-2/file.bin"))),
      createdParent: null as boolean | null,
    };
    moveMissingParent.createdParent = raw
      ? (await remote.stat(at("no-such-dest"))) !== null
      : (await remote.stat(at("no-such-dest-2"))) !== null;

    // Listings: a claim written with PUT, then PROPFIND Depth: 1 until it shows, as the lease does.
    const { freshMtimeAgeMs, ...listing } = await listingChecks();

    // ETags: in PROPFIND, stable without writes, new after a same-size rewrite.
    const etag = await etagChecks(etagGet, etagPut);

    // Depth: PROPFIND without a Depth header, and Depth: infinity, on the (small) scratch folder.
    const depth = {
      none: raw ? (await raw({ method: "PROPFIND", path: `${scratch}/` })).status : null,
      infinity: raw ? (await raw({ method: "PROPFIND", path: `${scratch}/`, headers: { Depth: "infinity" } })).status : null,
    };

    // A folder's URL without its trailing slash.
    let folderWithoutSlash: ProbeFindings["folderWithoutSlash"] = { propfind: null, delete: null };
    if (raw) {
      await remote.mkdir(at("folder"));
      folderWithoutSlash = {
        propfind: (await raw({ method: "PROPFIND", path: at("folder"), headers: { Depth: "0" } })).status,
        delete: (await raw({ method: "DELETE", path: at("folder") })).status,
      };
    }

    // If-None-Match: * on an existing file (never relied on: FIELD-NOTES shows it ignored or racy).
    let ifNoneMatchPut: ProbeFindings["ifNoneMatchPut"] = { status: null, honoured: null };
    if (raw) {
      const status = (await raw({ method: "PUT", path: at("roundtrip.bin"), body: small, headers: { "If-None-Match": "*" } })).status;
      ifNoneMatchPut = { status, honoured: status === 412 };
    }

    return {
      roundTrip,
      missingFile,
      putMissingParent,
      mkcolExisting: { status: mkcolStatus, mkdirIdempotent },
      moveOverwrite,
      moveMissingParent,
      listing,
      clock: { dateHeader: clock.sawDate, offsetMs: clock.offsetMs(), freshMtimeAgeMs },
      etag,
      depth,
      folderWithoutSlash,
      ifNoneMatchPut,
    };
  }

  async function listingChecks(): Promise<ProbeFindings["listing"] & { freshMtimeAgeMs: number | null }> {
    await remote.mkdir(at("claims"));
    // The lease's end marker, which sorts after every claim: a listing without it ended early (lease.ts).
    await remote.put(at(`claims/${LISTING_END}`), Buffer.from("end\n"));
    let listings = 0;
    let cutShort = 0;
    const relists: Array<number | null> = [];
    let undated = 0;
    let sizeMatches: boolean | null = null;
    let freshMtimeAgeMs: number | null = null;
    let next = 0;
    let refused = false;
    const trial = async (t: number): Promise<void> => {
      const name = `${randomBytes(8).toString("hex")}.json`;
      const body = Buffer.from(JSON.stringify({ probe: true, trial: t }) + "\n");
      await remote.put(at(`claims/${name}`), body);
      let seen: number | null = null;
      for (let i = 0; i <= maxRelists && !refused; i++) {
        if (i > 0) await sleep(relistDelay(i));
        const listing = await clock.time(() => remote.list(at("claims")));
        listings++;
        if (!isCompleteListing(listing)) cutShort++;
        if (listing.entries.some((e) => e.type === "file" && !hasMtime(e))) undated++;
        const own = listing.entries.find((e) => e.name === name);
        if (!own) continue;
        seen = i;
        sizeMatches = (sizeMatches ?? true) && own.size === body.length;
        if (hasMtime(own) && listing.serverDate) {
          const age = listing.serverDate.getTime() - own.mtime.getTime();
          // The largest age seen: Date and mtime both have 1 s steps, so one sample alone says little.
          freshMtimeAgeMs = freshMtimeAgeMs === null ? age : Math.max(freshMtimeAgeMs, age);
        }
        break;
      }
      // Released as a lease contender does: deletions among the writes are part of what makes rclone lag.
      await remote.delete(at(`claims/${name}`)).catch(() => {});
      relists.push(seen);
      // One claim never listed is enough to refuse: the others need not wait out their relists.
      if (seen === null) refused = true;
    };
    const worker = async (): Promise<void> => {
      while (next < trials && !refused) await trial(next++);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, trials) }, worker));
    return {
      // A majority, not one odd answer, decides (the Remote already took each odd listing again).
      modificationTimes: undated * 2 <= listings,
      undated,
      relists,
      lagged: relists.filter((r) => r !== 0).length,
      visible: relists.every((r) => r !== null),
      maxRelists,
      listings,
      cutShort,
      sizeMatches,
      freshMtimeAgeMs,
    };
  }

  async function etagChecks(get: EtagFinding, put: EtagFinding): Promise<ProbeFindings["etag"]> {
    const path = at("etag.bin");
    await remote.put(path, Buffer.from("aaaaaaaa"));
    const viaPropfind = async () => (await remote.stat(path))?.etag ?? null;
    const viaGet = async () => (raw ? (etagHeader(await raw({ method: "GET", path })).value ?? null) : null);
    const first = await viaPropfind();
    const propfind: EtagFinding = { present: first !== null, weak: first === null ? null : first.startsWith("W/"), value: first };
    const source = first !== null ? "propfind" : (await viaGet()) !== null ? "get" : null;
    if (source === null) return { get, put, propfind, source, stableWithoutWrite: null, changesOnSameSizeRewrite: null };
    const read = source === "propfind" ? viaPropfind : viaGet;
    const e1 = await read();
    const e1again = await read();
    await remote.put(path, Buffer.from("bbbbbbbb"));
    const e2 = await read();
    return { get, put, propfind, source, stableWithoutWrite: e1 === e1again, changesOnSameSizeRewrite: e1 !== e2 };
  }
}

/** The state key of a share's probe report in the local library. */
export function probeStateKey(location: string): string {
  return `probe:${location}`;
}

type StateStore = Pick<Library, "getState" | "setState">;

/** What the record holds while a probe runs (see probeAndRecord). */
interface UnfinishedProbe {
  unfinished: { scratch: string; owner: ScratchOwner };
}

/**
 * The scratch folder of a probe from this data directory that never recorded its report, if its process
 * is gone: it ran before a reboot (or in another container), or its pid is no longer alive here.
 */
function unfinishedProbe(library: StateStore, location: string): string | null {
  let record: Partial<UnfinishedProbe>;
  try {
    record = JSON.parse(library.getState(probeStateKey(location)) ?? "null") as Partial<UnfinishedProbe>;
  } catch {
    return null;
  }
  const scratch = record?.unfinished?.scratch;
  const owner = parseOwner(JSON.stringify(record?.unfinished?.owner ?? null));
  if (typeof scratch !== "string" || !scratch.startsWith(SCRATCH_PREFIX) || !owner) return null;
  const me = thisProcess();
  const gone = owner.machine !== me.machine || (owner.pid !== me.pid && !isAlive(owner.pid));
  return gone ? scratch : null;
}

/** The report recorded for this share, or null (none yet, or unreadable). */
export function readProbeReport(library: StateStore, location: string): ProbeReport | null {
  const text = library.getState(probeStateKey(location));
  if (!text) return null;
  try {
    const report = JSON.parse(text) as ProbeReport;
    return report && report.version === PROBE_REPORT_VERSION && report.findings ? report : null;
  } catch {
    return null;
  }
}

export function recordProbeReport(library: StateStore, location: string, report: ProbeReport): void {
  library.setState(probeStateKey(location), JSON.stringify(report));
}

/**
 * Probes and records the report for `location` (also when the share is refused, then rethrowing).
 * `syncd probe` uses it; ensureProbed calls it when there is no report yet.
 *
 * Until the report is recorded, the record says which scratch folder the probe uses and whose it is: if
 * the process dies meanwhile, the next probe from this data directory (the next sync, since there is no
 * report) removes that folder, whatever its age.
 */
export async function probeAndRecord(library: StateStore, remote: Remote, location: string, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const leftover = unfinishedProbe(library, location);
  const scratchName = opts.scratchName ?? newScratchName();
  const unfinished: UnfinishedProbe = { unfinished: { scratch: scratchName, owner: thisProcess() } };
  library.setState(probeStateKey(location), JSON.stringify(unfinished));
  try {
    const report = await probeShare(remote, { ...opts, location, scratchName, leftovers: [...(opts.leftovers ?? []), ...(leftover ? [leftover] : [])] });
    recordProbeReport(library, location, report);
    return report;
  } catch (err) {
    if (err instanceof ProbeRefusedError) recordProbeReport(library, location, err.report);
    throw err;
  }
}

/**
 * For the engine, before the first sync with a share: probes only if no report that accepted the share is
 * recorded for `location` (a refused one is probed again: the server may have been fixed). Throws
 * ProbeRefusedError when the share cannot host the lease. `location` names the share stably (the URL and
 * root, as `remote.location`; see probeLocation for the embedded share, whose port changes every run).
 */
export async function ensureProbed(library: StateStore, remote: Remote, location: string = remote.location, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const known = readProbeReport(library, location);
  if (known?.verdict === "ok") return known;
  return probeAndRecord(library, remote, location, opts);
}

/**
 * The stable name of the share a configuration points at, for probeStateKey: the remote's location for a
 * configured URL; for the embedded share (served on a new port every run) its folder and root.
 */
export function probeLocation(config: { dataDir: string; webdav: { url?: string | undefined; root: string } }, remote: Remote): string {
  if (config.webdav.url) return remote.location;
  return `embedded:${config.dataDir.replace(/\/+$/, "")}/share/${config.webdav.root.replace(/^\/+|\/+$/g, "")}`;
}

// ---------------------------------------------------------------------------------------------------------

function unmeasured(): EtagFinding {
  return { present: null, weak: null, value: null };
}

function etagHeader(res: RawResponse): EtagFinding {
  const value = res.headers.etag ?? null;
  return { present: value !== null, weak: value === null ? null : value.startsWith("W/"), value };
}

function hasMtime(e: RemoteStat): boolean {
  return e.mtime instanceof Date && !Number.isNaN(e.mtime.getTime());
}

/**
 * Runs fn; null when it succeeds, else the kind of the RemoteError it threw (anything else propagates, and
 * so does a stop: a stopped request measured nothing).
 */
async function failureKind(fn: () => Promise<unknown>): Promise<RemoteErrorKind | null> {
  try {
    await fn();
    return null;
  } catch (err) {
    if (isRemoteError(err) && err.kind !== "aborted") return err.kind;
    throw err;
  }
}

/**
 * Server Date minus local clock. Date is truncated to the second, so each sample d (Date minus the local
 * midpoint of the request) bounds the true offset o: d ≤ o ≤ d + 1 s, give or take half a round trip. The
 * estimate is the middle of what all samples allow, good to ±0.5 s at worst and better when the samples
 * straddle a second boundary.
 */
class ClockSampler {
  private readonly samples: number[] = [];
  sawDate = false;

  constructor(private readonly now: () => number) {}

  async time<T extends { serverDate: Date | null }>(fn: () => Promise<T>): Promise<T> {
    const t0 = this.now();
    const result = await fn();
    const t1 = this.now();
    if (result.serverDate) {
      this.sawDate = true;
      this.samples.push(result.serverDate.getTime() - (t0 + t1) / 2);
    }
    return result;
  }

  offsetMs(): number | null {
    if (!this.samples.length) return null;
    const low = Math.max(...this.samples);
    const high = Math.min(...this.samples) + 1000;
    return Math.round(low <= high ? (low + high) / 2 : low); // low > high: a round trip longer than the bounds allow
  }
}

function isMissingParent(err: unknown): boolean {
  return isRemoteError(err, "conflict") || isRemoteError(err, "not-found");
}

/** The scratch folder, and the root itself when the share is new (as the lease would create it). */
async function createScratch(remote: Remote, scratch: string): Promise<void> {
  try {
    await remote.mkdir(scratch);
  } catch (err) {
    if (!isMissingParent(err)) throw err;
    await remote.mkdir("");
    await remote.mkdir(scratch);
  }
}

/** Best effort: a DELETE of a folder (with its trailing slash) removes it with everything in it. */
async function removeScratch(remote: Remote, scratch: string): Promise<boolean> {
  try {
    await remote.delete(`${scratch}/`);
  } catch (err) {
    if (!isRemoteError(err, "not-found")) {
      return false;
    }
  }
  try {
    return (await remote.stat(`${scratch}/`)) === null;
  } catch {
    return false;
  }
}

/** Scratch folders of probes that died (probe-scratch.ts). Best effort, but a stop is not swallowed. */
async function removeDeadScratch(remote: Remote, own: string, leftovers: string[], clock: ClockSampler): Promise<void> {
  try {
    await removeStaleScratch(remote, await clock.time(() => remote.list("")), { own, leftovers });
  } catch (err) {
    // A root that cannot be listed is found out by the checks themselves.
    if (isRemoteError(err, "aborted")) throw err;
  }
}
