#!/usr/bin/env node
/**
 * The local library's part of an ordinary sync run that changes one row (issue 13): a figure, not a test.
 * Builds a synced library of N entries (dataset.mjs buildSyncedLibrary), turns some of them into synced
 * tombstones, then times, for each of several one-row changes, the local statements whose cost used to grow
 * with the library: the delete guard's live count (Library.liveCount) and the tombstone purge
 * (LocalSyncView.purgeTombstones), each as the engine runs them, inside the run's local transaction.
 * Last, one purge that does find purgeable tombstones (the library's clock and the share's both say old).
 * Imports from ../dist/: build first (npx tsc -p tsconfig.json).
 *
 *   BENCH_HOT_ENTRIES     library size                                   [1000000]
 *   BENCH_HOT_TOMBSTONES  synced tombstones among them (not purgeable)   [10000]
 *   BENCH_HOT_RUNS        one-row changes timed                          [7]
 *   BENCH_WORKDIR         parent of the temporary work folder            [os.tmpdir()]
 *   BENCH_HOT_KEEP=1      keep the work folder (its path is printed)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openLibrary } from "../dist/store/library.js";
import { LocalSyncView } from "../dist/sync/local-sync.js";
import { cutoffStamp } from "../dist/sync/maintenance.js";
import { buildSyncedLibrary } from "./lib/dataset.mjs";

const entries = Number(process.env.BENCH_HOT_ENTRIES ?? 1_000_000);
const tombstones = Number(process.env.BENCH_HOT_TOMBSTONES ?? 10_000);
const runs = Number(process.env.BENCH_HOT_RUNS ?? 7);
const work = mkdtempSync(join(process.env.BENCH_WORKDIR ?? tmpdir(), "syncd-hot-path-"));
const dataDir = join(work, "data");

const ms = (t) => Math.round(t * 100) / 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(fn) {
  const t = performance.now();
  const result = fn();
  return [performance.now() - t, result];
}

try {
  let t = performance.now();
  await buildSyncedLibrary({ dataDir, instanceName: "bench", entries, shareDir: join(work, "share") });
  const buildMs = performance.now() - t;

  let library = await openLibrary(dataDir, { instanceName: "bench" });
  // Synced tombstones, deleted a day ago: younger than the retention window, so no purge takes them.
  t = performance.now();
  library.db
    .prepare(`UPDATE entries SET deleted = 1, base = json_set(base, '$.deleted', json('true'))
      WHERE id IN (SELECT id FROM entries ORDER BY id DESC LIMIT ?)`)
    .run(tombstones);
  const tombMs = performance.now() - t;
  library.db.pragma("wal_checkpoint(TRUNCATE)");
  library.close();
  // Measured on a freshly opened library, as a daemon's run would find it.
  library = await openLibrary(dataDir, { instanceName: "bench" });
  const view = new LocalSyncView(library.db);
  const ids = library.db.prepare("SELECT id FROM entries WHERE deleted = 0 ORDER BY id LIMIT ?").pluck().all(runs);

  const samples = { throughNone: [], throughAll: [], liveCount: [] };
  let live = 0;
  for (const [i, id] of ids.entries()) {
    library.updateMeta(id, { set: { bench: i } }); // the one-row change
    view.transaction(() => {
      const [countMs, n] = time(() => library.liveCount());
      live = n;
      // The share's clock says nothing is old yet (through = -1: the usual case a day after the last purge) …
      const [noneMs, a] = time(() => view.purgeTombstones(cutoffStamp(Date.now(), 90), -1));
      // … or that every version is (through = 1) while this machine's clock says the tombstones are young.
      const [allMs, b] = time(() => view.purgeTombstones(cutoffStamp(Date.now(), 90), 1));
      if (a !== 0 || b !== 0) throw new Error("purged tombstones that are not purgeable");
      samples.liveCount.push(countMs);
      samples.throughNone.push(noneMs);
      samples.throughAll.push(allMs);
      const row = view.get(id);
      view.markSynced(id, row.state, 1, row.state.hlc);
    });
  }
  // Both clocks say every tombstone is old: one run's purge.
  const [purgeMs, purged] = time(() => view.transaction(() => view.purgeTombstones(cutoffStamp(Date.now() + 91 * 86_400_000, 90), 1)));
  const left = library.db.prepare("SELECT COUNT(*) FROM entries WHERE deleted = 1").pluck().get();
  const counted = library.db.prepare("SELECT COUNT(*) FROM entries WHERE deleted = 0").pluck().get();
  if (library.liveCount() !== counted) throw new Error(`liveCount() says ${library.liveCount()}, the table has ${counted} live rows`);
  library.close();

  const row = (name, xs) => `${name.padEnd(44)} median ${String(ms(median(xs))).padStart(8)} ms   first ${String(ms(xs[0])).padStart(8)} ms   min ${String(ms(Math.min(...xs))).padStart(8)} ms   max ${String(ms(Math.max(...xs))).padStart(8)} ms`;
  const total = samples.liveCount.map((x, i) => x + samples.throughAll[i]);
  console.log(`library: ${entries} entries (${live} live, ${tombstones} synced tombstones); built in ${ms(buildMs / 1000)} s (+${ms(tombMs / 1000)} s tombstones); ${runs} one-row changes`);
  console.log(row("liveCount()", samples.liveCount));
  console.log(row("purgeTombstones, share says nothing old", samples.throughNone));
  console.log(row("purgeTombstones, share says all old", samples.throughAll));
  console.log(row("liveCount + purge (share says all old)", total));
  console.log(`purgeTombstones with every tombstone purgeable: ${purged} purged in ${ms(purgeMs)} ms, ${left} tombstones left`);
} finally {
  if (process.env.BENCH_HOT_KEEP === "1") console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
