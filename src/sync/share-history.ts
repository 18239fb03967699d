/**
 * A share can go back in time: restored from a backup, copied back from another disk, rolled back by the
 * server's own snapshots. SPEC §3: that loses nothing — absence of a row, or an older state of it, is never
 * read as a deletion or an edit, and the newer state that instances hold is pushed back into the share.
 *
 * How an instance knows. Every share version has a commit id (shared-db.ts, `commits`). An instance keeps
 * the share's commit ids it has seen (the local `share_commits` table) and the commit it last synced at.
 * If the share's log no longer holds that commit at that version, the share is not a continuation of what
 * this instance synced: it went back (and may have moved on since, from the older state). The *fork point*
 * is the newest version whose commit both logs agree on: rows the share wrote up to it are states this
 * instance already had and has moved past; rows written after it come from writers that did not know this
 * instance's newer state.
 *
 * Everything here is pure: the engine reads the logs and rows, this module decides.
 */
import { compareHlc } from "./hlc.js";
import type { PlanInput } from "./plan.js";
import { sameContent, type EntryState } from "../model/entry.js";

function sameState(a: EntryState, b: EntryState): boolean {
  return a.hlc === b.hlc && a.version === b.version && sameContent(a, b);
}

export interface ShareLineage {
  /** The share went back in time since this instance's last sync. */
  rewound: boolean;
  /**
   * The newest share version whose commit this instance also saw (rows written up to it are older than or
   * equal to what we hold); null when the logs share no commit (a legacy share, or a very old backup).
   */
  forkPoint: number | null;
}

export interface LineageInput {
  /** The share version and commit this instance last synced at (commit null: synced before commit ids). */
  syncedVersion: number | null;
  syncedCommit: string | null;
  /** The share's current version, and its commit log as version → commit id (the recent part is enough). */
  shareVersion: number;
  shareCommitAt(version: number): string | null;
  /** The oldest version the share's log still holds (null: empty log). */
  shareLogStart: number | null;
  /** The commits this instance saw, newest first (version, id). */
  known: Iterable<{ version: number; id: string }>;
}

/** Whether the share is a continuation of what this instance last synced, and where the two diverged. */
export function traceLineage(x: LineageInput): ShareLineage {
  if (x.syncedVersion === null) return { rewound: false, forkPoint: null };
  let rewound = x.shareVersion < x.syncedVersion;
  if (!rewound && x.syncedCommit !== null && x.shareLogStart !== null && x.shareLogStart <= x.syncedVersion) {
    // The log still reaches back to our version: it must name our commit there. (A log pruned past our
    // version says nothing: an instance that far behind simply catches up.)
    rewound = x.shareCommitAt(x.syncedVersion) !== x.syncedCommit;
  }
  if (!rewound) return { rewound: false, forkPoint: x.syncedVersion };
  for (const { version, id } of x.known) {
    if (version <= x.shareVersion && x.shareCommitAt(version) === id) return { rewound: true, forkPoint: version };
  }
  return { rewound: true, forkPoint: null };
}

/** What the engine knows about one candidate besides the plan input. */
export interface RowHistory {
  /** The share version that last wrote the share's row (null: no share row). */
  remoteRev: number | null;
  /** The share version at which this instance last synced the row (null: never synced here). */
  syncedRev: number | null;
  /** The stamp of a deletion this instance made or saw and then purged locally (null: none). */
  purgedHlc: string | null;
}

export interface HistoryContext {
  lineage: ShareLineage;
  /** This instance's id: a share row it stamped later than its own local row means the library went back. */
  instanceId: string;
  /**
   * The newest share version up to which tombstones may have been purged from the share. A synced row that
   * is missing from the share is read as a purged deletion only if a purge can have removed it.
   */
  purgedThrough: number;
}

/**
 * Rewrites one plan input so that the planner never reads a share's loss as a change:
 * - a row this instance synced, missing from the share although no purge can have removed it, was lost
 *   by the share: this instance's state goes back in (`shareBehind`);
 * - after a rewind, rows this instance last synced before the fork point are diffed as usual (their base
 *   is in both histories). For a row whose base lies in the lost history: a share row from before the fork
 *   (or, without a known fork point, stamped before the base) is a past state, and this instance's state
 *   goes back in; a row written after the fork by a writer that did not know our base is diffed without
 *   that base, so every field both sides changed is a conflict for the policy, never a silent revert;
 * - a share row whose contents differ from a synced row's base under the base's own stamp was rewritten in place, not
 *   changed by an instance: this instance's state goes back in;
 * - a share row that this instance itself stamped after its local row's stamp is newer work of its own that
 *   the library lost (a data directory restored from a backup): pulled, never a conflict with itself;
 * - a share row that this instance saw deleted and has since purged (a backup from before the purge, or a
 *   writer that never saw the deletion) is deleted again, unless it was changed after that deletion.
 */
export function reconcileHistory(input: PlanInput, h: RowHistory, ctx: HistoryContext): PlanInput {
  const { local, base, remote } = input;
  if (!local) {
    if (remote && !remote.deleted && h.purgedHlc !== null && compareHlc(remote.hlc, h.purgedHlc) <= 0) {
      // The deletion we purged is newer than this state: it stands. Deleting again (with the deletion's own
      // old stamp, so the tombstone is purged again soon) rather than pulling the entry back to life.
      const tomb: EntryState = { ...remote, deleted: true, hlc: h.purgedHlc, version: remote.version + 1 };
      return { ...input, local: tomb, base: remote, pending: true };
    }
    return input;
  }
  if (remote && remote.origin === ctx.instanceId && compareHlc(remote.hlc, local.hlc) > 0 && !sameState(remote, local)) {
    // The share holds a state this very instance made after its local row's: the library went back in time
    // (its data directory restored from a backup). Our own later state descends from the local row, so that
    // row is its base: the share's state is pulled, not taken for a conflict with ourselves.
    return { ...input, base: local };
  }
  if (!base) return input;
  if (!input.pending && remote && remote.hlc === base.hlc && remote.origin === base.origin && !sameContent(remote, base)) {
    // A synced row's base is the share's row as this instance last synced it. Other contents under that very
    // stamp: no instance made them (every change carries a new stamp); the row was rewritten in place. Our
    // base is the row's real state: it goes back in. (A pending row's base may be a resolution's, which
    // takes the share's stamp with other contents on purpose: store/resolve.ts.)
    return { ...input, shareBehind: true };
  }
  if (!remote) {
    // A tombstone here and no row there: deleted either way (its tombstone was purged, or is not needed).
    if (local.deleted) return input;
    const purgeable = h.syncedRev === null || ctx.purgedThrough > h.syncedRev;
    return purgeable ? input : { ...input, shareBehind: true };
  }
  if (!ctx.lineage.rewound) return input;
  const fork = ctx.lineage.forkPoint;
  if (fork !== null) {
    // Synced at or before the fork point: our base is the row's state there, a state both histories share,
    // and whatever the share wrote since descends from it: an ordinary three-way diff.
    if (h.syncedRev !== null && h.syncedRev <= fork) return input;
    // Our base was written in the history the share lost. A row from before the fork is older than it; a
    // row written after the fork descends from a state before our base, not from it.
    if (h.remoteRev !== null && h.remoteRev <= fork) return { ...input, shareBehind: true };
    return { ...input, base: null };
  }
  // No commit in common (a legacy share, or a copy older than every commit we know): judge by the stamps.
  return compareHlc(remote.hlc, base.hlc) < 0 ? { ...input, shareBehind: true } : { ...input, base: null };
}
