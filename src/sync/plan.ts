/**
 * The sync decision: a pure function from (local, base, remote) states of one entry to what must be written
 * where. No I/O, no clock, no randomness except through the context, so it is tested exhaustively and
 * property-tested (test/unit/plan*.test.ts).
 *
 * Vocabulary: `base` is the entry's state at its last successful sync (stored with the local row).
 * A side "changed" when its content differs from the base. One side changed: it wins. Both changed to the
 * same content: converged. Both changed differently: a three-way merge, field by field (name, content,
 * each metadata key); what cannot be merged is a conflict, settled by the conflict policy.
 */
import { canonicalJson, MAX_NAME_LENGTH, sameContent, type EntryState, type JsonValue, type Meta } from "../model/entry.js";
import { compareHlc } from "./hlc.js";

export type ConflictPolicy = "manual" | "local_wins" | "remote_wins" | "keep_both" | "newest";

export interface PlanInput {
  id: string;
  /** The local row, or null when this instance has never seen the entry. */
  local: EntryState | null;
  /** The state at the last sync, or null when the entry was never synced here. */
  base: EntryState | null;
  /** The row in the share's metadata.db, or null when the share does not have it (new, or purged). */
  remote: EntryState | null;
  /** The local row is marked pending (changed since the last sync, even if back to the base). */
  pending: boolean;
  /**
   * The share's row (or its absence) is older than `base`: the share went back in time and lost a state
   * this instance holds (sync/share-history.ts). Planned as if the share still held the base, and the share
   * gets the result back.
   */
  shareBehind?: boolean;
}

export type ConflictKind = "content" | "edit-delete" | "name" | "meta";

export interface ConflictRecord {
  entryId: string;
  kind: ConflictKind;
  /** The fields that could not be merged: "name", "content", "deleted", "meta.<key>". */
  fields: string[];
  local: EntryState;
  remote: EntryState;
}

export type ActionReason = "push" | "pull" | "merge" | "converged" | "conflict" | "resolved";

export interface EntryAction {
  id: string;
  reason: ActionReason;
  /** New state of the local row, or null to leave it as it is. */
  local: EntryState | null;
  /** New state of the share's row, or null to leave it as it is. */
  remote: EntryState | null;
  /** The new base once applied, or null when the entry stays unsynced (a held conflict). */
  base: EntryState | null;
  /** A conflict found here: held (manual) or settled by the policy (recorded in the summary). */
  conflict?: ConflictRecord;
  /** keep_both: the losing side, kept as a new entry on both sides. */
  copies?: Array<{ id: string; state: EntryState }>;
}

export interface PlanContext {
  policy: ConflictPolicy;
  instanceId: string;
  instanceName: string;
  /** A new HLC stamp for merged states (strictly after every stamp seen). */
  stamp(): string;
  /** A new entry id (keep_both copies). */
  newId(): string;
  /** Wall-clock ms, only for the date in keep_both copy names. */
  now: number;
  /** The display name of an instance id (from the share's instance list), for keep_both copy names. */
  nameOf(instanceId: string): string;
}

export function planEntries(inputs: Iterable<PlanInput>, ctx: PlanContext): EntryAction[] {
  const actions: EntryAction[] = [];
  for (const input of inputs) {
    const action = planEntry(input, ctx);
    if (action) actions.push(action);
  }
  return actions;
}

/** The decision for one entry, or null when there is nothing to do. */
export function planEntry(input: PlanInput, ctx: PlanContext): EntryAction | null {
  if (input.shareBehind && input.local && input.base) return planRestore(input, input.local, input.base, ctx);
  const { id, local, base, remote, pending } = input;

  if (!local && !remote) return null;
  if (!local && remote) return { id, reason: "pull", local: remote, remote: null, base: remote };
  if (local && !remote) {
    // Never synced: a new local entry. Synced once but gone from the share: its tombstone was purged
    // after the retention window (or the share was reset, which the engine refuses before planning).
    if (!base) return { id, reason: "push", local: null, remote: local, base: local };
    if (changedFrom(local, base)) return { id, reason: "push", local: null, remote: local, base: local };
    // Already a tombstone here: record it as the base once; after that there is nothing left to do.
    if (local.deleted) {
      if (!pending && sameBookkeeping(local, base)) return null;
      return { id, reason: "converged", local: null, remote: null, base: local };
    }
    const tomb = { ...local, deleted: true };
    return { id, reason: "pull", local: tomb, remote: null, base: tomb };
  }
  // Both sides have it.
  const l = local as EntryState;
  const r = remote as EntryState;
  const localChanged = !base || changedFrom(l, base);
  const remoteChanged = !base || changedFrom(r, base);

  if (sameContent(l, r)) {
    if (!localChanged && !remoteChanged && !pending && base && sameBookkeeping(l, r) && sameBookkeeping(r, base)) {
      return null;
    }
    // Converged (identical edits, or a push whose local bookkeeping was lost in a crash): adopt the
    // share's bookkeeping so that every instance ends with byte-identical rows.
    return { id, reason: "converged", local: sameBookkeeping(l, r) ? null : r, remote: null, base: r };
  }
  if (localChanged && !remoteChanged) return { id, reason: "push", local: null, remote: l, base: l };
  if (!localChanged && remoteChanged) return { id, reason: "pull", local: r, remote: null, base: r };
  return mergeThreeWay(id, l, base, r, ctx);
}

/**
 * The share lost this instance's base (restored from an older copy): the share's row is no evidence of a
 * change on its side, so the decision is made as if it still held the base — which leaves only this
 * instance's own changes — and whatever state results is written back to the share.
 */
function planRestore(input: PlanInput, local: EntryState, base: EntryState, ctx: PlanContext): EntryAction | null {
  const action = planEntry({ ...input, remote: base, shareBehind: false }, ctx);
  const state = action?.remote ?? action?.local ?? local;
  if (input.remote && sameBookkeeping(input.remote, state)) return action;
  return {
    id: input.id,
    reason: action?.reason ?? "push",
    local: action?.local ?? null,
    remote: state,
    base: action?.base ?? state,
  };
}

function changedFrom(state: EntryState, base: EntryState): boolean {
  return !sameContent(state, base);
}

/** Same content and the same change (version, stamp, author): the rows are identical. */
function sameBookkeeping(a: EntryState, b: EntryState): boolean {
  return a.version === b.version && a.hlc === b.hlc && a.origin === b.origin && sameContent(a, b);
}

// ---------------------------------------------------------------------------------------------------------
// Three-way merge of two divergent states.

const ABSENT = Symbol("absent");
type Slot = JsonValue | typeof ABSENT;

interface Merged {
  name: string;
  hash: string;
  size: number;
  meta: Meta;
  conflicts: string[];
}

function mergeThreeWay(id: string, l: EntryState, base: EntryState | null, r: EntryState, ctx: PlanContext): EntryAction {
  if (l.deleted || r.deleted) {
    // One side deleted, the other edited (both deleted is sameContent above).
    const record: ConflictRecord = { entryId: id, kind: "edit-delete", fields: ["deleted"], local: l, remote: r };
    return settleEditDelete(id, l, r, record, ctx);
  }
  const merged = mergeFields(l, base, r);
  if (merged.conflicts.length === 0) {
    const state = mergedState(l, r, merged, ctx);
    return { id, reason: "merge", local: state, remote: state, base: state };
  }
  const kind: ConflictKind = merged.conflicts.includes("content")
    ? "content"
    : merged.conflicts.includes("name")
      ? "name"
      : "meta";
  const record: ConflictRecord = { entryId: id, kind, fields: merged.conflicts, local: l, remote: r };
  return settleFieldConflict(id, l, r, merged, record, ctx);
}

function mergeFields(l: EntryState, base: EntryState | null, r: EntryState): Merged {
  const conflicts: string[] = [];
  const pick = <T>(field: string, b: T | undefined, lv: T, rv: T, eq: (x: T, y: T) => boolean): T => {
    const lChanged = b === undefined || !eq(lv, b);
    const rChanged = b === undefined || !eq(rv, b);
    if (lChanged && rChanged && !eq(lv, rv)) conflicts.push(field);
    // Without a conflict, the changed side (or either, when equal) is the answer; with one, the local
    // value is a placeholder that the policy replaces.
    return rChanged && !lChanged ? rv : lv;
  };
  const baseLive = base && !base.deleted ? base : null;
  const name = pick("name", baseLive?.name, l.name, r.name, (x, y) => x === y);
  const content = pick(
    "content",
    baseLive ? { hash: baseLive.hash, size: baseLive.size } : undefined,
    { hash: l.hash, size: l.size },
    { hash: r.hash, size: r.size },
    (x, y) => x.hash === y.hash && x.size === y.size,
  );
  const meta: Meta = {};
  const keys = new Set([...Object.keys(l.meta), ...Object.keys(r.meta), ...Object.keys(baseLive?.meta ?? {})]);
  for (const key of [...keys].sort()) {
    const value = pick<Slot>(
      `meta.${key}`,
      baseLive ? slot(baseLive.meta, key) : undefined,
      slot(l.meta, key),
      slot(r.meta, key),
      sameSlot,
    );
    if (value !== ABSENT) meta[key] = value;
  }
  return { name, hash: content.hash, size: content.size, meta, conflicts };
}

function slot(meta: Meta, key: string): Slot {
  return Object.prototype.hasOwnProperty.call(meta, key) ? (meta[key] as JsonValue) : ABSENT;
}

function sameSlot(a: Slot, b: Slot): boolean {
  if (a === ABSENT || b === ABSENT) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

function mergedState(l: EntryState, r: EntryState, m: Pick<Merged, "name" | "hash" | "size" | "meta">, ctx: PlanContext): EntryState {
  return {
    name: m.name,
    hash: m.hash,
    size: m.size,
    meta: m.meta,
    deleted: false,
    version: Math.max(l.version, r.version) + 1,
    hlc: ctx.stamp(),
    origin: ctx.instanceId,
  };
}

/** Which side a policy picks for the conflicting parts: "local", "remote", or null (manual, keep_both). */
function winner(policy: ConflictPolicy, l: EntryState, r: EntryState): "local" | "remote" | null {
  switch (policy) {
    case "local_wins":
      return "local";
    case "remote_wins":
      return "remote";
    case "newest":
      // Higher HLC wins; the stamp embeds the instance id, so ties are impossible between instances.
      return compareHlc(l.hlc, r.hlc) >= 0 ? "local" : "remote";
    default:
      return null;
  }
}

function held(id: string, record: ConflictRecord): EntryAction {
  // manual: the entry keeps its local state here and its remote state in the share until resolved.
  return { id, reason: "conflict", local: null, remote: null, base: null, conflict: record };
}

function settleEditDelete(id: string, l: EntryState, r: EntryState, record: ConflictRecord, ctx: PlanContext): EntryAction {
  let side = winner(ctx.policy, l, r);
  if (ctx.policy === "manual") return held(id, record);
  // keep_both: nothing may be lost, so the edit survives and the deletion is dropped.
  if (side === null) side = l.deleted ? "remote" : "local";
  const chosen = side === "local" ? l : r;
  const state: EntryState = {
    ...chosen,
    version: Math.max(l.version, r.version) + 1,
    hlc: ctx.stamp(),
    origin: ctx.instanceId,
  };
  return { id, reason: "resolved", local: state, remote: state, base: state, conflict: record };
}

function settleFieldConflict(
  id: string,
  l: EntryState,
  r: EntryState,
  merged: Merged,
  record: ConflictRecord,
  ctx: PlanContext,
): EntryAction {
  if (ctx.policy === "manual") return held(id, record);
  if (ctx.policy === "keep_both") return keepBoth(id, l, r, record, ctx);
  const side = winner(ctx.policy, l, r) as "local" | "remote";
  const win = side === "local" ? l : r;
  const fields = { name: merged.name, hash: merged.hash, size: merged.size, meta: { ...merged.meta } };
  for (const field of merged.conflicts) {
    if (field === "name") fields.name = win.name;
    else if (field === "content") {
      fields.hash = win.hash;
      fields.size = win.size;
    } else {
      const key = field.slice("meta.".length);
      const value = slot(win.meta, key);
      if (value === ABSENT) delete fields.meta[key];
      else fields.meta[key] = value;
    }
  }
  const state = mergedState(l, r, fields, ctx);
  return { id, reason: "resolved", local: state, remote: state, base: state, conflict: record };
}

/**
 * keep_both: the newer side (by HLC) keeps the id; the other side lives on as a new entry named
 * `report (conflict laptop 2026-11-23).pdf`, so nothing is lost and every instance sees both.
 */
function keepBoth(id: string, l: EntryState, r: EntryState, record: ConflictRecord, ctx: PlanContext): EntryAction {
  const localNewer = compareHlc(l.hlc, r.hlc) >= 0;
  const keep = localNewer ? l : r;
  const lose = localNewer ? r : l;
  const loserInstance = ctx.nameOf(lose.origin);
  const stamp = ctx.stamp();
  const kept: EntryState = { ...keep, version: Math.max(l.version, r.version) + 1, hlc: stamp, origin: ctx.instanceId };
  const copy: EntryState = {
    ...lose,
    name: conflictCopyName(lose.name, loserInstance, ctx.now),
    version: 1,
    hlc: ctx.stamp(),
    origin: ctx.instanceId,
  };
  return {
    id,
    reason: "resolved",
    local: kept,
    remote: kept,
    base: kept,
    conflict: record,
    copies: [{ id: ctx.newId(), state: copy }],
  };
}

/** How much of an instance name a copy's name carries (config allows 64; a share's list is not trusted). */
const COPY_LABEL_INSTANCE_MAX = 64;

/**
 * `papers/report.pdf` → `papers/report (conflict laptop 2026-11-23).pdf`. Always a valid name (SPEC §2),
 * even for a name near MAX_NAME_LENGTH: the stem is shortened to make room for the label. (An over-long
 * name would be written to the share and then refused by every instance reading it.)
 */
export function conflictCopyName(name: string, instance: string, now: number): string {
  const date = new Date(now).toISOString().slice(0, 10);
  const slash = name.lastIndexOf("/");
  const dir = name.slice(0, slash + 1);
  const file = name.slice(slash + 1);
  const dot = file.lastIndexOf(".");
  const who = instance.replace(/[/\\\u0000-\u001f\u007f]/g, "_").slice(0, COPY_LABEL_INSTANCE_MAX);
  const label = ` (conflict ${who} ${date})`;
  const fit = (folder: string, stem: string, ext: string): string | null => {
    const room = MAX_NAME_LENGTH - folder.length - label.length - ext.length;
    if (room < 1) return null;
    let kept = stem.slice(0, room);
    if (/[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1); // never half a surrogate pair
    return kept.length > 0 ? `${folder}${kept}${label}${ext}` : null;
  };
  const stem = dot > 0 ? file.slice(0, dot) : file;
  const ext = dot > 0 ? file.slice(dot) : "";
  return fit(dir, stem, ext) ?? fit(dir, file, "") ?? fit("", stem, ext) ?? fit("", file, "") ?? label.trim();
}
