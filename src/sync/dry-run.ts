/**
 * `syncd sync --dry-run` (SPEC §5): what a sync would do, and whether a guard would stop it, with nothing
 * changed anywhere.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ShareError } from "../errors.js";
import { conflictCause } from "../model/conflict-differences.js";
import { sameContent, type EntryState } from "../model/entry.js";
import type { Remote } from "../remote/remote.js";
import { loadShare, type LoadedShare } from "../share/share-access.js";
import type { Library } from "../store/library.js";
import type { SyncOptions } from "./engine.js";
import { emptySummary, type DryRunReport, type SyncSummary } from "./events.js";
import { countDeletions, type RunPlanner } from "./run-planner.js";
import { countAction } from "./summary-counts.js";

/**
 * `syncd sync --dry-run`: reads version.txt and the shared metadata (into a temporary folder outside the data
 * directory), plans, and reports. No lock, no probe, no upload, no local write: nothing changes anywhere.
 */
export async function dryRun(
remote: Remote,
library: Library,
planner: RunPlanner,
options: SyncOptions,
identityProblem: (share: LoadedShare) => ShareError | null,
): Promise<SyncSummary> {
  const summary = emptySummary();
  const workDir = await mkdtemp(join(tmpdir(), "syncd-dry-run-"));
  let share: LoadedShare | null = null;
  try {
    share = await loadShare(remote, workDir, () => "new-share");
    const { db } = share;
    const identity = identityProblem(share);
    const { actions, inputs, lineage } = planner.planAll(share, options);
    const guard = options.allowDeletes ? null : (identity ?? planner.deletionGuard(countDeletions({ actions, inputs }), db.liveCount()));
    const changes: DryRunReport["changes"] = [];
    for (const action of actions) {
      const input = inputs.get(action.id);
      const before = { local: input?.local ?? null, remote: input?.remote ?? null };
      countAction(summary, action, before.local, before.remote);
      if (action.conflict) summary.conflicts++;
      const after = action.local ?? action.remote ?? before.local ?? before.remote;
      if (action.remote && !action.remote.deleted && !db.hasData(action.remote.hash)) summary.bytesUp += action.remote.size;
      if (action.local && !action.local.deleted && !library.blobs.has(action.local.hash)) summary.bytesDown += action.local.size;
      changes.push({
        id: action.id,
        name: after?.name ?? action.id,
        reason: action.reason,
        local: describeChange(before.local, action.local),
        remote: describeChange(before.remote, action.remote),
        conflict: action.conflict ? conflictCause(action.conflict) : null,
      });
    }
    summary.version = db.version;
    summary.dryRun = { changes, wouldStop: guard?.message ?? null, shareRewound: lineage.rewound };
  } finally {
    share?.db.close();
    await rm(workDir, { recursive: true, force: true });
  }
  return summary;
}

/** A dry run's words for what an action does to one side, or null when it leaves that side alone. */
function describeChange(before: EntryState | null, after: EntryState | null): string | null {
  if (!after) return null;
  if (after.deleted) return before && !before.deleted ? "delete" : null;
  if (!before) return "add";
  if (before.deleted) return "restore";
  const parts: string[] = [];
  if (before.hash !== after.hash) parts.push("content");
  if (before.name !== after.name) parts.push("rename");
  if (!sameContent({ ...before, name: after.name, hash: after.hash, size: after.size }, after)) parts.push("metadata");
  return parts.length > 0 ? parts.join(" + ") : "bookkeeping";
}
