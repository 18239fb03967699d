/**
 * Resolving a held (manual) conflict, as a pure decision beside the planner (plan.ts); store/resolve.ts
 * applies it through the library's write path.
 *
 * A resolution does not write the winning state. It rewrites the entry's *base* (the state both sides are
 * taken to have agreed on) so that the next sync's ordinary three-way merge settles every conflicting field
 * toward the chosen side and merges every other field as it always does:
 * - a conflicting field takes the *losing* side's value in the new base, so that only the winner "changed"
 *   it and the merge picks the winner's value;
 * - every other field keeps its old base value, so that a change either side made to it survives, exactly
 *   as the policy of the same name (plan.ts) would merge it.
 * Why not write the result directly:
 * - the winner's content may be the remote's bytes, which this instance has not downloaded (a held conflict
 *   transfers nothing), and a local row must never name content the local store does not have; the next
 *   sync downloads it like any pull;
 * - the share may have changed again since the conflict was recorded; the next sync then sees that as a new
 *   concurrent change, merges it, or records a new conflict, instead of overwriting it.
 *
 * Strategies, with the same meaning as the policies of the same names:
 * - local_wins / remote_wins: the conflicting fields (or, for an edit/delete conflict, the whole entry)
 *   take that side's values.
 * - keep_both: the entry takes the remote side (as remote_wins) and the local state lives on as a new entry
 *   (store/resolve.ts names it with conflictCopyName). For an edit/delete conflict, as the keep_both
 *   policy: the edit survives on the entry and the deletion is dropped; no copy (a tombstone has no content
 *   to keep).
 */
import { sameContent, type EntryState, type JsonValue, type Meta } from "../model/entry.js";
import { planEntry, type ConflictRecord } from "./plan.js";

export const RESOLVE_STRATEGIES = ["local_wins", "remote_wins", "keep_both"] as const;
export type ResolveStrategy = (typeof RESOLVE_STRATEGIES)[number];

export function isResolveStrategy(value: unknown): value is ResolveStrategy {
  return typeof value === "string" && (RESOLVE_STRATEGIES as readonly string[]).includes(value);
}

export interface Resolution {
  /** The entry's new base; null only when it had none and nothing conflicts any more. */
  base: EntryState | null;
  /** The side whose values the conflicting fields take. */
  winner: "local" | "remote";
  /** keep_both of a field conflict: keep the local state as a new entry. */
  copyLocal: boolean;
  /**
   * What still conflicts between the current local state and the recorded remote one; null when nothing
   * does (the local state was edited into a mergeable one meanwhile): the base is left as it was.
   */
  conflict: ConflictRecord | null;
}

/**
 * The resolution of the conflict between `local` (the entry's current local state), `base` (its stored base)
 * and `remote` (the share's state recorded with the conflict).
 */
export function planResolution(
  id: string,
  local: EntryState,
  base: EntryState | null,
  remote: EntryState,
  strategy: ResolveStrategy,
): Resolution {
  const conflict = conflictBetween(id, local, base, remote);
  const editDelete = conflict?.kind === "edit-delete";
  const winner: "local" | "remote" =
    strategy === "local_wins" ? "local" : strategy === "remote_wins" ? "remote" : editDelete ? (local.deleted ? "remote" : "local") : "remote";
  const copyLocal = strategy === "keep_both" && conflict !== null && !editDelete;
  if (conflict === null) return { base, winner, copyLocal, conflict };
  const loser = winner === "local" ? remote : local;
  // Edit/delete: the whole entry is the conflicting field; with the loser as base only the winner changed.
  if (editDelete) return { base: { ...loser }, winner, copyLocal, conflict };

  const fields = new Set(conflict.fields);
  // The planner merges against the base only while it is live (a tombstone base: everything changed).
  const agreed = base && !base.deleted ? base : null;
  // Without a (live) base, every field that does not conflict is equal on both sides: either is the base.
  const keep = agreed ?? local;
  const content = fields.has("content") ? loser : keep;
  const meta: Meta = {};
  const keys = new Set([...Object.keys(local.meta), ...Object.keys(remote.meta), ...Object.keys(agreed?.meta ?? {})]);
  for (const key of [...keys].sort()) {
    const from = fields.has(`meta.${key}`) ? loser.meta : keep.meta;
    if (Object.hasOwn(from, key)) meta[key] = from[key] as JsonValue;
  }
  const next: EntryState = {
    name: fields.has("name") ? loser.name : keep.name,
    hash: content.hash,
    size: content.size,
    meta,
    deleted: false,
    // Bookkeeping of a base is never compared for a pending row; the share's is the honest one.
    version: remote.version,
    hlc: remote.hlc,
    origin: remote.origin,
  };
  return { base: next, winner, copyLocal, conflict };
}

/** The planner's own verdict (manual policy) on the three states: its conflict record, or null. */
function conflictBetween(id: string, local: EntryState, base: EntryState | null, remote: EntryState): ConflictRecord | null {
  if (sameContent(local, remote)) return null;
  const action = planEntry(
    { id, local, base, remote, pending: true },
    {
      policy: "manual",
      instanceId: "resolve",
      instanceName: "resolve",
      // Only asked for when the states merge (no conflict), and that result is not used.
      stamp: () => "",
      newId: () => "",
      now: 0,
      nameOf: (x) => x,
    },
  );
  return action?.conflict ?? null;
}
