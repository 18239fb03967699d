/**
 * Planning a run (SPEC §1): which rows to consider (what changed on either side since the last sync, or
 * everything on a full reconciliation), how the share's history bears on them (share-history.ts), and the
 * pure three-way decision for each (plan.ts). Reads both sides; writes nothing but the HLC it advances.
 */
import { ulid } from "ulidx";
import { ShareError } from "../errors.js";
import type { EntryState } from "../model/entry.js";
import type { LoadedShare } from "../share/share-access.js";
import { headOf } from "../share/version-file.js";
import type { Library } from "../store/library.js";
import type { SyncOptions, SyncSettings } from "./engine.js";
import { PhaseProgress, type SyncEventListener } from "./events.js";
import { DEFAULT_MAX_DRIFT_MS, describeDrift, type ClockWarning } from "./hlc.js";
import type { LocalSyncRow, LocalSyncView } from "./local-sync.js";
import { planEntries, type EntryAction, type PlanInput } from "./plan.js";
import { reconcileHistory, traceLineage, type ShareLineage } from "./share-history.js";
import { STATE } from "./sync-state.js";

/** Above this many candidate rows, a full reconciliation reads both sides in one scan each. */
const BULK_READ_THRESHOLD = 5000;

/** Below this many deletions a run is never stopped by the maxDeletePercent guard. */
const DELETE_GUARD_MIN = 10;

/** How a run reads the two sides, decided once for all its batches. */
export interface RunScope {
  /** Reconcile every row (SQL picks the candidates), not only what changed since the last sync. */
  full: boolean;
  lineage: ShareLineage;
  /** The share version this instance last synced (null: never). */
  since: number | null;
}

export type PlanInputs = Map<string, PlanInput & { row: LocalSyncRow | null }>;

/** The plan of a run, or of one batch of it: the actions, and the inputs they were planned from. */
export interface BatchPlan {
  actions: EntryAction[];
  inputs: PlanInputs;
}

export class RunPlanner {
  /** This machine's clock against the share server's (null until a lease has told us the server's clock). */
  ownSkewMs: number | null = null;

  constructor(
    private readonly library: Library,
    private readonly view: LocalSyncView,
    private readonly settings: SyncSettings,
    private readonly emit: SyncEventListener,
    /** The share, named in messages. */
    private readonly location: string,
  ) {}

  /**
   * Reads both sides and plans: which rows to consider (everything on a full reconciliation), how the
   * share's history bears on them, and the pure three-way decision for each.
   */
  planAll(share: LoadedShare, options: SyncOptions): BatchPlan & { lineage: ShareLineage } {
    const scope = this.scope(share, options);
    return { ...this.plan(share, scope, scope.full ? this.view.fullCandidates(share.db.file) : null), lineage: scope.lineage };
  }

  /** Whether the run reconciles in full, and how the share's history relates to this instance's. */
  scope(share: LoadedShare, options: SyncOptions): RunScope {
    const { db } = share;
    const synced = this.library.getState(STATE.syncedVersion);
    const syncedVersion = synced ? Number(synced) : null;
    const view = this.view;
    const lineage = traceLineage({
      syncedVersion,
      syncedCommit: this.library.getState(STATE.syncedCommit) || null,
      shareVersion: db.version,
      shareCommitAt: (v) => db.commitAt(v),
      shareLogStart: db.logStart(),
      known: { [Symbol.iterator]: () => view.knownCommits()[Symbol.iterator]() },
    });
    if (lineage.rewound) {
      this.emit({
        type: "log",
        level: "warn",
        message:
          `The share at ${this.location} went back in time (version ${db.version}; this instance last synced version ${syncedVersion}): ` +
          "it was probably restored from an older copy. Nothing missing or older there is taken as a deletion or an edit; this instance's newer state is written back.",
        data: { shareVersion: db.version, syncedVersion, forkPoint: lineage.forkPoint },
      });
    }
    // Candidates: everything changed here since the last sync, and everything the share changed since then.
    // A first sync, a share that went back in time, a purge of tombstones this instance has not seen, or a
    // last sync older than the tombstone window reconciles everything.
    const lastSyncAt = Date.parse(this.library.getState(STATE.lastSyncAt) ?? "");
    const retentionMs = this.settings.tombstoneRetentionDays * 86_400_000;
    // The same version with other bytes than this instance synced: rewritten in place (a repair, or a writer
    // that is not syncd). What changed cannot be told from the rows' revs: look at everything.
    const recordedSha = this.library.getState(STATE.syncedSha) || null;
    const rewritten =
      recordedSha !== null && db.version === syncedVersion && share.startedFrom.kind === "ok" && headOf(share.startedFrom.info) !== recordedSha;
    const full =
      (options.force ?? false) ||
      syncedVersion === null ||
      lineage.rewound ||
      rewritten ||
      syncedVersion < db.purgedThrough() ||
      !(Date.now() - lastSyncAt < retentionMs) ||
      this.library.getState(STATE.reconcile) === "1";
    return { full, lineage, since: syncedVersion };
  }

  /**
   * Plans the given candidates (a full reconciliation's, or a batch of them), or, for `ids` null, what changed
   * on either side since the last sync: the pure three-way decision for each.
   */
  plan(share: LoadedShare, scope: RunScope, ids: string[] | null): BatchPlan {
    const { db } = share;
    const planProgress = new PhaseProgress(this.emit, "plan", 1, 0);
    const names = db.instanceNames();
    names.set(this.library.instanceId, this.library.instanceName);
    const inputs = this.collectInputs(share, ids ?? { since: scope.since ?? -1 }, names, scope.lineage);
    const actions = planEntries(inputs.values(), {
      policy: this.settings.conflictPolicy,
      instanceId: this.library.instanceId,
      instanceName: this.library.instanceName,
      stamp: () => this.library.clock.tick(),
      newId: () => ulid(),
      now: Date.now(),
      nameOf: (id) => names.get(id) ?? id.slice(-6),
    });
    planProgress.finish();
    return { actions, inputs };
  }

  /** The plan's inputs, by entry id: the candidates' local rows (with base) and share rows. */
  private collectInputs(
    share: LoadedShare,
    /** The candidates of a full reconciliation, or the version an incremental run reads changes since. */
    candidates: string[] | { since: number },
    names: Map<string, string>,
    lineage: ShareLineage,
  ): PlanInputs {
    const { db } = share;
    const inputs: PlanInputs = new Map();
    const history = { lineage, purgedThrough: db.purgedThrough(), instanceId: this.library.instanceId };
    const add = (id: string, row: LocalSyncRow | null, remote: EntryState | null) => {
      const input: PlanInput = { id, local: row?.state ?? null, base: row?.base ?? null, remote, pending: row?.status === "pending" };
      // Never read the share's losses as changes: a share that went back in time, or a row a purge cannot
      // have removed (share-history.ts). The lookups run only where they can matter.
      const adjusted = reconcileHistory(
        input,
        {
          remoteRev: remote && lineage.rewound ? db.revOf(id) : null,
          syncedRev: row?.syncedRev ?? null,
          purgedHlc: !row && remote && !remote.deleted ? this.view.purgedStamp(id) : null,
        },
        history,
      );
      inputs.set(id, { ...adjusted, row });
    };
    if (Array.isArray(candidates)) {
      // A full reconciliation: SQL found the rows that can need anything; only those are read and planned.
      if (candidates.length <= BULK_READ_THRESHOLD) {
        for (const id of candidates) add(id, this.view.get(id), db.get(id));
      } else {
        // Most rows (a first sync): one scan of each side beats a lookup per row.
        const wanted = new Set(candidates);
        const remoteById = new Map(db.changedSince(-1).filter((r) => wanted.has(r.id)).map((r) => [r.id, r.state]));
        for (const row of this.view.all()) if (wanted.has(row.id)) add(row.id, row, remoteById.get(row.id) ?? null);
        for (const [id, state] of remoteById) if (!inputs.has(id)) add(id, null, state);
      }
    } else {
      const remoteRows = db.changedSince(candidates.since);
      const remoteById = new Map(remoteRows.map((r) => [r.id, r.state]));
      for (const row of this.view.pending()) add(row.id, row, remoteById.has(row.id) ? (remoteById.get(row.id) as EntryState) : db.get(row.id));
      for (const { id, state } of remoteRows) if (!inputs.has(id)) add(id, this.view.get(id), state);
    }
    // A stamp too far ahead of our clock is clamped by the HLC; say once per instance which one it was.
    const warned = new Set<string>();
    const onDrift = (w: ClockWarning) => {
      // A stamp ahead of *our* clock only because our clock is behind the server's is our fault, already
      // reported (warnOwnClock): blame the other instance only if its stamp is ahead of the server's clock too.
      if (this.ownSkewMs !== null && w.aheadMs + this.ownSkewMs <= DEFAULT_MAX_DRIFT_MS) return;
      if (warned.has(w.node)) return;
      warned.add(w.node);
      this.emit({ type: "log", level: "warn", message: describeDrift(w, names.get(w.node)), data: { instanceId: w.node, aheadMs: w.aheadMs } });
    };
    for (const input of inputs.values()) if (input.remote) this.library.clock.receive(input.remote.hlc, onDrift);
    return inputs;
  }

  /** SPEC §3: a run that would delete more than maxDeletePercent of the library stops (the error), unless --allow-deletes. */
  deletionGuard(deletions: number, remoteLive: number): ShareError | null {
    const library = Math.max(remoteLive, this.library.liveCount());
    if (deletions >= DELETE_GUARD_MIN && deletions * 100 > library * this.settings.maxDeletePercent) {
      return new ShareError(
        "too-many-deletions",
        `This sync would delete ${deletions} of ${library} entries, more than sync.maxDeletePercent (${this.settings.maxDeletePercent}%); nothing was changed. See what it would delete with "syncd sync --dry-run", and run "syncd sync --allow-deletes" if that is intended.`,
      );
    }
    return null;
  }
}

/** The deletions a plan makes on either side (of entries live there before), for the deletion guard. */
export function countDeletions({ actions, inputs }: BatchPlan): number {
  let deletions = 0;
  for (const a of actions) {
    const input = inputs.get(a.id);
    if (a.local?.deleted && input?.local && !input.local.deleted) deletions++;
    if (a.remote?.deleted && input?.remote && !input.remote.deleted) deletions++;
  }
  return deletions;
}
