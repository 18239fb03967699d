/**
 * The engine's guarded writes to the local library: a user edit made while a run is in flight always
 * wins, and never leaves a row stuck in 'conflict' with nothing to resolve.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { countOpenConflicts } from "../../src/store/conflicts.js";
import { openLibrary, toState, type Library } from "../../src/store/library.js";
import { LocalSyncView } from "../../src/sync/local-sync.js";
import type { ConflictRecord } from "../../src/sync/plan.js";
import { SharedDb } from "../../src/share/shared-db.js";

let library: Library;
let view: LocalSyncView;

beforeEach(async () => {
  library = await openLibrary(join(mkdtempSync(join(tmpdir(), "syncd-ls-")), "data"), { instanceName: "t" });
  view = new LocalSyncView(library.db);
});
afterEach(() => library.close());

function record(id: string): ConflictRecord {
  const state = toState(library.require(id));
  return { entryId: id, kind: "content", fields: ["content"], local: state, remote: { ...state, hash: "f".repeat(64) } };
}

it("holds a conflict only while the row is the one the plan saw", async () => {
  const e = await library.add({ source: Buffer.from("x"), name: "x" });
  expect(view.hold(record(e.id), e.hlc, () => "c1")).toBe(true);
  expect(view.get(e.id)?.status).toBe("conflict");
  expect(countOpenConflicts(library.db)).toBe(1);

  const f = await library.add({ source: Buffer.from("y"), name: "y" });
  const seen = f.hlc;
  library.updateMeta(f.id, { set: { edited: true } }); // between the plan and its apply
  expect(view.hold(record(f.id), seen, () => "c2")).toBe(false);
  expect(view.get(f.id)?.status).toBe("pending");
  expect(countOpenConflicts(library.db)).toBe(1);
});

it("a held row edited during the run that settled it becomes pending, not stuck in 'conflict'", async () => {
  const e = await library.add({ source: Buffer.from("x"), name: "x" });
  view.hold(record(e.id), e.hlc, () => "c1");
  const seen = library.require(e.id).hlc;
  library.rename(e.id, "renamed meanwhile"); // Library keeps a held row held
  expect(view.get(e.id)?.status).toBe("conflict");
  expect(view.markSynced(e.id, toState(library.require(e.id)), 3, seen)).toBe(false);
  expect(view.get(e.id)?.status).toBe("pending");
  expect(library.pendingCount()).toBe(1);
});

it("a guarded write that loses to a local edit leaves the row's state and base alone", async () => {
  const e = await library.add({ source: Buffer.from("x"), name: "x" });
  const seen = e.hlc;
  library.rename(e.id, "mine");
  const theirs = { ...toState(e), name: "theirs", hlc: "000000000000001.000000.other" };
  expect(view.write(e.id, theirs, theirs, 2, seen)).toBe(false);
  const row = view.get(e.id);
  expect(row?.state.name).toBe("mine");
  expect(row?.base).toBeNull();
});

it("a lost write keeps the row pending on the base it is given (the state the plan saw)", async () => {
  const e = await library.add({ source: Buffer.from("x"), name: "x" });
  const seen = toState(library.require(e.id));
  library.rename(e.id, "mine");
  view.keepPending(e.id, seen);
  const row = view.get(e.id);
  expect(row?.status).toBe("pending");
  expect(row?.state.name).toBe("mine");
  expect(row?.base).toEqual(seen);
});

describe("fullCandidates: the rows a full reconciliation must plan", () => {
  it("finds exactly the rows that differ, are unsynced or exist on one side only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-fc-"));
    const shared = SharedDb.create(join(dir, "shared.db"), "share-1");
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await library.add({ source: Buffer.from(`e${i}`), name: `e${i}` })).id);
    // The share holds every row as it is here, and all rows are synced at version 1.
    const rows = ids.map((id) => ({ id, state: toState(library.require(id)) }));
    shared.commit(rows, { id: "i", name: "t" }, "c1");
    for (const r of rows) expect(view.markSynced(r.id, r.state, 1, r.state.hlc)).toBe(true);
    expect(view.fullCandidates(shared.file)).toEqual([]);

    library.updateMeta(ids[0]!, { set: { k: 1 } }); // changed here
    shared.commit([{ id: ids[1]!, state: { ...rows[1]!.state, name: "renamed there", version: 2, hlc: "0000000000001.000000.x" } }], { id: "i", name: "t" }, "c2"); // changed there
    shared.commit([{ id: "remote-only", state: { ...rows[2]!.state, name: "new there" } }], { id: "i", name: "t" }, "c3");
    const localOnly = await library.add({ source: Buffer.from("local"), name: "new here" });
    shared.close();
    expect(new Set(view.fullCandidates(join(dir, "shared.db")))).toEqual(new Set([ids[0], ids[1], "remote-only", localOnly.id]));
    // The attachment is gone afterwards: the library is usable as before.
    expect((library.db.prepare("PRAGMA database_list").all() as Array<{ name: string }>).map((d) => d.name)).not.toContain("share");
  });
});
