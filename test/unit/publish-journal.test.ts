/**
 * The publish journal (sync/publish-journal.ts): rows a run published but never committed locally get the
 * state that run planned from as their base, only if that publish is part of the share.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openLibrary, toState, type Library } from "../../src/store/library.js";
import { LocalSyncView } from "../../src/sync/local-sync.js";
import { PublishJournal } from "../../src/sync/publish-journal.js";

let library: Library;
let view: LocalSyncView;
let journal: PublishJournal;

beforeEach(async () => {
  library = await openLibrary(join(mkdtempSync(join(tmpdir(), "syncd-pj-")), "data"), { instanceName: "t" });
  view = new LocalSyncView(library.db);
  journal = new PublishJournal(library.db, view);
});
afterEach(() => library.close());

async function syncedEntry(name: string) {
  const e = await library.add({ source: Buffer.from(name), name });
  const base = toState(library.require(e.id));
  view.markSynced(e.id, base, 1, base.hlc);
  return { id: e.id, base };
}

it("heals the rows whose publish landed, drops the others, and forgets the record", async () => {
  const landed = await syncedEntry("landed");
  const lost = await syncedEntry("lost");
  library.updateMeta(landed.id, { set: { k: 1 } });
  library.updateMeta(lost.id, { set: { k: 1 } });
  const seenLanded = toState(library.require(landed.id));
  const seenLost = toState(library.require(lost.id));
  journal.record("share-1", "commit-1", [
    { id: landed.id, seen: seenLanded, published: seenLanded },
    { id: lost.id, seen: seenLost, published: seenLost },
  ]);
  library.updateMeta(landed.id, { set: { k: 2 } }); // edited again after the run died

  const outcome = journal.settle("share-1", (_commit, id) => id === landed.id);
  expect(outcome).toEqual({ healed: 1, dropped: 1 });
  expect(view.get(landed.id)).toMatchObject({ base: seenLanded, status: "pending" });
  expect(view.get(landed.id)?.state.meta).toEqual({ k: 2 });
  expect(view.get(lost.id)?.base).toEqual(lost.base);
  expect(journal.settle("share-1", () => true)).toEqual({ healed: 0, dropped: 0 });
});

it("a record made for another share is dropped whatever the share says", async () => {
  const e = await syncedEntry("e");
  library.updateMeta(e.id, { set: { k: 1 } });
  const seen = toState(library.require(e.id));
  journal.record("share-1", "commit-1", [{ id: e.id, seen, published: seen }]);
  expect(journal.settle("share-2", () => true)).toEqual({ healed: 0, dropped: 1 });
  expect(view.get(e.id)?.base).toEqual(e.base);
});

it("a new record replaces the previous one; clear() forgets it", async () => {
  const a = await syncedEntry("a");
  const b = await syncedEntry("b");
  journal.record("s", "c1", [{ id: a.id, seen: a.base, published: a.base }]);
  journal.record("s", "c2", [{ id: b.id, seen: b.base, published: b.base }]);
  const asked: string[] = [];
  journal.settle("s", (commit, id) => (asked.push(`${commit}:${id === b.id ? "b" : "a"}`), false));
  expect(asked).toEqual(["c2:b"]);
  journal.record("s", "c3", [{ id: a.id, seen: a.base, published: a.base }]);
  journal.clear();
  expect(journal.settle("s", () => true)).toEqual({ healed: 0, dropped: 0 });
});
