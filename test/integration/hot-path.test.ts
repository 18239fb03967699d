/**
 * O(change) on the hot path (issue 13), end to end: every statement that real incremental sync runs execute
 * on the local library — pushing one change, pulling others (an edit, a deletion, a new entry), holding a
 * conflict, pushing its resolution, skipping — is recorded while they run, and SQLite's query plan of each
 * holds no full scan (helpers/query-plans.ts). The unit test (test/unit/hot-path.test.ts) covers the same
 * statements one by one, the purge's deletions included; this one finds any statement the engine issues that
 * it does not know of. The maintained counts are checked after every run.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Library } from "../../src/store/library.js";
import { listOpenConflicts } from "../../src/store/conflicts.js";
import { resolveConflict } from "../../src/store/resolve.js";
import type { SyncSummary } from "../../src/sync/events.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import Database from "better-sqlite3";
import { join } from "node:path";
import { fullScans, queryPlans, SHARED_BOUNDED_TABLES, traceStatements } from "../helpers/query-plans.js";

let server: DavServer;
const opened: EngineInstance[] = [];

beforeEach(async () => {
  server = await startDavServer();
});
afterEach(async () => {
  for (const inst of opened.splice(0)) await inst.close();
  await server.close();
});

async function instance(name: string): Promise<EngineInstance> {
  const inst = await makeEngineInstance(name, { url: server.url }, { conflictPolicy: "manual" });
  opened.push(inst);
  return inst;
}

function expectCounts(l: Library): void {
  const scanned = l.db
    .prepare("SELECT COUNT(*) FILTER (WHERE deleted = 0) AS live, COUNT(*) FILTER (WHERE deleted <> 0) AS tombstones FROM entries NOT INDEXED")
    .get();
  expect(l.counts()).toEqual(scanned);
}

it("incremental runs that push, pull, hold, resolve and skip read no local table whole", async () => {
  const a = await instance("a");
  const b = await instance("b");
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) ids.push(await a.add(`e${i}.txt`, `content ${i}`));
  await a.engine.sync(); // first syncs reconcile in full: not the hot path
  await b.engine.sync();

  const traced = new Map<Library, Map<string, unknown[]>>([
    [a.library, new Map()],
    [b.library, new Map()],
  ]);
  const run = async (inst: EngineInstance): Promise<SyncSummary> => {
    let summary: SyncSummary | undefined;
    const seen = await traceStatements(inst.library.db, async () => {
      summary = await inst.engine.sync();
    });
    for (const [sql, args] of seen) traced.get(inst.library)?.set(sql, args);
    expectCounts(inst.library);
    return summary as SyncSummary;
  };
  const [e0, e1, e2, e3] = ids as [string, string, string, string];

  // One row changed here: pushed.
  a.library.updateMeta(e0, { set: { k: 1 } });
  expect((await run(a)).metadataPushed).toBe(1);
  // Changes there: an edit, a deletion and a new entry, pulled.
  b.library.rename(e1, "renamed.txt");
  b.library.remove(e2);
  await b.add("new.txt", "new");
  await run(b);
  expect(await run(a)).toMatchObject({ deletedLocal: 1, downloaded: 1, metadataPulled: 1 });
  // Both edit one entry: held here (manual policy), then resolved and pushed.
  b.library.updateMeta(e3, { set: { side: "b" } });
  await run(b);
  a.library.updateMeta(e3, { set: { side: "a" } });
  expect((await run(a)).conflicts).toBe(1);
  const [conflict] = listOpenConflicts(a.library.db);
  resolveConflict(a.library, (conflict as { id: string }).id, "keep_both");
  expect((await run(a)).uploaded).toBe(1);
  await run(b);
  // Nothing to do: skipped.
  expect((await run(a)).skipped).toBe(true);
  expect(a.library.list().map((e) => e.name).sort()).toEqual(b.library.list().map((e) => e.name).sort());

  for (const [library, statements] of traced) {
    const sources = [...statements.keys()];
    // The trace saw the run's local side (a trace that saw nothing would pass anything).
    expect(sources.some((s) => s.includes("FROM entry_counts"))).toBe(true);
    expect(sources.some((s) => s.includes("entries_purgeable"))).toBe(true);
    expect(fullScans(queryPlans(library.db, statements))).toEqual([]);
  }
});

it("incremental runs read no table of the shared metadata whole: the replica is brought forward and committed in O(change)", async () => {
  const a = await instance("a");
  const b = await instance("b");
  for (let i = 0; i < 30; i++) await a.add(`e${i}.txt`, `content ${i}`);
  await a.engine.sync();
  await b.engine.sync();
  const ids = a.library.list().map((e) => e.id);
  const replicaOf = (inst: EngineInstance) => join(inst.library.dataDir, "share-replica.db");
  const traced = new Map<string, Map<string, unknown[]>>([
    [replicaOf(a), new Map()],
    [replicaOf(b), new Map()],
  ]);
  const run = async (inst: EngineInstance): Promise<SyncSummary> => {
    let summary: SyncSummary | undefined;
    const file = replicaOf(inst);
    const seen = await traceStatements(
      (d) => d.name === file,
      async () => {
        summary = await inst.engine.sync();
      },
    );
    for (const [sql, args] of seen) traced.get(file)?.set(sql, args);
    return summary as SyncSummary;
  };
  // A push (an edit, a content change, a deletion), then the pull of it; the same the other way.
  a.library.updateMeta(ids[0]!, { set: { k: 1 } });
  await a.library.updateContent(ids[1]!, Buffer.from("new content"));
  a.library.remove(ids[2]!);
  expect((await run(a)).metadataPushed).toBe(1);
  expect(await run(b)).toMatchObject({ deletedLocal: 1, downloaded: 1, metadataPulled: 1 });
  b.library.rename(ids[3]!, "renamed.txt");
  await run(b);
  await run(a);
  expect((await run(a)).skipped).toBe(true);

  for (const [file, statements] of traced) {
    const sources = [...statements.keys()];
    // The trace saw the replica (the segment's rows written, the live count read).
    expect(sources.some((s) => s.includes("INSERT INTO entries"))).toBe(true);
    expect(sources.some((s) => s.includes("replica_local"))).toBe(true);
    const replica = new Database(file, { readonly: true });
    try {
      // The run's noted changes live in a temporary table of its own connection: bounded by the run's changes.
      const plannable = new Map([...statements].filter(([sql]) => !/temp\.captured/.test(sql)));
      expect(fullScans(queryPlans(replica, plannable), SHARED_BOUNDED_TABLES)).toEqual([]);
    } finally {
      replica.close();
    }
  }
});
