/**
 * sync/share-history.ts and the planner's restore path: how a share that went back in time is recognised,
 * and how each kind of row is read so that nothing is lost (SPEC §3).
 */
import { describe, expect, it } from "vitest";
import type { EntryState } from "../../src/model/entry.js";
import { planEntry, type PlanContext, type PlanInput } from "../../src/sync/plan.js";
import { reconcileHistory, traceLineage, type HistoryContext, type LineageInput } from "../../src/sync/share-history.js";

const commits = (entries: Array<[number, string]>) => new Map(entries);

function lineage(over: Partial<LineageInput> & { log?: Map<number, string>; mine?: Array<[number, string]> }) {
  const log = over.log ?? commits([]);
  const versions = [...log.keys()];
  return traceLineage({
    syncedVersion: 3,
    syncedCommit: "c3",
    shareVersion: 3,
    shareCommitAt: (v) => log.get(v) ?? null,
    shareLogStart: versions.length ? Math.min(...versions) : null,
    known: (over.mine ?? []).map(([version, id]) => ({ version, id })).sort((a, b) => b.version - a.version),
    ...over,
  });
}

describe("traceLineage", () => {
  it("a share that continued from our commit is not rewound, however far it moved on", () => {
    expect(lineage({ shareVersion: 9, log: commits([[1, "c1"], [2, "c2"], [3, "c3"], [9, "c9"]]) })).toEqual({ rewound: false, forkPoint: 3 });
  });
  it("a share at a lower version went back; the fork point is the newest commit both logs hold", () => {
    const got = lineage({ shareVersion: 2, log: commits([[1, "c1"], [2, "c2"]]), mine: [[1, "c1"], [2, "c2"], [3, "c3"]] });
    expect(got).toEqual({ rewound: true, forkPoint: 2 });
  });
  it("a share written again up to our version number by someone else is recognised by the commit id", () => {
    const got = lineage({ shareVersion: 3, log: commits([[1, "c1"], [2, "x2"], [3, "x3"]]), mine: [[1, "c1"], [2, "c2"], [3, "c3"]] });
    expect(got).toEqual({ rewound: true, forkPoint: 1 });
  });
  it("no commit in common: rewound with an unknown fork point", () => {
    expect(lineage({ shareVersion: 1, log: commits([[1, "x1"]]), mine: [[3, "c3"]] })).toEqual({ rewound: true, forkPoint: null });
  });
  it("a log pruned past our version proves nothing: an instance that far behind simply catches up", () => {
    expect(lineage({ shareVersion: 20_000, log: commits([[10_001, "c"], [20_000, "d"]]) })).toEqual({ rewound: false, forkPoint: 3 });
  });
  it("a library from before commit ids: only a lower version number says rewound", () => {
    expect(lineage({ syncedCommit: null, shareVersion: 3, log: commits([[3, "x3"]]) }).rewound).toBe(false);
    expect(lineage({ syncedCommit: null, shareVersion: 2, log: commits([[2, "x2"]]) }).rewound).toBe(true);
  });
  it("a first sync is never rewound", () => {
    expect(lineage({ syncedVersion: null, syncedCommit: null, shareVersion: 0 })).toEqual({ rewound: false, forkPoint: null });
  });
});

const at = (ms: number, node = "A") => `${String(ms).padStart(15, "0")}.000000.${node}`;
function state(over: Partial<EntryState> = {}): EntryState {
  return { name: "doc.txt", hash: "a".repeat(64), size: 1, meta: {}, deleted: false, version: 1, hlc: at(100), origin: "A", ...over };
}
const ctx = (over: Partial<HistoryContext> = {}): HistoryContext => ({ lineage: { rewound: false, forkPoint: 5 }, purgedThrough: 0, instanceId: "A", ...over });
const input = (over: Partial<PlanInput>): PlanInput => ({ id: "e1", local: null, base: null, remote: null, pending: false, ...over });

describe("reconcileHistory", () => {
  const base = state({ meta: { year: 2021 }, version: 2, hlc: at(200) });

  it("a synced row missing from a share that purged nothing since: the share lost it", () => {
    const got = reconcileHistory(input({ local: base, base }), { remoteRev: null, syncedRev: 4, purgedHlc: null }, ctx({ purgedThrough: 3 }));
    expect(got.shareBehind).toBe(true);
  });
  it("a synced row missing from a share that purged after our sync: read as a purged deletion (unchanged input)", () => {
    const x = input({ local: base, base });
    expect(reconcileHistory(x, { remoteRev: null, syncedRev: 4, purgedHlc: null }, ctx({ purgedThrough: 7 }))).toBe(x);
  });
  it("a local tombstone and no share row: nothing to push back", () => {
    const tomb = { ...base, deleted: true };
    const x = input({ local: tomb, base: tomb });
    expect(reconcileHistory(x, { remoteRev: null, syncedRev: 4, purgedHlc: null }, ctx())).toBe(x);
  });
  it("after a rewind, a row from before the fork is older than our base: pushed back", () => {
    const old = state({ meta: { year: 1999 }, hlc: at(100) });
    const got = reconcileHistory(input({ local: base, base, remote: old }), { remoteRev: 1, syncedRev: 4, purgedHlc: null }, ctx({ lineage: { rewound: true, forkPoint: 2 } }));
    expect(got.shareBehind).toBe(true);
  });
  it("after a rewind, a row written after the fork by someone who never saw our base is diffed without it", () => {
    const theirs = state({ meta: { year: 1999, colour: "red" }, hlc: at(300, "C"), origin: "C" });
    const got = reconcileHistory(input({ local: base, base, remote: theirs }), { remoteRev: 4, syncedRev: 4, purgedHlc: null }, ctx({ lineage: { rewound: true, forkPoint: 2 } }));
    expect(got.base).toBeNull();
    expect(got.shareBehind).toBeUndefined();
  });
  it("after a rewind, a row we last synced before the fork keeps its base (both histories share it)", () => {
    const theirs = state({ meta: { b: true }, hlc: at(300, "C"), origin: "C" });
    const x = input({ local: state(), base: state(), remote: theirs });
    expect(reconcileHistory(x, { remoteRev: 4, syncedRev: 1, purgedHlc: null }, ctx({ lineage: { rewound: true, forkPoint: 2 } }))).toBe(x);
  });
  it("after a rewind with no fork point, stamps decide", () => {
    const l = { lineage: { rewound: true, forkPoint: null } };
    const older = reconcileHistory(input({ local: base, base, remote: state({ hlc: at(150) }) }), { remoteRev: 9, syncedRev: 9, purgedHlc: null }, ctx(l));
    expect(older.shareBehind).toBe(true);
    const newer = reconcileHistory(input({ local: base, base, remote: state({ hlc: at(250, "C"), origin: "C" }) }), { remoteRev: 9, syncedRev: 9, purgedHlc: null }, ctx(l));
    expect(newer.base).toBeNull();
  });
  it("a share row this instance stamped after its local row: the library went back, the share's state is pulled", () => {
    const old = state({ meta: { v: 1 }, hlc: at(100), origin: "A" });
    const mine = state({ meta: { v: 2 }, version: 2, hlc: at(300), origin: "A" });
    const got = reconcileHistory(input({ local: old, base: state({ hlc: at(50) }), remote: mine, pending: true }), { remoteRev: 3, syncedRev: 1, purgedHlc: null }, ctx());
    expect(got.base).toBe(old);
    const plan = planEntry(got, { policy: "manual", instanceId: "A", instanceName: "a", stamp: () => at(999), newId: () => "n", now: 0, nameOf: (id) => id });
    expect(plan).toMatchObject({ reason: "pull", local: mine });
    // Another instance's newer row is an ordinary remote change.
    const theirs = { ...mine, origin: "B" };
    const x = input({ local: old, base: state({ hlc: at(50) }), remote: theirs, pending: true });
    expect(reconcileHistory(x, { remoteRev: 3, syncedRev: 1, purgedHlc: null }, ctx())).toBe(x);
  });
  it("a live share row whose deletion this instance purged is deleted again, unless changed after that deletion", () => {
    const ghost = state({ hlc: at(100) });
    const got = reconcileHistory(input({ remote: ghost }), { remoteRev: 1, syncedRev: null, purgedHlc: at(150) }, ctx());
    expect(got.local).toMatchObject({ deleted: true, hlc: at(150) });
    expect(got.base).toBe(ghost);
    const edited = state({ hlc: at(160, "B") });
    const x = input({ remote: edited });
    expect(reconcileHistory(x, { remoteRev: 3, syncedRev: null, purgedHlc: at(150) }, ctx())).toBe(x);
  });
});

describe("planEntry with shareBehind", () => {
  let n = 0;
  const plan: PlanContext = {
    policy: "manual",
    instanceId: "A",
    instanceName: "a",
    stamp: () => at(1000 + ++n),
    newId: () => `n${++n}`,
    now: 0,
    nameOf: (id) => id,
  };
  const base = state({ meta: { year: 2021 }, version: 2, hlc: at(200) });

  it("an unchanged row is written back as it is", () => {
    const a = planEntry(input({ local: base, base, remote: state({ hlc: at(100) }), shareBehind: true }), plan);
    expect(a).toMatchObject({ reason: "push", local: null, remote: base, base });
  });
  it("a row missing from the share is written back", () => {
    expect(planEntry(input({ local: base, base, remote: null, shareBehind: true }), plan)).toMatchObject({ remote: base, base });
  });
  it("a row edited here since is pushed with the edit; no conflict with the share's older state", () => {
    const edited = { ...base, meta: { year: 2022 }, version: 3, hlc: at(300) };
    const a = planEntry(input({ local: edited, base, remote: state({ meta: { year: 1999 }, hlc: at(100) }), pending: true, shareBehind: true }), plan);
    expect(a).toMatchObject({ reason: "push", remote: edited, base: edited });
    expect(a?.conflict).toBeUndefined();
  });
  it("a tombstone here goes back as a tombstone", () => {
    const tomb = { ...base, deleted: true, version: 3, hlc: at(300) };
    expect(planEntry(input({ local: tomb, base: tomb, remote: base, shareBehind: true }), plan)).toMatchObject({ remote: tomb });
  });
  it("nothing to do when the share already holds exactly our state", () => {
    expect(planEntry(input({ local: base, base, remote: base, shareBehind: true }), plan)).toBeNull();
  });
});
