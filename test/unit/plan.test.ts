/**
 * Table-style unit tests of the three-way planner (src/sync/plan.ts).
 *
 * Every case is planned, checked against its expectation, then "applied" the way the engine applies an
 * action (share row := action.remote, local row := action.local, base := action.base and the row is no
 * longer pending; base === null holds a manual conflict) and planned again: the second plan must be null
 * (nothing left to do), and every keep_both copy must be in sync on arrival.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_NAME_LENGTH, nameProblem, type EntryState } from "../../src/model/entry.js";
import { formatHlc } from "../../src/sync/hlc.js";
import {
  conflictCopyName,
  planEntries,
  planEntry,
  type ConflictPolicy,
  type EntryAction,
  type PlanContext,
  type PlanInput,
} from "../../src/sync/plan.js";

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const LOCAL = "inst-laptop";
const REMOTE = "inst-desktop";
const OTHER = "inst-server";
const NAMES: Record<string, string> = { [LOCAL]: "laptop", [REMOTE]: "desktop", [OTHER]: "server" };
const NOW = Date.UTC(2026, 10, 23, 15, 30); // 2026-11-23
const DAY = "2026-11-23";

const h = (c: string) => c.repeat(64);
const HASH_BASE = h("0");
const HASH_L = h("1");
const HASH_R = h("2");

const hlc = (wall: number, node: string, counter = 0) => formatHlc({ wall, counter, node });
const T_BASE = 1_000_000;
const T_OLD = 2_000_000; // an edit older than T_NEW
const T_NEW = 3_000_000;
const T_PLAN = 9_000_000; // stamps the planner hands out (after everything seen)

const base: EntryState = {
  name: "dir/report.pdf",
  hash: HASH_BASE,
  size: 100,
  meta: { label: "draft", tags: ["a", "b"] },
  deleted: false,
  version: 3,
  hlc: hlc(T_BASE, OTHER),
  origin: OTHER,
};

/** A local edit of the base: version bumped, stamped by this instance. */
function lEdit(change: Partial<EntryState>, wall = T_OLD, from: EntryState = base): EntryState {
  return { ...from, ...change, version: from.version + 1, hlc: hlc(wall, LOCAL), origin: LOCAL };
}
/** An edit made on another instance and synced to the share. */
function rEdit(change: Partial<EntryState>, wall = T_NEW, from: EntryState = base): EntryState {
  return { ...from, ...change, version: from.version + 1, hlc: hlc(wall, REMOTE), origin: REMOTE };
}
const del = (s: EntryState): Partial<EntryState> => ({ deleted: true, name: s.name, hash: s.hash });

function makeCtx(policy: ConflictPolicy = "manual"): PlanContext & { stamps: string[] } {
  let counter = 0;
  let ids = 0;
  const stamps: string[] = [];
  return {
    policy,
    instanceId: LOCAL,
    instanceName: "laptop",
    stamp() {
      const s = hlc(T_PLAN, LOCAL, ++counter);
      stamps.push(s);
      return s;
    },
    newId: () => `copy-${++ids}`,
    now: NOW,
    nameOf: (id) => NAMES[id] ?? id,
    stamps,
  };
}

function input(local: EntryState | null, baseState: EntryState | null, remote: EntryState | null, pending?: boolean): PlanInput {
  // By default a row is pending exactly when it differs from its base (how the engine's write path marks it).
  const p = pending ?? (local !== null && (baseState === null || local.hlc !== baseState.hlc || local.version !== baseState.version));
  return { id: "E1", local, base: baseState, remote, pending: p };
}

/** Applies an action as the engine does and returns the next plan input (null for a held conflict). */
function applied(inp: PlanInput, action: EntryAction): PlanInput | null {
  if (action.base === null) return null;
  return {
    id: inp.id,
    local: action.local ?? inp.local,
    remote: action.remote ?? inp.remote,
    base: action.base,
    pending: false,
  };
}

/** The idempotence check: after applying, nothing is left to do, and both sides agree. */
function expectSettled(inp: PlanInput, action: EntryAction | null, ctx: PlanContext): void {
  if (action === null) return;
  expect(action.id).toBe(inp.id);
  const next = applied(inp, action);
  if (next === null) {
    // Held (manual): nothing is written anywhere, and planning the same inputs holds it again.
    expect(action).toMatchObject({ reason: "conflict", local: null, remote: null, base: null });
    expect(action.conflict).toBeDefined();
    expect(planEntry(inp, ctx)).toMatchObject({ reason: "conflict", local: null, remote: null, base: null });
    return;
  }
  // The share and the local row are identical after the sync (a purged share row stays purged).
  if (next.remote !== null) expect(next.local).toEqual(next.remote);
  expect(next.base).toEqual(next.local);
  expect(planEntry(next, ctx)).toBeNull();
  for (const copy of action.copies ?? []) {
    expect(planEntry({ id: copy.id, local: copy.state, base: copy.state, remote: copy.state, pending: false }, ctx)).toBeNull();
  }
}

interface Case {
  name: string;
  input: PlanInput;
  policy?: ConflictPolicy;
  check: (action: EntryAction | null, ctx: ReturnType<typeof makeCtx>, inp: PlanInput) => void;
}

function runCases(cases: Case[]): void {
  for (const c of cases) {
    it(c.name, () => {
      const ctx = makeCtx(c.policy ?? "manual");
      const action = planEntry(c.input, ctx);
      c.check(action, ctx, c.input);
      expectSettled(c.input, action, ctx);
    });
  }
}

const held = (fields: string[], kind: string) => (a: EntryAction | null, _ctx: unknown, inp: PlanInput) => {
  expect(a).toMatchObject({ reason: "conflict", local: null, remote: null, base: null });
  expect(a?.conflict).toEqual({ entryId: inp.id, kind, fields, local: inp.local, remote: inp.remote });
  expect(a?.copies).toBeUndefined();
};

// ---------------------------------------------------------------------------------------------------------

describe("planEntry: one side changed", () => {
  const lContent = lEdit({ hash: HASH_L, size: 11 });
  const rContent = rEdit({ hash: HASH_R, size: 22 });
  const lDeleted = lEdit(del(base));
  const rDeleted = rEdit(del(base));
  runCases([
    { name: "nothing anywhere: nothing to do", input: input(null, null, null), check: (a) => expect(a).toBeNull() },
    {
      name: "new on the share: pulled",
      input: input(null, null, rContent),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "pull", local: rContent, remote: null, base: rContent }),
    },
    {
      name: "new tombstone on the share (never seen here): pulled as a local tombstone",
      input: input(null, null, rDeleted),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "pull", local: rDeleted, remote: null, base: rDeleted }),
    },
    {
      name: "new locally: pushed",
      input: input(lContent, null, null),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "push", local: null, remote: lContent, base: lContent }),
    },
    {
      name: "new locally and deleted before its first sync: the tombstone is pushed",
      input: input(lDeleted, null, null),
      check: (a) => expect(a).toMatchObject({ reason: "push", local: null, remote: lDeleted, base: lDeleted }),
    },
    { name: "unchanged on both sides: nothing to do", input: input(base, base, base), check: (a) => expect(a).toBeNull() },
    {
      name: "changed locally: pushed",
      input: input(lContent, base, base),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "push", local: null, remote: lContent, base: lContent }),
    },
    {
      name: "changed on the share: pulled",
      input: input(base, base, rContent),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "pull", local: rContent, remote: null, base: rContent }),
    },
    {
      name: "deleted locally: the tombstone is pushed",
      input: input(lDeleted, base, base),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "push", local: null, remote: lDeleted, base: lDeleted }),
    },
    {
      name: "deleted on the share: the tombstone is pulled",
      input: input(base, base, rDeleted),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "pull", local: rDeleted, remote: null, base: rDeleted }),
    },
    {
      name: "metadata-only change locally: pushed",
      input: input(lEdit({ meta: { label: "final", tags: ["a", "b"] } }), base, base),
      check: (a, _c, inp) => expect(a).toMatchObject({ reason: "push", local: null, remote: inp.local, base: inp.local }),
    },
    {
      name: "metadata-only change on the share: pulled",
      input: input(base, base, rEdit({ meta: { tags: ["a", "b"] } })),
      check: (a, _c, inp) => expect(a).toMatchObject({ reason: "pull", local: inp.remote, remote: null, base: inp.remote }),
    },
    {
      name: "key order in metadata is not a change",
      input: input({ ...base, meta: { tags: ["a", "b"], label: "draft" } }, base, base, false),
      check: (a) => expect(a).toBeNull(),
    },
    {
      name: "changed locally, share changed and changed back (same content, new bookkeeping): pushed",
      input: input(lContent, base, rEdit({})),
      check: (a, _c, inp) => expect(a).toMatchObject({ reason: "push", remote: inp.local, base: inp.local }),
    },
  ]);
});

describe("planEntry: both sides changed to the same thing", () => {
  const lDeleted = lEdit(del(base));
  const rDeleted = rEdit(del(base));
  const lSame = lEdit({ hash: HASH_L, size: 11, name: "x/y.pdf" });
  const rSame = rEdit({ hash: HASH_L, size: 11, name: "x/y.pdf" });
  runCases([
    {
      name: "deleted on both sides: converged, the share's tombstone is adopted",
      input: input(lDeleted, base, rDeleted),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "converged", local: rDeleted, remote: null, base: rDeleted }),
    },
    {
      name: "deleted on both sides with different leftover fields: still converged",
      input: input(lEdit({ deleted: true, name: "elsewhere" }), base, rDeleted),
      check: (a) => expect(a).toMatchObject({ reason: "converged", local: rDeleted, remote: null, base: rDeleted }),
    },
    {
      name: "identical edits on both sides: converged, adopting the share's bookkeeping",
      input: input(lSame, base, rSame),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "converged", local: rSame, remote: null, base: rSame }),
    },
    {
      name: "local row already identical to the share but the base is stale (a crash after publish): converged",
      input: input(rSame, base, rSame, true),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "converged", local: null, remote: null, base: rSame }),
    },
    {
      name: "pending but reverted to the base, share unchanged: converged back to the share's row",
      input: input(lEdit({}), base, base, true),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "converged", local: base, remote: null, base }),
    },
    {
      name: "pending but reverted to the base, share changed: pulled",
      input: input(lEdit({}), base, rEdit({ hash: HASH_R })),
      check: (a, _c, inp) => expect(a).toMatchObject({ reason: "pull", local: inp.remote, remote: null }),
    },
    {
      name: "no base, both present and identical: converged",
      input: input(lSame, null, rSame),
      check: (a) => expect(a).toMatchObject({ reason: "converged", local: rSame, remote: null, base: rSame }),
    },
    {
      name: "no base, identical rows: only the base is recorded",
      input: input(rSame, null, rSame),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "converged", local: null, remote: null, base: rSame }),
    },
  ]);
});

describe("planEntry: three-way merges without conflict", () => {
  runCases([
    {
      name: "metadata on both sides, different keys: merged",
      input: input(
        lEdit({ meta: { label: "draft", tags: ["a", "b"], year: 2020 } }),
        base,
        rEdit({ meta: { label: "final", tags: ["a", "b"] } }),
      ),
      check: (a, ctx) => {
        const state = { ...base, meta: { label: "final", tags: ["a", "b"], year: 2020 }, version: 5, hlc: ctx.stamps[0], origin: LOCAL };
        expect(a).toEqual({ id: "E1", reason: "merge", local: state, remote: state, base: state });
        expect(a?.conflict).toBeUndefined();
      },
    },
    {
      name: "metadata: a key unset on one side, another key set on the other: merged",
      input: input(lEdit({ meta: { tags: ["a", "b"] } }), base, rEdit({ meta: { label: "draft", tags: ["a", "b"], x: null } })),
      check: (a) => expect(a).toMatchObject({ reason: "merge", local: { meta: { tags: ["a", "b"], x: null } } }),
    },
    {
      name: "metadata: the same key set to the same value on both sides, other keys differ: merged",
      input: input(lEdit({ meta: { label: "final", tags: ["a", "b"], y: 1 } }), base, rEdit({ meta: { label: "final", tags: ["a", "b"] } })),
      check: (a) => expect(a).toMatchObject({ reason: "merge", local: { meta: { label: "final", tags: ["a", "b"], y: 1 } } }),
    },
    {
      name: "renamed locally, content edited on the share: merged",
      input: input(lEdit({ name: "dir/renamed.pdf" }), base, rEdit({ hash: HASH_R, size: 22 })),
      check: (a) => {
        expect(a).toMatchObject({ reason: "merge", local: { name: "dir/renamed.pdf", hash: HASH_R, size: 22, deleted: false } });
        expect(a?.local).toEqual(a?.remote);
      },
    },
    {
      name: "content edited locally, renamed on the share: merged",
      input: input(lEdit({ hash: HASH_L, size: 11 }), base, rEdit({ name: "dir/renamed.pdf" })),
      check: (a) => expect(a).toMatchObject({ reason: "merge", remote: { name: "dir/renamed.pdf", hash: HASH_L, size: 11 } }),
    },
    {
      name: "renamed to the same name on both sides, metadata on one: merged",
      input: input(lEdit({ name: "n.pdf", meta: {} }), base, rEdit({ name: "n.pdf" })),
      check: (a) => expect(a).toMatchObject({ reason: "merge", local: { name: "n.pdf", meta: {} } }),
    },
    {
      name: "a merge gets a version above both sides and a fresh stamp of this instance",
      input: input(lEdit({ name: "l.pdf" }), base, { ...rEdit({ meta: {} }), version: 40 }),
      check: (a, ctx) => expect(a?.local).toMatchObject({ version: 41, hlc: ctx.stamps[0], origin: LOCAL }),
    },
  ]);
});

describe("planEntry: conflicts (manual holds them)", () => {
  runCases([
    {
      name: "metadata: the same key, different values: conflict on meta.<key>",
      input: input(lEdit({ meta: { label: "L", tags: ["a", "b"] } }), base, rEdit({ meta: { label: "R", tags: ["a", "b"] } })),
      check: held(["meta.label"], "meta"),
    },
    {
      name: "metadata: a key unset on one side, changed on the other: conflict",
      input: input(lEdit({ meta: { label: "draft" } }), base, rEdit({ meta: { label: "draft", tags: ["c"] } })),
      check: held(["meta.tags"], "meta"),
    },
    {
      name: "metadata: the same key added with different values on both sides: conflict",
      input: input(lEdit({ meta: { ...base.meta, k: 1 } }), base, rEdit({ meta: { ...base.meta, k: "1" } })),
      check: held(["meta.k"], "meta"),
    },
    {
      name: "renamed differently on both sides: name conflict",
      input: input(lEdit({ name: "l.pdf" }), base, rEdit({ name: "r.pdf" })),
      check: held(["name"], "name"),
    },
    {
      name: "content changed on both sides: content conflict",
      input: input(lEdit({ hash: HASH_L, size: 11 }), base, rEdit({ hash: HASH_R, size: 22 })),
      check: held(["content"], "content"),
    },
    {
      name: "same hash, different size (corrupt row): content conflict",
      input: input(lEdit({ size: 1 }), base, rEdit({ size: 2 })),
      check: held(["content"], "content"),
    },
    {
      name: "content and name both conflicting: kind content, every field listed",
      input: input(lEdit({ hash: HASH_L, name: "l.pdf", meta: { label: "L" } }), base, rEdit({ hash: HASH_R, name: "r.pdf", meta: { label: "R" } })),
      check: held(["name", "content", "meta.label"], "content"),
    },
    {
      name: "edited locally, deleted on the share: edit/delete conflict",
      input: input(lEdit({ hash: HASH_L }), base, rEdit(del(base))),
      check: held(["deleted"], "edit-delete"),
    },
    {
      name: "deleted locally, edited on the share: edit/delete conflict",
      input: input(lEdit(del(base)), base, rEdit({ meta: {} })),
      check: held(["deleted"], "edit-delete"),
    },
    {
      name: "no base, both present and different: every differing field conflicts",
      input: input(lEdit({ name: "l.pdf" }), null, rEdit({ name: "r.pdf", meta: { label: "draft", tags: ["a", "b"], z: 0 } })),
      check: held(["name", "meta.z"], "name"),
    },
    {
      name: "no base, one side a tombstone: edit/delete conflict",
      input: input(lEdit({}), null, rEdit(del(base))),
      check: held(["deleted"], "edit-delete"),
    },
  ]);
});

describe("planEntry: the share's row is missing (tombstone purged after the retention window)", () => {
  const lTomb = { ...base, deleted: true };
  runCases([
    {
      name: "local unchanged: becomes a local tombstone, nothing written to the share",
      input: input(base, base, null, false),
      check: (a) => expect(a).toEqual({ id: "E1", reason: "pull", local: lTomb, remote: null, base: lTomb }),
    },
    {
      name: "local pending but reverted to the base: becomes a local tombstone",
      input: input(lEdit({}), base, null, true),
      check: (a) => expect(a).toMatchObject({ reason: "pull", local: { deleted: true }, remote: null }),
    },
    {
      name: "local changed: pushed (the edit survives the purge)",
      input: input(lEdit({ hash: HASH_L }), base, null),
      check: (a, _c, inp) => expect(a).toEqual({ id: "E1", reason: "push", local: null, remote: inp.local, base: inp.local }),
    },
    {
      name: "local already a synced tombstone: nothing to do",
      input: input(lTomb, lTomb, null, false),
      check: (a) => expect(a).toBeNull(),
    },
    {
      name: "local a synced tombstone but base bookkeeping is stale: the base is recorded once",
      input: input(rEdit(del(base)), lTomb, null, false),
      check: (a, _c, inp) => expect(a).toEqual({ id: "E1", reason: "converged", local: null, remote: null, base: inp.local }),
    },
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Policies

describe("planEntry: policies on a content conflict", () => {
  // Both sides changed content; besides, the share set a metadata key (merged by the non-keep_both policies).
  const l = lEdit({ hash: HASH_L, size: 11 }, T_OLD);
  const r = rEdit({ hash: HASH_R, size: 22, meta: { label: "draft", tags: ["a", "b"], extra: true } }, T_NEW);
  const lNewer = lEdit({ hash: HASH_L, size: 11 }, T_NEW + 1);
  const record = (lo: EntryState, ro: EntryState) => ({ entryId: "E1", kind: "content", fields: ["content"], local: lo, remote: ro });
  const mergedMeta = { label: "draft", tags: ["a", "b"], extra: true };
  runCases([
    { name: "manual: held (local, remote and base null)", policy: "manual", input: input(l, base, r), check: held(["content"], "content") },
    {
      name: "local_wins: local content, non-conflicting remote fields merged",
      policy: "local_wins",
      input: input(l, base, r),
      check: (a, ctx) => {
        const s = { ...base, hash: HASH_L, size: 11, meta: mergedMeta, version: 5, hlc: ctx.stamps[0], origin: LOCAL };
        expect(a).toEqual({ id: "E1", reason: "resolved", local: s, remote: s, base: s, conflict: record(l, r) });
      },
    },
    {
      name: "remote_wins: remote content",
      policy: "remote_wins",
      input: input(lNewer, base, r),
      check: (a) => expect(a).toMatchObject({ reason: "resolved", local: { hash: HASH_R, size: 22, meta: mergedMeta }, conflict: record(lNewer, r) }),
    },
    {
      name: "newest: the share's newer content wins",
      policy: "newest",
      input: input(l, base, r),
      check: (a) => expect(a).toMatchObject({ reason: "resolved", local: { hash: HASH_R, size: 22, meta: mergedMeta } }),
    },
    {
      name: "newest: the newer local content wins",
      policy: "newest",
      input: input(lNewer, base, r),
      check: (a) => expect(a).toMatchObject({ reason: "resolved", remote: { hash: HASH_L, size: 11, meta: mergedMeta } }),
    },
    {
      name: "newest: the HLC order is by stamp, not by version",
      policy: "newest",
      input: input({ ...lNewer, version: 99 }, base, { ...r, hlc: hlc(T_NEW + 2, REMOTE) }),
      check: (a) => expect(a).toMatchObject({ local: { hash: HASH_R, version: 100 } }),
    },
    {
      name: "keep_both: the newer share side keeps the id, the local side becomes a copy",
      policy: "keep_both",
      input: input(l, base, r),
      check: (a, ctx) => {
        const kept = { ...r, version: 5, hlc: ctx.stamps[0], origin: LOCAL };
        const copy = { ...l, name: `dir/report (conflict laptop ${DAY}).pdf`, version: 1, hlc: ctx.stamps[1], origin: LOCAL };
        expect(a).toEqual({
          id: "E1",
          reason: "resolved",
          local: kept,
          remote: kept,
          base: kept,
          conflict: record(l, r),
          copies: [{ id: "copy-1", state: copy }],
        });
      },
    },
    {
      name: "keep_both: the newer local side keeps the id, the share side becomes a copy named after its author",
      policy: "keep_both",
      input: input(lNewer, base, r),
      check: (a) => {
        expect(a).toMatchObject({ reason: "resolved", local: { hash: HASH_L, meta: base.meta } });
        expect(a?.copies).toHaveLength(1);
        expect(a?.copies?.[0]?.state).toMatchObject({ name: `dir/report (conflict desktop ${DAY}).pdf`, hash: HASH_R, meta: r.meta, deleted: false });
      },
    },
  ]);
});

describe("planEntry: policies on other field conflicts", () => {
  const l = lEdit({ name: "l.pdf", meta: { label: "L", tags: ["a", "b"] } }, T_OLD);
  const r = rEdit({ name: "r.pdf", meta: { label: "R", tags: [] } }, T_NEW);
  runCases([
    {
      name: "local_wins on name and meta conflicts",
      policy: "local_wins",
      input: input(l, base, r),
      // tags: only the share changed it, so the share's value merges in; name and label conflict.
      check: (a) => expect(a).toMatchObject({ reason: "resolved", local: { name: "l.pdf", meta: { label: "L", tags: [] } }, conflict: { kind: "name", fields: ["name", "meta.label"] } }),
    },
    {
      name: "newest: a conflicting key unset on the winning side is unset",
      policy: "newest",
      input: input(lEdit({ meta: { label: "L", tags: ["a", "b"] } }, T_OLD), base, rEdit({ meta: { tags: ["a", "b"] } }, T_NEW)),
      check: (a) => expect(a).toMatchObject({ reason: "resolved", local: { meta: { tags: ["a", "b"] } } }),
    },
    {
      name: "keep_both on a metadata conflict: a copy with the same content",
      policy: "keep_both",
      input: input(l, base, r),
      check: (a) => {
        expect(a?.local).toMatchObject({ name: "r.pdf", meta: r.meta });
        expect(a?.copies?.[0]?.state).toMatchObject({ name: `l (conflict laptop ${DAY}).pdf`, hash: HASH_BASE, meta: l.meta });
      },
    },
  ]);
});

describe("planEntry: policies on an edit/delete conflict", () => {
  const lEdited = lEdit({ hash: HASH_L, size: 11 }, T_OLD);
  const lEditedNew = lEdit({ hash: HASH_L, size: 11 }, T_NEW + 1);
  const rDeleted = rEdit(del(base), T_NEW);
  const lDeleted = lEdit(del(base), T_OLD);
  const lDeletedNew = lEdit(del(base), T_NEW + 1);
  const rEdited = rEdit({ meta: { label: "R" } }, T_NEW);
  const live = (hash: string) => (a: EntryAction | null) => {
    expect(a).toMatchObject({ reason: "resolved", local: { deleted: false, hash }, conflict: { kind: "edit-delete", fields: ["deleted"] } });
    expect(a?.local).toMatchObject({ version: 5, origin: LOCAL });
    expect(a?.copies).toBeUndefined();
  };
  const gone = (a: EntryAction | null) => {
    expect(a).toMatchObject({ reason: "resolved", local: { deleted: true }, remote: { deleted: true }, conflict: { kind: "edit-delete" } });
    expect(a?.copies).toBeUndefined();
  };
  runCases([
    { name: "manual, local edit vs share delete: held", policy: "manual", input: input(lEdited, base, rDeleted), check: held(["deleted"], "edit-delete") },
    { name: "manual, local delete vs share edit: held", policy: "manual", input: input(lDeleted, base, rEdited), check: held(["deleted"], "edit-delete") },
    { name: "local_wins, local edit vs share delete: the edit", policy: "local_wins", input: input(lEdited, base, rDeleted), check: live(HASH_L) },
    { name: "local_wins, local delete vs share edit: the delete", policy: "local_wins", input: input(lDeleted, base, rEdited), check: gone },
    { name: "remote_wins, local edit vs share delete: the delete", policy: "remote_wins", input: input(lEdited, base, rDeleted), check: gone },
    { name: "remote_wins, local delete vs share edit: the edit", policy: "remote_wins", input: input(lDeleted, base, rEdited), check: live(HASH_BASE) },
    { name: "newest, the delete is newer (share): deleted", policy: "newest", input: input(lEdited, base, rDeleted), check: gone },
    { name: "newest, the delete is older (share): the edit survives", policy: "newest", input: input(lEditedNew, base, rDeleted), check: live(HASH_L) },
    { name: "newest, the delete is newer (local): deleted", policy: "newest", input: input(lDeletedNew, base, rEdited), check: gone },
    { name: "newest, the delete is older (local): the edit survives", policy: "newest", input: input(lDeleted, base, rEdited), check: live(HASH_BASE) },
    { name: "keep_both, local edit vs newer share delete: the edit survives", policy: "keep_both", input: input(lEdited, base, rDeleted), check: live(HASH_L) },
    { name: "keep_both, newer local delete vs share edit: the edit survives", policy: "keep_both", input: input(lDeletedNew, base, rEdited), check: live(HASH_BASE) },
  ]);
});

describe("planEntries", () => {
  it("plans every input and leaves out the ones with nothing to do", () => {
    const ctx = makeCtx();
    const actions = planEntries(
      [
        { id: "a", local: base, base, remote: base, pending: false },
        { id: "b", local: null, base: null, remote: base, pending: false },
        { id: "c", local: lEdit({ name: "c" }), base, remote: base, pending: true },
      ],
      ctx,
    );
    expect(actions.map((a) => [a.id, a.reason])).toEqual([
      ["b", "pull"],
      ["c", "push"],
    ]);
  });
});

describe("conflictCopyName", () => {
  const cases: Array<[string, string, string]> = [
    ["dir/report.pdf", "laptop", `dir/report (conflict laptop ${DAY}).pdf`],
    ["report.pdf", "laptop", `report (conflict laptop ${DAY}).pdf`],
    ["README", "laptop", `README (conflict laptop ${DAY})`],
    [".bashrc", "laptop", `.bashrc (conflict laptop ${DAY})`],
    ["home/.config", "laptop", `home/.config (conflict laptop ${DAY})`],
    ["a/b/c/archive.tar.gz", "laptop", `a/b/c/archive.tar (conflict laptop ${DAY}).gz`],
    ["v1.2/notes", "laptop", `v1.2/notes (conflict laptop ${DAY})`],
    ["papers/.hidden.pdf", "laptop", `papers/.hidden (conflict laptop ${DAY}).pdf`],
    ["x.pdf", "my/box\\2\u0001", `x (conflict my_box_2_ ${DAY}).pdf`],
  ];
  for (const [name, instance, expected] of cases) {
    it(`${JSON.stringify(name)} by ${JSON.stringify(instance)}`, () => {
      expect(conflictCopyName(name, instance, NOW)).toBe(expected);
    });
  }
  it("dates in UTC", () => {
    expect(conflictCopyName("a.txt", "pc", Date.UTC(2026, 0, 1, 23, 59))).toBe("a (conflict pc 2026-01-01).txt");
  });
  it("stays a valid name for names near the length limit (the share would refuse the copy's row otherwise)", () => {
    const label = ` (conflict laptop ${DAY})`;
    const long = `${"n".repeat(MAX_NAME_LENGTH - 4)}.pdf`;
    const copy = conflictCopyName(long, "laptop", NOW);
    expect(copy).toBe(`${"n".repeat(MAX_NAME_LENGTH - 4 - label.length)}${label}.pdf`);
    expect(copy).toHaveLength(MAX_NAME_LENGTH);
    // A folder path that leaves no room: the copy goes to the top level.
    const deep = `${"d/".repeat(510)}x.pdf`;
    expect(conflictCopyName(deep, "laptop", NOW)).toBe(`x${label}.pdf`);
    // No half surrogate pair where the stem is cut; the instance part is bounded.
    const emoji = `${"a".repeat(MAX_NAME_LENGTH - 4 - label.length - 1)}\u{1F600}.pdf`;
    expect(conflictCopyName(emoji, "laptop", NOW)).toBe(`${"a".repeat(MAX_NAME_LENGTH - 4 - label.length - 1)}${label}.pdf`);
    expect(conflictCopyName("a", "x".repeat(500), NOW)).toBe(`a (conflict ${"x".repeat(64)} ${DAY})`);
  });
  it("is a valid name for every valid name and any instance name (property)", () => {
    const segment = fc.string({ unit: "binary", minLength: 1, maxLength: 400, size: "max" }).filter((x) => !x.includes("/"));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4, size: "max" }), fc.string({ unit: "binary", maxLength: 100 }), (segments, instance) => {
        const name = segments.join("/");
        fc.pre(nameProblem(name) === null);
        const copy = conflictCopyName(name, instance, NOW);
        expect(nameProblem(copy)).toBeNull();
        expect(copy).not.toBe(name);
        expect(copy).toContain(` ${DAY})`);
      }),
      { numRuns: 200 },
    );
  });
});
