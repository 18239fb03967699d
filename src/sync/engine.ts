/**
 * One sync run, end to end (SPEC §1, §3). The order of the steps is the safety argument:
 *   local process lock → O(1) skip check → remote lease → shared metadata (the replica brought forward by
 *   verified journal segments, share/share-access.ts) → plan (pure) → uploads (verified, before anything
 *   references them) → downloads (verified) → publish (re-check version.txt; one segment; version.txt last,
 *   share/publish.ts) → local commit → release.
 * A large full reconciliation repeats plan → transfers → publish → local commit in batches (RUN_BATCH).
 * A crash between any two steps leaves the share either at the old or at the new version, and the local
 * library either before or after this run; the next run converges from wherever it stopped.
 */
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ulid } from "ulidx";
import { errorMessage, ShareError, SyncdError } from "../errors.js";
import type { EntryState } from "../model/entry.js";
import { RemoteLease } from "../remote/lease.js";
import { ensureProbed } from "../remote/probe.js";
import { stopRequestsOn } from "../remote/stop.js";
import type { Remote } from "../remote/remote.js";
import { countOpenConflicts } from "../store/conflicts.js";
import type { Library } from "../store/library.js";
import { dryRun } from "./dry-run.js";
import { emptySummary, PhaseProgress, type SyncEventListener, type SyncStatusReport, type SyncSummary } from "./events.js";
import { LocalSyncView } from "./local-sync.js";
import { collectGarbage, collectOrphans, cutoffStamp, gcDue, versionTimeStep } from "./maintenance.js";
import { acquireLocalLock } from "./local-lock.js";
import { DEFAULT_MAX_DRIFT_MS, describeOwnSkew } from "./hlc.js";
import { PublishJournal, type JournalEntry } from "./publish-journal.js";
import { RefusedUploads } from "./refused-uploads.js";
import { RunRecord } from "./run-record.js";
import type { ConflictPolicy, EntryAction, PlanInput } from "./plan.js";
import { countDeletions, RunPlanner, type PlanInputs, type RunScope } from "./run-planner.js";
import { countAction } from "./summary-counts.js";
import { STATE } from "./sync-state.js";
import { compactionBounds, type CompactionBounds } from "../share/compaction.js";
import { publishShare } from "../share/publish.js";
import { loadShare, readVersion, removeCopy, type LoadedShare } from "../share/share-access.js";
import { removeStaleUploads } from "../share/snapshot.js";
import { headOf, type VersionInfo } from "../share/version-file.js";
import type { ShareLineage } from "./share-history.js";
import { COMMITS_KEPT, type SharedRow } from "../share/shared-db.js";
import { dataDir, filesPerDataFolder } from "../share/layout.js";
import { DataRepair } from "./repair.js";
import { downloadFiles, notWhole, uploadFiles, type DataFile } from "./transfer.js";
import { TransferProgress, TransferTally } from "./transfer-progress.js";
import { LockWaitReporter } from "./lock-events.js";

export interface SyncSettings {
  concurrency: number;
  conflictPolicy: ConflictPolicy;
  lockTtlSeconds: number;
  lockWaitSeconds: number;
  tombstoneRetentionDays: number;
  maxDeletePercent: number;
  /** When the share's journal is folded into a new snapshot (tests lower it; default share/compaction.ts). */
  compaction?: Partial<CompactionBounds>;
  /** Rows a full reconciliation takes at a time (default RUN_BATCH; tests lower it). */
  batchSize?: number;
}

export interface SyncOptions {
  /** Skip the up-to-date check and reconcile in full. Overrides no guard. */
  force?: boolean;
  /** Override the delete and share-identity guards (SPEC §3, §5 `--allow-deletes`): nothing else does. */
  allowDeletes?: boolean;
  /** Plan only: report what the run would do, and write nothing anywhere (no lock, no upload, no local change). */
  dryRun?: boolean;
  /**
   * Stops the run cleanly (daemon shutdown): checked before every step that writes to the share, and
   * never once publishing has begun, so an abort leaves the share at the old or the new version.
   */
  signal?: AbortSignal;
}

/** This instance's replica of the share's metadata, in its data directory (share/share-access.ts). */
export const REPLICA_FILE = "share-replica.db";

/**
 * Rows a full reconciliation plans, transfers and commits at a time (engine.ts merge): memory stays bounded
 * whatever the library's size, and each batch is a share version of its own.
 */
export const RUN_BATCH = 5000;

/** Compaction bounds that are never reached: for the batches of a run before its last. */
const NEVER_COMPACT = { ratio: Infinity, minBytes: Infinity, maxSegments: Infinity };

export interface EngineOptions {
  /**
   * The stable name of the share for the capability probe's record (remote/probe.ts probeLocation): the
   * embedded share is served on a new port every run, so its URL is not a name. Default: remote.location.
   */
  shareKey?: string;
}

export class SyncEngine {
  private readonly view: LocalSyncView;
  private readonly journal: PublishJournal;
  private readonly planner: RunPlanner;

  constructor(
    private readonly library: Library,
    private readonly remote: Remote,
    private readonly settings: SyncSettings,
    private readonly emit: SyncEventListener = () => {},
    private readonly options: EngineOptions = {},
  ) {
    this.view = new LocalSyncView(library.db);
    this.journal = new PublishJournal(library.db, this.view);
    this.planner = new RunPlanner(library, this.view, settings, emit, remote.location);
  }

  /** `syncd status`: what the O(1) check sees. A share that cannot be read leaves syncNeeded unknown (null). */
  async status(): Promise<SyncStatusReport> {
    const unsynced = this.library.pendingCount();
    const localVersion = this.syncedVersion();
    let remoteVersion: number | null = null;
    let syncNeeded: boolean | null = null;
    try {
      const probe = await readVersion(this.remote);
      remoteVersion = probe.kind === "ok" ? probe.info.version : null;
      syncNeeded = unsynced > 0 || !this.upToDate(probe);
    } catch {
      syncNeeded = unsynced > 0 ? true : null;
    }
    return {
      unsynced,
      localVersion,
      remoteVersion,
      syncNeeded,
      lastSyncAt: this.library.getState(STATE.lastSyncAt) || null,
      lastError: this.library.getState(STATE.lastError) || null,
      conflicts: countOpenConflicts(this.library.db),
    };
  }

  async sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    const force = options.force ?? false;
    this.emit({ type: "sync.started", force });
    try {
      // SPEC §1's order: the local lock first, so that a manual run and the daemon never interleave even
      // their checks; then the O(1) skip check (one indexed COUNT, one GET), which ends a run with nothing to do.
      if (options.dryRun) {
        const summary = await stopRequestsOn(options.signal, () => dryRun(this.remote, this.library, this.planner, options, (share) => this.identityProblem(share)));
        summary.durationMs = Date.now() - started;
        this.emit({ type: "sync.completed", summary });
        return summary;
      }
      let summary: SyncSummary | null;
      const release = await acquireLocalLock(this.library.dataDir, this.settings.lockWaitSeconds * 1000, { signal: options.signal });
      try {
        // Every request of the run is stopped by the caller's signal, wherever it is made (remote/stop.ts).
        summary = await stopRequestsOn(options.signal, async () => (force ? null : await this.skipCheck()) ?? (await this.run(options)));
      } finally {
        await release();
      }
      summary.durationMs = Date.now() - started;
      if (this.library.getState(STATE.lastError)) this.library.setState(STATE.lastError, "");
      this.emit({ type: "sync.completed", summary });
      return summary;
    } catch (caught) {
      const err = options.signal?.aborted
        ? new SyncdError("aborted", "The sync was stopped before it finished; nothing half-done was published, the next run continues.", { cause: caught })
        : caught;
      const error = err instanceof SyncdError ? { code: err.code, message: err.message } : { code: "internal", message: errorMessage(err) };
      if (!options.dryRun) this.library.setState(STATE.lastError, error.message); // a dry run writes nothing
      this.emit({ type: "sync.failed", error });
      throw err;
    }
  }

  private syncedVersion(): number | null {
    const v = this.library.getState(STATE.syncedVersion);
    return v ? Number(v) : null;
  }

  /** An earlier run had to leave a row of the share out (applyLocally): this one must reconcile in full. */
  private reconcileNeeded(): boolean {
    return this.library.getState(STATE.reconcile) === "1";
  }

  private upToDate(probe: Awaited<ReturnType<typeof readVersion>>): boolean {
    return (
      !this.reconcileNeeded() &&
      probe.kind === "ok" &&
      probe.info.version === this.syncedVersion() &&
      probe.info.share === this.library.getState(STATE.shareId) &&
      // The same version number with other contents: the share was restored and written again since.
      (this.library.getState(STATE.syncedSha) || headOf(probe.info)) === headOf(probe.info)
    );
  }

  /**
   * The O(1) skip check: one indexed COUNT and one GET of version.txt. The skipped run's summary when
   * nothing is pending here and the share is at the version we last synced; null when a run is needed.
   * An unreadable version.txt throws: the state is unknown, never "up to date".
   */
  private async skipCheck(): Promise<SyncSummary | null> {
    const check = new PhaseProgress(this.emit, "check", 1, 0);
    const upToDate = this.library.pendingCount() === 0 && this.upToDate(await readVersion(this.remote));
    check.finish();
    if (!upToDate) return null;
    return { ...emptySummary(), skipped: true, version: this.syncedVersion() };
  }

  private async run(options: SyncOptions): Promise<SyncSummary> {
    const summary = emptySummary();
    const signal = options.signal;

    // The first time this instance meets a share, check that the server can carry the lease (SPEC §3):
    // a refusal explains why and changes nothing. Recorded, so later runs skip it.
    await ensureProbed(this.library, this.remote, this.options.shareKey ?? this.remote.location);

    const lockProgress = new PhaseProgress(this.emit, "lock", 1, 0);
    signal?.throwIfAborted();
    // An expired claim means a writer died holding the lock: its temporary uploads may be left behind.
    let deadWriter = false;
    // The lease's events as sentences, and a wait for a busy lock as progress with who holds it (lock-events.ts).
    const lockEvents = new LockWaitReporter(this.emit);
    const lease = await RemoteLease.acquire(this.remote, {
      ttlMs: this.settings.lockTtlSeconds * 1000,
      waitMs: this.settings.lockWaitSeconds * 1000,
      instance: this.library.instanceName,
      // A shutdown interrupts the wait for a busy lock.
      sleep: (ms) => sleep(ms, undefined, signal ? { signal } : undefined),
      onEvent: (e) => {
        if (e.type === "expired-claim-removed") deadWriter = true;
        lockEvents.report(e);
      },
    });
    lockProgress.finish();
    this.warnOwnClock(lease.serverNow());
    const workDir = join(this.library.dataDir, "tmp");
    await mkdir(workDir, { recursive: true });
    await removeStaleWorkingCopies(workDir);
    const record = new RunRecord(this.library.dataDir);
    let share: LoadedShare | null = null;
    try {
      const metaProgress = new PhaseProgress(this.emit, "metadata", 1, 0);
      // A run that died while creating the share retries with the same share id, so that the uploads it
      // verified (recorded under that id) still count.
      share = await loadShare(this.remote, workDir, () => record.interrupted()?.shareId ?? ulid(), { replicaFile: join(this.library.dataDir, REPLICA_FILE) });
      metaProgress.finish();
      if (share.fetched.snapshot) this.emit({ type: "log", level: "info", message: `read the share's whole metadata (version ${share.db.version})`, data: share.fetched });
      if (share.repaired) this.emit({ type: "log", level: "warn", message: share.repaired });
      if (deadWriter || share.repaired) {
        const removed = await removeStaleUploads(this.remote, lease.token, () => lease.assertSafeToWrite());
        if (removed.length > 0) this.emit({ type: "log", level: "warn", message: `Removed temporary files that a sync which stopped left on the share: ${removed.join(", ")}.` });
      }
      await this.merge(share, record, options, lease, summary, { upload: new TransferTally(), download: new TransferTally() });
    } finally {
      // The replica stays (without this run's changes unless they were published); a temporary copy goes.
      share?.db.close();
      if (share && !share.replica) await removeCopy(share.db.file);
      await lease.release();
    }
    return summary;
  }

  private async merge(
    share: LoadedShare,
    record: RunRecord,
    options: SyncOptions,
    lease: RemoteLease,
    summary: SyncSummary,
    /** Transfer progress counts files and bytes per run, across batches (transfer-progress.ts TransferTally). */
    tallies: RunTallies,
  ): Promise<void> {
    const { db } = share;
    const interrupted = record.interrupted();
    if (interrupted) {
      this.emit({
        type: "log",
        level: "warn",
        message: `The previous sync stopped before it finished (in its ${interrupted.phase} step, from share version ${interrupted.startedVersion}, started ${interrupted.startedAt}); this run completes its work.`,
      });
    }
    record.begin(db.shareId, db.version);
    if (this.guardIdentity(share, options.allowDeletes ?? false)) this.resetSyncBookkeeping();

    // A run that died between publishing and its local commit: where its publish landed, the rows it
    // published get the state it planned from as their base (see publish-journal.ts).
    const settled = this.journal.settle(db.shareId, (commitId, id, published) => {
      if (db.hasCommit(commitId)) return true;
      const now = db.get(id);
      return now !== null && now.hlc === published.hlc && now.origin === published.origin;
    });
    if (settled.healed + settled.dropped > 0) {
      this.emit({
        type: "log",
        level: "warn",
        message: `An earlier sync stopped after writing to the share but before recording it here: ${settled.healed} of its changes had reached the share, ${settled.dropped} had not; this run settles them.`,
      });
    }

    // A full reconciliation of many rows goes in batches, each published and committed locally on its own,
    // so that memory does not grow with the library (a first sync of a million entries) and a run killed
    // midway keeps what it finished. Until the last batch is in, the next run still reconciles in full.
    const scope = this.planner.scope(share, options);
    const ids = scope.full ? this.view.fullCandidates(db.file) : null;
    const batchSize = this.settings.batchSize ?? RUN_BATCH;
    // Candidates come in content order; a batch ends where a data folder does, so each folder's uploads are
    // checked together, with one listing (transfer.ts), rather than split over two batches.
    const contentOf = (id: string) => this.view.get(id)?.state.hash ?? db.get(id)?.hash ?? "";
    const batches = ids && ids.length > batchSize ? batchesByFolder(ids, batchSize, (id) => dataDir(contentOf(id))) : [ids];
    if (batches.length > 1 && !options.allowDeletes) {
      // The deletion guard weighs the whole run: every batch is planned once first, and only counted.
      let deletions = 0;
      for (const batch of batches) deletions += countDeletions(this.planner.plan(share, scope, batch));
      const guard = this.planner.deletionGuard(deletions, db.liveCount());
      if (guard) throw guard;
    }
    const pending: Array<() => void> = [];
    for (const [i, batch] of batches.entries()) {
      const step = { last: i === batches.length - 1, guard: batches.length === 1 && !options.allowDeletes };
      pending.push(await this.commitBatch(share, record, options, lease, summary, scope, batch, step, tallies));
    }
    // What a batch could not do (content the server refused, data files nobody holds) is told at the end.
    for (const report of pending) report();
  }

  /**
   * One batch of a run (the whole run, but for a large full reconciliation): plan, transfers, publish, local
   * commit. Returns what is left to report once every batch is done.
   */
  private async commitBatch(
    share: LoadedShare,
    record: RunRecord,
    options: SyncOptions,
    lease: RemoteLease,
    summary: SyncSummary,
    scope: RunScope,
    ids: string[] | null,
    step: { last: boolean; guard: boolean },
    tallies: RunTallies,
  ): Promise<() => void> {
    const { db } = share;
    const signal = options.signal;
    const { lineage } = scope;
    const serverNow = lease.serverNow();
    const { actions: planned, inputs } = this.planner.plan(share, scope, ids);
    let actions = planned;
    const tooMany = step.guard ? this.planner.deletionGuard(countDeletions({ actions, inputs }), db.liveCount()) : null;
    if (tooMany) throw tooMany;

    // Transfers: uploads must be on the share before any segment that references them is published.
    const toRemote: SharedRow[] = [];
    const uploads = new Map<string, DataFile>();
    const downloads = new Map<string, DataFile>();
    const alreadyUploaded = record.verifiedUploads(db.shareId);
    const uploadedBefore = new Map<string, DataFile>();
    // An entry's name for each content moved, for progress's `current` (entries that share content: the first).
    const names = new Map<string, string>();
    // (Content re-uploaded for another instance's report (DataRepair) is looked up: it is not in the plan.)
    const nameOf = (hash: string) => names.get(hash) ?? db.liveEntriesWithHash(hash)[0]?.name ?? null;
    const wantsUpload = (state: EntryState) => {
      if (state.deleted || db.hasData(state.hash)) return;
      (alreadyUploaded.has(state.hash) ? uploadedBefore : uploads).set(state.hash, { hash: state.hash, size: state.size });
      if (!names.has(state.hash)) names.set(state.hash, state.name);
    };
    const wantsDownload = (state: EntryState) => {
      if (state.deleted || this.library.blobs.has(state.hash)) return;
      downloads.set(state.hash, { hash: state.hash, size: state.size });
      if (!names.has(state.hash)) names.set(state.hash, state.name);
    };
    for (const action of actions) {
      if (action.remote) {
        toRemote.push({ id: action.id, state: action.remote });
        wantsUpload(action.remote);
      }
      if (action.local) wantsDownload(action.local);
      for (const copy of action.copies ?? []) {
        toRemote.push({ id: copy.id, state: copy.state });
        wantsUpload(copy.state);
        wantsDownload(copy.state);
      }
    }
    const beforeTransfer = () => {
      signal?.throwIfAborted();
      lease.assertSafeToWrite();
    };
    const beforeWrite = () => lease.assertSafeToWrite();
    // Data files that another instance found missing or damaged on the share, and that this one holds.
    const repair = new DataRepair(this.library, db, this.emit);
    for (const file of await repair.heldWanted()) uploads.set(file.hash, file);
    // How big the share's data folders are decides how uploads are checked (transfer.ts VerifyOptions).
    // A full reconciliation fills a few folders at a time (content order): the count of each folder's own files
    // tells its listing's cost; otherwise the share's average does (counting one folder costs ~0.1 ms at 1M).
    const expectedFolderSize = scope.full ? (dir: string) => db.dataFilesIn(dir) : filesPerDataFolder(db.dataFileCount());
    // What an interrupted run verified is looked at again before anything references it: since then another
    // instance may have written the same content and been killed mid-PUT on a server that writes in place
    // (rclone, sabre/dav), or orphan collection may have removed it.
    const lost = await notWhole(this.remote, [...uploadedBefore.values()], this.settings.concurrency, { expectedFolderSize });
    for (const { file } of lost) uploads.set(file.hash, file);
    const up = [...uploads.values()];
    record.phase("upload");
    const tooLarge = new RefusedUploads(this.emit);
    summary.bytesUp += await uploadFiles(this.remote, this.library.blobs, up, {
      concurrency: this.settings.concurrency,
      beforeWrite: beforeTransfer,
      progress: new TransferProgress(this.emit, "upload", up, { tally: tallies.upload, nameOf }),
      onVerified: (hashes) => record.recordUploads(db.shareId, hashes),
      onTooLarge: (file, err) => tooLarge.report(file, err),
      expectedFolderSize,
      folderExists: (dir) => db.hasDataIn(dir),
    });
    // What needed content the server refused stays out of this run (pending here, as it was on the share).
    actions = tooLarge.leaveOut(actions, toRemote);
    const down = [...downloads.values()];
    record.phase("download");
    summary.bytesDown += await downloadFiles(this.remote, this.library.blobs, down, {
      concurrency: this.settings.concurrency,
      beforeEach: () => signal?.throwIfAborted(),
      progress: new TransferProgress(this.emit, "download", down, { tally: tallies.download, nameOf }),
      onUnavailable: (file, problem) => repair.reportUnavailable(file, problem),
    });
    await repair.correctSizes(actions, toRemote);

    // What this instance learns of the share's history, recorded with its local commit (share-history.ts).
    let reached: { commits: Array<{ version: number; id: string }>; forgetAfter: number | null; commit: string; sha: string };
    // Publish a new share version when the share changes (or must be repaired / created). Runs that
    // publish anyway also purge expired tombstones and, once a day, collect orphaned data files.
    let version = db.version;
    const now = Date.now();
    const retentionMs = this.settings.tombstoneRetentionDays * 86_400_000;
    const cutoff = cutoffStamp(now, this.settings.tombstoneRetentionDays);
    // Tombstones go only when both this machine's clock and the share server's say they are old (SPEC §3).
    const purgeableThrough = db.purgeableThrough(serverNow, retentionMs);
    const purged = db.purgeTombstones({ cutoffStamp: cutoff, through: purgeableThrough }, serverNow);
    const changed = toRemote.length > 0 || purged > 0 || share.created || repair.changed;
    if (changed || share.repaired) {
      signal?.throwIfAborted();
      record.phase("publish");
      const publishing = new PhaseProgress(this.emit, "publish", 1, 0);
      if (changed) {
        const commitId = ulid();
        version = db.commit(toRemote, { id: this.library.instanceId, name: this.library.instanceName }, commitId, now, {
          now: serverNow,
          markEveryMs: versionTimeStep(retentionMs),
        });
        this.journal.record(db.shareId, commitId, journalEntries(actions, inputs));
        // The stamps this run issued are about to be public: a restart after a crash must not issue them again.
        this.library.persistClock();
      }
      if (changed && !share.created) {
        // Data files no row references any more, from what the commits replaced (the garbage list); a share
        // upgraded from format 1 is also listed once in full, for the orphans of before the list existed.
        const removed = [...(await collectGarbage(this.remote, db, beforeWrite, serverNow))];
        if (share.wholeSnapshot && gcDue(db, now)) removed.push(...(await collectOrphans(this.remote, db, beforeWrite, now)));
        if (removed.length > 0) this.emit({ type: "log", level: "info", message: `removed ${removed.length} unreferenced data files` });
      }
      if (purged > 0) this.emit({ type: "log", level: "info", message: `purged ${purged} tombstones older than ${this.settings.tombstoneRetentionDays} days` });
      const history = this.shareHistory(share, lineage, version);
      const published = await publishShare(
        {
          remote: this.remote,
          token: lease.token,
          beforeWrite,
          log: (message, data) => this.emit({ type: "log", level: "info", message, data }),
          // A compaction waits for the run's last batch: folding the journal once, not after every batch.
          compaction: step.last ? compactionBounds(this.settings.compaction) : NEVER_COMPACT,
        },
        share,
        version,
      );
      continueFrom(share, published);
      publishing.finish();
      reached = { ...history, sha: headOf(published) };
    } else {
      reached = { ...this.shareHistory(share, lineage, version), sha: share.startedFrom.kind === "ok" ? headOf(share.startedFrom.info) : "" };
    }

    // Local commit, in one transaction, only after the share holds the new version.
    const applying = new PhaseProgress(this.emit, "apply", actions.length, 0);
    record.phase("apply");
    const replacedHashes = this.applyLocally(actions, inputs, version, summary, tooLarge.any || !step.last, () => {
      this.view.purgeTombstones(cutoff, purgeableThrough);
      this.view.recordCommits(reached.commits, reached.forgetAfter, COMMITS_KEPT);
      this.library.setState(STATE.shareId, db.shareId);
      this.library.setState(STATE.syncedVersion, String(version));
      this.library.setState(STATE.syncedCommit, reached.commit);
      this.library.setState(STATE.syncedSha, reached.sha);
      this.library.setState(STATE.lastSyncAt, new Date().toISOString());
    });
    applying.finish();
    for (const hash of replacedHashes) this.library.releaseBlob(hash);
    if (step.last) record.finish();
    summary.version = version;
    return () => {
      repair.throwIfIncomplete(version);
      tooLarge.throwIfAny(version, up);
    };
  }

  /** Applies the plan to the local library; returns the content hashes the run stopped referencing. */
  private applyLocally(
    actions: EntryAction[],
    inputs: PlanInputs,
    version: number,
    summary: SyncSummary,
    /** Some planned actions were left out (refused uploads): the next run reconciles in full to find them. */
    leftOut: boolean,
    /** The run's bookkeeping (tombstone purge, sync state), committed in the same transaction. */
    commitState: () => void,
  ): Set<string> {
    const replaced = new Set<string>();
    let reconcileNext = leftOut;
    this.view.transaction(() => {
      for (const action of actions) {
        const input = inputs.get(action.id);
        const before = input?.local ?? null;
        const remoteBefore = input?.remote ?? null;
        const expect = input?.row?.state.hlc ?? null;
        if (action.conflict) {
          this.emit({ type: "conflict", conflict: action.conflict, policy: this.settings.conflictPolicy, held: action.base === null });
          summary.conflicts++;
        }
        if (action.base === null) {
          if (action.conflict && expect !== null) this.view.hold(action.conflict, expect, () => ulid());
          continue;
        }
        if (action.local && !action.local.deleted && !this.library.blobs.has(action.local.hash)) {
          // Another process released the downloaded blob before this transaction (it held the same bytes
          // for an entry it changed): a row must never point at missing bytes. The row is left for the next
          // run: an existing one pending (as after a lost write race); a new one has no row to mark, so the
          // next run reconciles in full, which finds it again.
          if (before) this.view.keepPending(action.id, before);
          else reconcileNext = true;
          continue;
        }
        let synced = true;
        if (action.local) {
          synced = this.view.write(action.id, action.local, action.base, version, expect);
          if (synced && before && before.hash !== action.local.hash) replaced.add(before.hash);
          // Lost to a local edit made during the run: the row stays pending, and the next run merges that
          // edit with what the share holds now. Both descend from the local state the plan saw (the share's
          // state was merged from it, equals it, or — a pull — changed only what it had not), so that state
          // is their common base.
          if (!synced) this.view.keepPending(action.id, before);
        } else if (expect !== null) {
          synced = this.view.markSynced(action.id, action.base, version, expect);
        }
        // The plan settled this entry (no conflict left, or one the policy decided): any conflict held for it
        // is over, even when a local edit won the write race (that edit is planned afresh next run).
        this.view.closeConflicts(action.id);
        for (const copy of action.copies ?? []) {
          if (!copy.state.deleted && !this.library.blobs.has(copy.state.hash)) reconcileNext = true;
          else this.view.write(copy.id, copy.state, copy.state, version, null);
        }
        countAction(summary, action, before, remoteBefore);
      }
      commitState();
      // A full run clears the flag; a row it had to leave out sets it again.
      this.library.setState(STATE.reconcile, reconcileNext ? "1" : "");
      this.journal.clear();
      this.library.persistClock();
    });
    return replaced;
  }

  /** After a share reset or relink (forced): every row is diffed as if never synced. */
  private resetSyncBookkeeping(): void {
    this.library.db.prepare("UPDATE entries SET base = NULL, synced_rev = NULL, sync_status = 'pending' WHERE sync_status = 'synced'").run();
    this.library.db.prepare("DELETE FROM share_commits").run();
    for (const key of [STATE.syncedVersion, STATE.syncedCommit, STATE.syncedSha]) this.library.setState(key, "");
  }

  /**
   * Share identity guards (SPEC §3): never merge into (and so delete from) a share we were not synced with,
   * or one that was emptied. The refusal, or null when the share is the one this data directory knows.
   */
  private identityProblem(share: LoadedShare): ShareError | null {
    const knownShare = this.library.getState(STATE.shareId) || null;
    const { db } = share;
    if (!knownShare || (knownShare === db.shareId && !share.created)) return null;
    return share.created
      ? new ShareError(
          "share-empty",
          `The share at ${this.remote.location} is empty, but this data directory was synced with share ${knownShare}; nothing was changed. If the share was reset on purpose, run "syncd sync --allow-deletes" to upload this library as a new share.`,
        )
      : new ShareError(
          "share-mismatch",
          `The share at ${this.remote.location} is share ${db.shareId}, but this data directory was synced with share ${knownShare}; nothing was changed. Check webdav.url and webdav.root, or run "syncd sync --allow-deletes" to merge this library into that share.`,
        );
  }

  /** Throws the identity guard's refusal unless allowed; true when the run must treat the share as new. */
  private guardIdentity(share: LoadedShare, allowed: boolean): boolean {
    const problem = this.identityProblem(share);
    if (problem && !allowed) throw problem;
    return problem !== null;
  }

  /**
   * What this instance learns of the share's history in this run: the commits since the version it knew
   * (since the fork point after a rewind, forgetting what lay beyond it), and the commit it ends at. Read
   * from the shared metadata after this run's commit.
   */
  private shareHistory(share: LoadedShare, lineage: ShareLineage, version: number) {
    const { db } = share;
    const from = lineage.rewound ? lineage.forkPoint : this.syncedVersion();
    return {
      commits: db.commitsAfter(from),
      forgetAfter: lineage.rewound ? (lineage.forkPoint ?? -1) : null,
      commit: db.commitAt(version) ?? "",
    };
  }

  private warnOwnClock(serverNow: number): void {
    const skewMs = Date.now() - serverNow;
    this.planner.ownSkewMs = skewMs;
    if (Math.abs(skewMs) > DEFAULT_MAX_DRIFT_MS) {
      this.emit({ type: "log", level: "warn", message: describeOwnSkew(this.library.instanceName, skewMs), data: { skewMs } });
    }
  }

}

/** A run's transfer totals per direction, carried across its batches. */
interface RunTallies {
  upload: TransferTally;
  download: TransferTally;
}

/** The publish journal of a run: every entry it writes to the share that has a local row. */
function journalEntries(actions: EntryAction[], inputs: Map<string, PlanInput>): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const action of actions) {
    const seen = inputs.get(action.id)?.local;
    if (action.remote && seen) out.push({ id: action.id, seen, published: action.remote });
  }
  return out;
}

/** Working files left by a run that was killed (we hold the local lock: none is in use). */
async function removeStaleWorkingCopies(workDir: string): Promise<void> {
  for (const name of await readdir(workDir)) {
    // Copies of the shared metadata, snapshots and journal segments on their way up or down (share/).
    if (/^(shared|snapshot|segment)-/.test(name)) await rm(join(workDir, name), { force: true });
  }
}

/**
 * Splits candidates (in content order) into batches of about `size`: each batch is extended to the end of the
 * data folder its last candidate falls in (a folder of a large share holds a few thousand files at most).
 */
export function batchesByFolder(ids: string[], size: number, folderOf: (id: string) => string): string[][] {
  const out: string[][] = [];
  let start = 0;
  while (start < ids.length) {
    let end = Math.min(start + size, ids.length);
    if (end < ids.length) {
      const folder = folderOf(ids[end - 1]!);
      while (end < ids.length && folderOf(ids[end]!) === folder) end++;
    }
    out.push(ids.slice(start, end));
    start = end;
  }
  return out;
}

/** After a batch published version `published`: the next batch starts from it, with its own pending changes. */
function continueFrom(share: LoadedShare, published: VersionInfo): void {
  share.startedFrom = { kind: "ok", info: published };
  share.created = false;
  share.repaired = null;
  share.wholeSnapshot = false;
  share.db.beginPending();
}
