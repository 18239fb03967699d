/**
 * The engine's guarded writes to the local library: a user edit made while a run is in flight always
 * wins, and never leaves a row stuck in 'conflict' with nothing to resolve.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { countOpenConflicts } from "../../src/store/conflicts.js";
import { openLibrary, toState, type Library } from "../../src/store/library.js";
import { LocalSyncView } from "../../src/sync/local-sync.js";
import type { ConflictRecord } from "../../src/sync/plan.js";

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
