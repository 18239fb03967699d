/**
 * `syncd check [--repair]` (SPEC §5): the share audited against its own metadata.
 * - Every data file that a live row references is read whole and hashed (not only listed): present, bytes
 *   that hash to its name, and the size the rows say.
 * - No leftovers: no expired claim in the lock folder, no `metadata.db.tmp-*` upload whose writer no longer
 *   holds the lock. A live claim and its upload are never leftovers.
 * The audit reads without the lock, so a long audit never keeps other instances from syncing. With
 * `--repair`, this instance then takes the lock, looks again at just what was found (the share may have
 * moved on), and puts right what it can: data files it holds (re-hashed first) are uploaded again and
 * verified like any upload; rows whose size is not their content's are published with the true size; what
 * it does not hold is recorded in the share's wanted list (repair.ts), so that an instance holding it uploads
 * it on its next sync; expired claims and stale temporary uploads are deleted, under the lock.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulidx";
import type { EntryState } from "../model/entry.js";
import { isRemoteError } from "../remote/errors.js";
import { isClaimName, isCompleteListing, LOCK_DIR, RemoteLease } from "../remote/lease.js";
import { datedClaim, readClaim } from "../remote/lease-claims.js";
import { ensureProbed } from "../remote/probe.js";
import { deleteIgnoringMissing, type Listing, type Remote, type RemoteStat } from "../remote/remote.js";
import type { Library } from "../store/library.js";
import { TransferProgress } from "./transfer-progress.js";
import { dataPath, METADATA_TMP_PREFIX } from "../share/layout.js";
import { fetchTwiceIf, isBrokenBody } from "./refetch.js";
import { publishShare } from "../share/publish.js";
import { loadShare, removeCopy, type LoadedShare } from "../share/share-access.js";
import type { SharedDb, SharedRow } from "../share/shared-db.js";
import { forEachLimited, uploadFiles } from "./transfer.js";

export type ProblemKind = "missing" | "damaged" | "size-mismatch" | "expired-claim" | "temporary-file";

export interface CheckProblem {
  kind: ProblemKind;
  /** The file, relative to the share's root. */
  path: string;
  hash?: string;
  /** The live entries that need the data file (size-mismatch: those whose size is wrong). */
  entries?: Array<{ id: string; name: string; size: number }>;
  /** One sentence: what is wrong and, after --repair, what was done or why not. */
  message: string;
  repaired: boolean;
}

export interface CheckReport {
  /** No problem is left (none found, or all repaired). */
  ok: boolean;
  location: string;
  shareId: string | null;
  /** The share version audited; null for an empty share. */
  version: number | null;
  checked: { entries: number; dataFiles: number; bytes: number };
  /** Data files that instances reported missing or damaged (the share's wanted list), as the audit found it. */
  reported: Array<{ hash: string; reportedAt: string; byInstance: string; problem: string }>;
  problems: CheckProblem[];
}

export interface CheckOptions {
  repair: boolean;
  concurrency: number;
  lockTtlSeconds: number;
  lockWaitSeconds: number;
  /** The share's name in the capability probe's record (engine.ts EngineOptions.shareKey). */
  shareKey?: string;
}

type DataProblemKind = "missing" | "damaged" | "size-mismatch";

export async function checkShare(library: Library, remote: Remote, opts: CheckOptions): Promise<CheckReport> {
  // A folder of its own: a sync starting meanwhile deletes the working copies it finds in tmp/ itself.
  await mkdir(join(library.dataDir, "tmp", "check"), { recursive: true });
  const workDir = await mkdtemp(join(library.dataDir, "tmp", "check", "run-"));
  try {
    return await check(library, remote, opts, workDir);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function check(library: Library, remote: Remote, opts: CheckOptions, workDir: string): Promise<CheckReport> {
  const ttlMs = opts.lockTtlSeconds * 1000;

  const report: CheckReport = {
    ok: true,
    location: remote.location,
    shareId: null,
    version: null,
    checked: { entries: 0, dataFiles: 0, bytes: 0 },
    reported: [],
    problems: [],
  };
  await withShare(remote, workDir, async (share) => {
    if (share.created) return; // an empty share: no metadata, so no data files to check
    report.shareId = share.db.shareId;
    report.version = share.db.version;
    report.reported = share.db.wantedData().map((w) => ({ ...w, reportedAt: new Date(w.reportedAt).toISOString() }));
    report.problems.push(...(await auditData(remote, share.db, opts.concurrency, report.checked)));
  });
  report.problems.push(...(await auditLeftovers(remote, ttlMs, null)));

  if (opts.repair && (report.problems.length > 0 || report.reported.length > 0)) {
    await ensureProbed(library, remote, opts.shareKey ?? remote.location);
    const lease = await RemoteLease.acquire(remote, { ttlMs, waitMs: opts.lockWaitSeconds * 1000, instance: library.instanceName });
    try {
      await withShare(remote, workDir, (share) => repairData(library, remote, share, lease, report, opts.concurrency));
      await repairLeftovers(remote, ttlMs, lease, report);
    } finally {
      await lease.release();
    }
  }
  report.ok = report.problems.every((p) => p.repaired);
  return report;
}

/** Loads the share into a private working copy for `fn`, and removes the copy afterwards. */
async function withShare<T>(remote: Remote, workDir: string, fn: (share: LoadedShare) => Promise<T>): Promise<T> {
  // A new share id is only ever used for an empty share, which is never published from here.
  const share = await loadShare(remote, workDir, () => ulid());
  try {
    return await fn(share);
  } finally {
    share.db.close();
    await removeCopy(share.db.file);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Data files

async function auditData(remote: Remote, db: SharedDb, concurrency: number, checked: CheckReport["checked"]): Promise<CheckProblem[]> {
  const byHash = new Map<string, Array<{ id: string; name: string; size: number }>>();
  for (const { id, state } of db.changedSince(-1)) {
    if (state.deleted) continue;
    checked.entries++;
    const same = byHash.get(state.hash) ?? [];
    same.push({ id, name: state.name, size: state.size });
    byHash.set(state.hash, same);
  }
  const problems: CheckProblem[] = [];
  // In hash order, so that the report reads the same on every run.
  const hashes = [...byHash.keys()].sort();
  await forEachLimited(hashes, concurrency, async (hash) => {
    const entries = byHash.get(hash) ?? [];
    const found = await inspectDataFile(remote, hash);
    checked.dataFiles++;
    checked.bytes += found.bytes ?? 0;
    const problem = dataProblem(hash, entries, found);
    if (problem) problems.push(problem);
  });
  return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

type Inspection = { bytes: null } | { bytes: number; sha256: string };

/** Reads a data file whole and hashes it; a wrong hash is read once more before it counts (a flaky proxy). */
async function inspectDataFile(remote: Remote, hash: string): Promise<Inspection> {
  const once = () => fetchTwiceIf(() => hashRemote(remote, dataPath(hash)), isBrokenBody);
  const first = await once();
  if (first.bytes === null || first.sha256 === hash) return first;
  return once();
}

async function hashRemote(remote: Remote, path: string): Promise<Inspection> {
  let stream;
  try {
    stream = await remote.getStream(path);
  } catch (err) {
    if (isRemoteError(err, "not-found")) return { bytes: null };
    throw err;
  }
  const hasher = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hasher.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hasher.digest("hex") };
}

function dataProblem(hash: string, entries: Array<{ id: string; name: string; size: number }>, found: Inspection): CheckProblem | null {
  const path = dataPath(hash);
  const named = describeEntries(entries);
  if (found.bytes === null) {
    return { kind: "missing", path, hash, entries, message: `The data file ${path} of ${named} is missing on the share.`, repaired: false };
  }
  if (found.sha256 !== hash) {
    return {
      kind: "damaged",
      path,
      hash,
      entries,
      message: `The data file ${path} of ${named} is damaged: its ${found.bytes} bytes hash to ${found.sha256}.`,
      repaired: false,
    };
  }
  const wrong = entries.filter((e) => e.size !== found.bytes);
  if (wrong.length === 0) return null;
  return {
    kind: "size-mismatch",
    path,
    hash,
    entries: wrong,
    message: `${capitalise(describeEntries(wrong))} ${wrong.length === 1 ? "has" : "have"} the size ${wrong.map((e) => e.size).join(", ")} in the share's metadata, but the content is ${found.bytes} bytes.`,
    repaired: false,
  };
}

/**
 * Under the lease, with the share as it is now: each data problem of the audit is looked at again and put
 * right where this instance can; the share's metadata changes (true sizes, the wanted list) are published.
 */
async function repairData(library: Library, remote: Remote, share: LoadedShare, lease: RemoteLease, report: CheckReport, concurrency: number): Promise<void> {
  if (share.created) return;
  const { db } = share;
  const beforeWrite = () => lease.assertSafeToWrite();
  const corrected: SharedRow[] = [];
  let metadataChanged = false;
  for (const problem of report.problems) {
    if (!isDataProblem(problem.kind) || !problem.hash) continue;
    const hash = problem.hash;
    const entries = db.liveEntriesWithHash(hash);
    if (entries.length === 0) {
      problem.repaired = true;
      problem.message = `${problem.message.slice(0, -1)}; no live entry needs it any more.`;
      continue;
    }
    let found = await inspectDataFile(remote, hash);
    let done = "";
    if (found.bytes === null || found.sha256 !== hash) {
      const size = library.blobs.sizeOf(hash);
      if (size === null || !(await library.blobs.verify(hash))) {
        if (db.addWanted(hash, library.instanceId, problem.kind)) metadataChanged = true;
        problem.message = `${problem.message.slice(0, -1)}; its content is not held by this instance either, so it was reported in the share for an instance that holds it to upload again on its next sync.`;
        continue;
      }
      await uploadFiles(remote, library.blobs, [{ hash, size }], {
        concurrency,
        beforeWrite,
        progress: new TransferProgress(() => {}, "upload", [{ hash, size }]),
        // One file: checked by itself whatever the folder holds, so no estimate is needed.
        folderExists: (dir) => db.hasDataIn(dir),
      });
      found = { bytes: size, sha256: hash };
      done = "uploaded again from this instance's verified copy";
    }
    if (db.settleWanted(hash)) metadataChanged = true;
    // The bytes on the share are right now: they decide the size of every row that names them.
    for (const e of entries) {
      if (e.size === found.bytes) continue;
      const state = db.get(e.id) as EntryState;
      corrected.push({ id: e.id, state: { ...state, size: found.bytes, version: state.version + 1, hlc: library.clock.tick(), origin: library.instanceId } });
      done = done ? `${done}, and the true size published` : `published the true size, ${found.bytes} bytes`;
    }
    problem.repaired = true;
    problem.message = `${problem.message.slice(0, -1)}; ${done || "it is sound now"}.`;
  }
  // Reports of files that are sound now (put back by a check elsewhere) are settled too.
  for (const { hash } of db.wantedData()) {
    if (report.problems.some((p) => p.hash === hash)) continue;
    const found = await inspectDataFile(remote, hash);
    if ((found.bytes !== null && found.sha256 === hash) || db.liveEntriesWithHash(hash).length === 0) {
      if (db.settleWanted(hash)) metadataChanged = true;
    }
  }
  if (corrected.length === 0 && !metadataChanged) return;
  const version = db.commit(corrected, { id: library.instanceId, name: library.instanceName }, ulid());
  // The stamps of the corrected rows are about to be public: never issue them again after a crash.
  library.persistClock();
  await publishShare({ remote, token: lease.token, beforeWrite }, share, version);
  report.version = version;
}

function isDataProblem(kind: ProblemKind): kind is DataProblemKind {
  return kind === "missing" || kind === "damaged" || kind === "size-mismatch";
}

// ---------------------------------------------------------------------------------------------------------
// Leftovers: expired claims and stale temporary uploads

/**
 * Expired claims (by the rule of SPEC §3: the server's clock past mtime + TTL, ours and the claim's own) and
 * `metadata.db.tmp-<token>` uploads whose writer holds no live claim. `ownToken`: this check's own lease.
 */
async function auditLeftovers(remote: Remote, ttlMs: number, ownToken: string | null): Promise<CheckProblem[]> {
  const problems: CheckProblem[] = [];
  const lock = await listLockFolder(remote);
  const liveTokens = new Set<string>();
  if (lock) {
    const serverNow = (lock.serverDate ?? new Date()).getTime();
    for (const claim of lock.entries) {
      if (claim.type !== "file" || !isClaimName(claim.name)) continue;
      const token = claim.name.slice(0, -".json".length);
      if (token === ownToken) continue;
      const dated = await datedClaim(remote, claim);
      const verdict = dated ? await judgeClaim(remote, dated, serverNow, ttlMs) : "gone";
      if (verdict === "live") liveTokens.add(token);
      if (verdict !== "expired" || !dated) continue;
      problems.push({
        kind: "expired-claim",
        path: `${LOCK_DIR}/${claim.name}`,
        message: `The lock folder holds an expired claim, ${claim.name}, last written ${dated.mtime.toISOString()}.`,
        repaired: false,
      });
    }
  }
  let root: Listing;
  try {
    root = await remote.list("");
  } catch (err) {
    if (isRemoteError(err, "not-found")) return problems;
    throw err;
  }
  for (const file of root.entries) {
    if (file.type !== "file" || !file.name.startsWith(METADATA_TMP_PREFIX)) continue;
    const token = file.name.slice(METADATA_TMP_PREFIX.length);
    // Its writer's claim is live: a publish in progress, not a leftover.
    if (token === ownToken || liveTokens.has(token)) continue;
    problems.push({
      kind: "temporary-file",
      path: file.name,
      message: `The share's root holds ${file.name}, a metadata.db upload left behind by a writer that no longer holds the lock.`,
      repaired: false,
    });
  }
  return problems;
}

/** The lock folder's listing, complete (it shows the end marker) when the server lets us; null when there is none. */
async function listLockFolder(remote: Remote): Promise<Listing | null> {
  let listing: Listing | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      listing = await remote.list(LOCK_DIR);
    } catch (err) {
      if (isRemoteError(err, "not-found")) return null;
      throw err;
    }
    // A listing cut short may leave out a live claim, whose upload would then look stale: list again.
    if (isCompleteListing(listing) || !listing.entries.some((e) => isClaimName(e.name))) return listing;
  }
  return listing;
}

/** The lease's own rule (lease.ts isLive), without deleting anything. */
async function judgeClaim(remote: Remote, claim: RemoteStat, serverNow: number, ttlMs: number): Promise<"live" | "expired" | "gone"> {
  const age = serverNow - claim.mtime.getTime();
  if (Number.isNaN(age) || age < ttlMs) return "live";
  const read = await readClaim(remote, claim.path);
  if (read === "gone") return "gone";
  if (read !== "garbage") return age < read.ttlMs ? "live" : "expired";
  // A claim being rewritten right now reads as truncated, and its mtime has moved on.
  const now = await remote.stat(claim.path);
  if (!now) return "gone";
  return now.mtime.getTime() === claim.mtime.getTime() ? "expired" : "live";
}

/**
 * Under the lease: every leftover found now is deleted (under the lease no other claim is live, so every
 * other upload is stale). A leftover of the audit that is gone now (the lease's own acquisition deletes the
 * expired claims it meets) counts as repaired.
 */
async function repairLeftovers(remote: Remote, ttlMs: number, lease: RemoteLease, report: CheckReport): Promise<void> {
  const found = await auditLeftovers(remote, ttlMs, lease.token);
  for (const leftover of found) {
    lease.assertSafeToWrite();
    await deleteIgnoringMissing(remote, leftover.path);
  }
  const deleted = new Set(found.map((p) => p.path));
  for (const problem of report.problems) {
    if (problem.kind !== "expired-claim" && problem.kind !== "temporary-file") continue;
    if (!deleted.has(problem.path) && (await remote.stat(problem.path)) !== null) {
      problem.message = `${problem.message.slice(0, -1)}; it is still there (its writer may be back), so it was left alone.`;
      continue;
    }
    problem.repaired = true;
    problem.message = `${problem.message.slice(0, -1)}; removed.`;
  }
  for (const leftover of found) {
    if (report.problems.some((p) => p.path === leftover.path)) continue;
    report.problems.push({ ...leftover, repaired: true, message: `${leftover.message.slice(0, -1)}; removed.` });
  }
}

// ---------------------------------------------------------------------------------------------------------

function describeEntries(entries: Array<{ id: string; name: string }>): string {
  if (entries.length === 0) return "no live entry";
  const shown = entries.slice(0, 3).map((e) => `entry ${JSON.stringify(e.name)} (id ${e.id})`);
  return entries.length > shown.length ? `${shown.join(", ")} and ${entries.length - shown.length} more` : shown.join(", ");
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
