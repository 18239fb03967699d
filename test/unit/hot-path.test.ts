/**
 * O(change) on the hot path of the local library (issue 13): an ordinary sync run that changes one row reads
 * no table whole. Structural, not timed: SQLite's own query plan of every statement that the local side of
 * such a run executes (recorded while it runs, see helpers/query-plans.ts) holds no full scan. And what made
 * that possible stays right: the live and tombstone counts kept by triggers (migration v5) through every
 * writer, an existing library counted by the migration, and the bounded tombstone purge.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { ulid } from "ulidx";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EntryState } from "../../src/model/entry.js";
import { openLibrary, toState, type Library } from "../../src/store/library.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/migrations.js";
import { resolveConflict } from "../../src/store/resolve.js";
import { formatHlc } from "../../src/sync/hlc.js";
import { LocalSyncView, PURGE_BATCH } from "../../src/sync/local-sync.js";
import { cutoffStamp } from "../../src/sync/maintenance.js";
import { PublishJournal } from "../../src/sync/publish-journal.js";
import { fullScans, queryPlans, traceStatements, triggerStatements } from "../helpers/query-plans.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/", import.meta.url));
const DAY = 86_400_000;
let root: string;
const open: Library[] = [];

async function lib(dir = join(root, "data")): Promise<Library> {
  const l = await openLibrary(dir, { instanceName: "laptop" });
  open.push(l);
  return l;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "syncd-hot-"));
});
afterEach(() => {
  for (const l of open.splice(0)) l.close();
  rmSync(root, { recursive: true, force: true });
});

/** What a full scan counts: the figures the maintained counts must always equal. */
function scanned(l: Library) {
  return l.db
    .prepare("SELECT COUNT(*) FILTER (WHERE deleted = 0) AS live, COUNT(*) FILTER (WHERE deleted <> 0) AS tombstones FROM entries NOT INDEXED")
    .get() as { live: number; tombstones: number };
}
function expectCounts(l: Library, live: number, tombstones: number): void {
  expect(scanned(l)).toEqual({ live, tombstones });
  expect(l.counts()).toEqual({ live, tombstones });
  expect(l.liveCount()).toBe(live);
}

/** A state another instance published, as a pull brings it. */
let remoteWall = Date.now();
function remoteState(over: Partial<EntryState> = {}): EntryState {
  return {
    name: `remote ${remoteWall}`,
    hash: "b".repeat(64),
    size: 3,
    meta: {},
    deleted: false,
    version: 1,
    hlc: formatHlc({ wall: ++remoteWall, counter: 0, node: "01REMOTE" }),
    origin: "01REMOTE",
    ...over,
  };
}

/** Marks an entry synced at share version `rev`, as a run's local commit does. */
function synced(view: LocalSyncView, l: Library, id: string, rev: number): EntryState {
  const state = toState(l.require(id));
  view.markSynced(id, state, rev, state.hlc);
  return state;
}

describe("the local side of an ordinary run reads no table whole", () => {
  it("every statement it executes, one-row change included, searches by key (EXPLAIN QUERY PLAN)", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const journal = new PublishJournal(l.db, view);
    // A library with some history: synced rows, synced tombstones (one old enough to purge), a resolved conflict.
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await l.add({ source: Buffer.from(`e${i}`), name: `e${i}` })).id);
    for (const id of ids) synced(view, l, id, 1);
    l.remove(ids[0] as string);
    l.remove(ids[1] as string);
    synced(view, l, ids[0] as string, 1);
    synced(view, l, ids[1] as string, 2);
    const [one, two, three] = ids.slice(5) as [string, string, string];

    const traced = await traceStatements(l.db, async () => {
      // The one-row change, through the write path.
      l.updateMeta(one, { set: { k: 1 } });
      await l.add({ source: Buffer.from("new"), name: "new" });
      // The skip check, then a run (engine.ts merge → collectInputs → deletionGuard → publish → applyLocally).
      l.pendingCount();
      l.getState("synced_version");
      journal.record("share", "c0", [{ id: one, seen: toState(l.require(one)), published: toState(l.require(one)) }]);
      journal.settle("share", () => true); // an earlier run that died between publishing and its commit
      for (const row of view.pending()) view.get(row.id);
      view.get(two);
      view.purgedStamp("an-id-the-share-has");
      l.liveCount();
      journal.record("share", "c1", [{ id: one, seen: toState(l.require(one)), published: toState(l.require(one)) }]);
      l.persistClock();
      view.transaction(() => {
        const pulled = remoteState();
        view.write(ulid(), pulled, pulled, 3, null); // a new entry from the share
        const edited = { ...toState(l.require(two)), name: "renamed there", version: 2, hlc: remoteState().hlc, origin: "01REMOTE" };
        view.write(two, edited, edited, 3, l.require(two).hlc); // a pull
        view.write(three, edited, edited, 3, "a stamp it no longer has"); // lost to a local edit
        view.keepPending(three, toState(l.require(three)));
        const state = toState(l.require(one));
        view.markSynced(one, state, 3, state.hlc); // a push
        const held = toState(l.require(ids[6] as string));
        view.hold({ entryId: ids[6] as string, kind: "content", fields: ["content"], local: held, remote: remoteState() }, held.hlc, () => ulid());
        view.closeConflicts(ids[6] as string);
        expect(view.purgeTombstones(cutoffStamp(Date.now() + 91 * DAY, 90), 1)).toBe(1); // ids[0]: old by both clocks
        view.recordCommits([{ version: 3, id: "c1" }], null, 10_000);
        l.setState("synced_version", "3");
        l.setState("last_sync_at", new Date().toISOString());
        journal.clear();
        l.persistClock();
      });
      l.releaseBlob(l.require(two).hash);
    });

    const sources = [...traced.keys()];
    // The trace saw what matters (a trace that saw nothing would pass anything).
    expect(sources.some((s) => s.includes("FROM entry_counts"))).toBe(true);
    expect(sources.some((s) => s.includes("entries_purgeable"))).toBe(true);
    expect(sources.some((s) => /^DELETE FROM entries WHERE id = \?/.test(s))).toBe(true);
    expect(sources.some((s) => s.includes("sync_status = 'pending'"))).toBe(true);
    expect(fullScans(queryPlans(l.db, traced))).toEqual([]);
  });

  it("the triggers on entries touch one row each", async () => {
    const l = await lib();
    const statements = triggerStatements(l.db, "entries");
    expect(statements.size).toBeGreaterThanOrEqual(5); // change sequence (v2) and counts (v5)
    const steps = queryPlans(l.db, statements);
    expect(steps.length).toBeGreaterThan(0);
    expect(fullScans(steps)).toEqual([]);
  });

  it("the check catches a full scan, of the table or of a whole index: the live count as it was before", async () => {
    const l = await lib();
    const before = new Map<string, unknown[]>([
      ["SELECT COUNT(*) AS n FROM entries WHERE deleted = 0", []],
      ["SELECT id FROM entries ORDER BY name", []],
      ["SELECT id FROM entries WHERE id = ?", ["x"]],
    ]);
    expect(fullScans(queryPlans(l.db, before)).map((s) => s.detail)).toEqual(["SCAN entries", "SCAN entries USING COVERING INDEX entries_name"]);
  });
});

describe("the maintained counts (migration v5)", () => {
  it("follow the write path: adds, imports, edits, deletions, restores, and a write that fails", async () => {
    const l = await lib();
    const a = await l.add({ source: Buffer.from("same"), name: "a" });
    await l.add({ source: Buffer.from("same"), name: "b" }); // keeps a's bytes when a is deleted
    const c = await l.add({ source: Buffer.from("c"), name: "c" });
    expectCounts(l, 3, 0);
    const dir = join(root, "import");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "x.txt"), "x");
    writeFileSync(join(dir, "sub", "y.txt"), "y");
    await l.importDir(dir);
    expectCounts(l, 5, 0);
    l.updateMeta(a.id, { set: { k: 1 } });
    l.rename(a.id, "a2");
    await l.updateContent(c.id, Buffer.from("c2"));
    expectCounts(l, 5, 0);
    l.remove(a.id);
    expectCounts(l, 4, 1);
    expect(() => l.remove(a.id)).toThrow(/deleted/);
    expectCounts(l, 4, 1);
    await l.restore([a.id]);
    expectCounts(l, 5, 0);
    await l.restore([a.id]); // not deleted: nothing to do
    expectCounts(l, 5, 0);
    // A transaction that fails takes its count changes with it.
    expect(() =>
      l.writeTransaction((w) => {
        w.insert("doomed", { hash: l.require(a.id).hash, size: 4 }, {});
        l.db.prepare("UPDATE entries SET deleted = 1 WHERE id = ?").run(c.id);
        throw new Error("rolled back");
      }),
    ).toThrow("rolled back");
    expectCounts(l, 5, 0);
  });

  it("follow a sync's writes: pulled entries and tombstones, deletions and undeletions, lost races, holds, purges", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const a = await l.add({ source: Buffer.from("a"), name: "a" });
    const b = await l.add({ source: Buffer.from("b"), name: "b" });
    synced(view, l, a.id, 1);
    synced(view, l, b.id, 1);
    expectCounts(l, 2, 0);

    const pulled = remoteState();
    expect(view.write("pulled-live", pulled, pulled, 2, null)).toBe(true);
    const tomb = remoteState({ deleted: true });
    expect(view.write("pulled-tomb", tomb, tomb, 2, null)).toBe(true);
    expect(view.write("pulled-live", pulled, pulled, 2, null)).toBe(false); // exists already: nothing written
    expectCounts(l, 3, 1);

    // A deletion pulled over a live row, and an undeletion pulled over a tombstone.
    const deleted = { ...toState(l.require(a.id)), deleted: true, version: 2, hlc: remoteState().hlc, origin: "01REMOTE" };
    expect(view.write(a.id, deleted, deleted, 3, a.hlc)).toBe(true);
    expectCounts(l, 2, 2);
    const undeleted = { ...tomb, deleted: false, version: 2, hlc: remoteState().hlc };
    expect(view.write("pulled-tomb", undeleted, undeleted, 3, tomb.hlc)).toBe(true);
    expectCounts(l, 3, 1);

    // A deletion that loses to a local edit changes nothing.
    const seen = l.require(b.id).hlc;
    l.rename(b.id, "edited meanwhile");
    expect(view.write(b.id, { ...deleted, name: "b" }, deleted, 4, seen)).toBe(false);
    view.keepPending(b.id, null);
    const held = toState(l.require(b.id));
    view.hold({ entryId: b.id, kind: "edit-delete", fields: ["deleted"], local: held, remote: { ...held, deleted: true } }, held.hlc, () => ulid());
    view.closeConflicts(b.id);
    expectCounts(l, 3, 1);

    // The purge drops tombstones; a live row deleted outright (no writer does) is counted out as well.
    expect(view.purgeTombstones(cutoffStamp(Date.now() + 91 * DAY, 90), 10)).toBe(1);
    expectCounts(l, 3, 0);
    l.db.prepare("DELETE FROM entries WHERE id = ?").run("pulled-live");
    expectCounts(l, 2, 0);
  });

  it("follow conflict resolution: keep_both adds the copy, the others change no count", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const ids: string[] = [];
    for (const name of ["one", "two"]) {
      const e = await l.add({ source: Buffer.from(name), name });
      synced(view, l, e.id, 1);
      l.updateMeta(e.id, { set: { mine: true } });
      const local = toState(l.require(e.id));
      const conflictId = ulid();
      expect(view.hold({ entryId: e.id, kind: "meta", fields: ["meta.mine"], local, remote: { ...local, meta: { mine: false }, hlc: remoteState().hlc, origin: "01REMOTE" } }, local.hlc, () => conflictId)).toBe(true);
      ids.push(conflictId);
    }
    expectCounts(l, 2, 0);
    expect(resolveConflict(l, ids[0] as string, "keep_both").copy).not.toBeNull();
    expectCounts(l, 3, 0);
    resolveConflict(l, ids[1] as string, "remote_wins");
    expectCounts(l, 3, 0);
  });

  it("an existing library (schema 4) is counted once by the migration, then kept", async () => {
    const file = join(root, "data", "library.db");
    mkdirSync(join(root, "data"), { recursive: true });
    const v4 = new Database(file);
    for (const step of MIGRATIONS.slice(0, 4)) step(v4);
    v4.pragma("user_version = 4");
    const insert = v4.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, synced_rev, created_at, updated_at)
      VALUES (?, ?, ?, 1, '{}', 1, ?, ?, 'o', 'synced', 1, 0, 0)`);
    for (let i = 0; i < 7; i++) insert.run(`e${i}`, `e${i}`, "a".repeat(64), i < 2 ? 1 : 0, `h${i}`);
    v4.close();

    const l = await lib();
    expect(l.db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expectCounts(l, 5, 2);
    const view = new LocalSyncView(l.db);
    expect(view.purgeTombstones("h9", 1)).toBe(2); // through the new index
    expectCounts(l, 5, 0);
    await l.add({ source: Buffer.from("x"), name: "x" });
    expectCounts(l, 6, 0);
  });

  it("the library of syncd 0.1.0 (fixtures/library-v1, schema 2) is migrated and counted", async () => {
    const dir = join(root, "data");
    cpSync(join(FIXTURES, "library-v1"), dir, { recursive: true });
    const l = await lib(dir);
    expect(l.db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expectCounts(l, 3, 1); // three entries and the tombstone of photo.jpg
    expect(l.list().length).toBe(3);
    const [first] = l.list();
    l.remove((first as { id: string }).id);
    expectCounts(l, 2, 2);
  });
});

describe("the local tombstone purge", () => {
  /** Synced tombstones, one per share version 1..n, deleted in that order. */
  async function tombstones(l: Library, view: LocalSyncView, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 1; i <= n; i++) {
      const e = await l.add({ source: Buffer.from(`t${i}`), name: `t${i}` });
      l.remove(e.id);
      synced(view, l, e.id, i);
      ids.push(e.id);
    }
    return ids;
  }

  it("purges at most its bound per call, oldest sync first, and the rest in the next calls", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const ids = await tombstones(l, view, 5);
    const live = await l.add({ source: Buffer.from("live"), name: "live" });
    synced(view, l, live.id, 1);
    const stamp = cutoffStamp(Date.now() + 91 * DAY, 90);
    expect(view.purgeTombstones(stamp, 4, Date.now(), 2)).toBe(2);
    expect(ids.map((id) => l.get(id) === null)).toEqual([true, true, false, false, false]);
    expect(view.purgeTombstones(stamp, 4, Date.now(), 2)).toBe(2);
    // The fifth was synced after the version the share's clock calls old: kept, however many calls.
    expect(view.purgeTombstones(stamp, 4, Date.now(), 2)).toBe(0);
    expect(ids.map((id) => l.get(id) === null)).toEqual([true, true, true, true, false]);
    expect(l.get(live.id)).not.toBeNull();
    expectCounts(l, 1, 1);
  });

  it("by default, a thousand a run: a backlog goes in the next runs", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const insert = l.db.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, synced_rev, created_at, updated_at)
      VALUES (?, ?, ?, 1, '{}', 2, 1, ?, 'o', 'synced', 1, 0, 0)`);
    l.db.transaction(() => {
      for (let i = 0; i <= PURGE_BATCH; i++) insert.run(`t${String(i).padStart(5, "0")}`, `t${i}`, "a".repeat(64), formatHlc({ wall: 1000 + i, counter: 0, node: "o" }));
    })();
    expectCounts(l, 0, PURGE_BATCH + 1);
    const stamp = cutoffStamp(Date.now(), 90);
    expect(view.purgeTombstones(stamp, 1)).toBe(PURGE_BATCH);
    expect(view.purgeTombstones(stamp, 1)).toBe(1);
    expect(view.purgeTombstones(stamp, 1)).toBe(0);
    expectCounts(l, 0, 0);
  });

  it("needs both clocks, skips tombstones not yet synced, and remembers each deletion's stamp", async () => {
    const l = await lib();
    const view = new LocalSyncView(l.db);
    const [first, second] = await tombstones(l, view, 2);
    const unsynced = await l.add({ source: Buffer.from("u"), name: "u" });
    l.remove(unsynced.id); // pending: the share has not seen this deletion
    const firstHlc = l.require(first as string).hlc;
    // The share's clock says old, this machine's says young (stamp at or before the deletions): kept.
    expect(view.purgeTombstones(firstHlc, 2)).toBe(0);
    // This machine's clock says old, the share's says young: kept.
    const stamp = cutoffStamp(Date.now() + 91 * DAY, 90);
    expect(view.purgeTombstones(stamp, 0)).toBe(0);
    expect(view.purgeTombstones(stamp, 2)).toBe(2);
    expect(view.purgedStamp(first as string)).toBe(firstHlc);
    expect(view.purgedStamp(second as string)).not.toBeNull();
    expect(l.get(unsynced.id)?.deleted).toBe(true);
    expectCounts(l, 0, 1);
  });
});
