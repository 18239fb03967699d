/** The run summary's counters (SPEC §5), from what each planned action changed on either side. */
import { sameContent, type EntryState } from "../model/entry.js";
import type { SyncSummary } from "./events.js";
import type { EntryAction } from "./plan.js";

/** Summary counters of SPEC §5, from what an action changed on each side. */
export function countAction(summary: SyncSummary, action: EntryAction, local: EntryState | null, remote: EntryState | null): void {
  const r = action.remote;
  if (r) {
    if (r.deleted) {
      if (remote && !remote.deleted) summary.deletedRemote++;
    } else if (!remote || remote.deleted || remote.hash !== r.hash) summary.uploaded++;
    else summary.metadataPushed++;
  }
  const l = action.local;
  if (l && l.deleted) {
    if (local && !local.deleted) summary.deletedLocal++;
  } else if (l && (!local || local.deleted || local.hash !== l.hash)) summary.downloaded++;
  else if (l && local && !sameContent(local, l)) summary.metadataPulled++;
  // A keep_both copy is a new entry on both sides, made from the side that lost.
  summary.uploaded += action.copies?.length ?? 0;
}
