#!/usr/bin/env node
/**
 * syncd benchmarks (not tests: no assertions, just figures). Builds a library of BENCH_ENTRIES small files,
 * syncs it to an in-process WebDAV share on 127.0.0.1 and measures each step, counting the HTTP requests
 * that reach the server. Prints a table (median/min/max over BENCH_REPEAT runs) and writes bench/results.json.
 *
 *   npm run bench                      # 10,000 entries
 *   BENCH_ENTRIES=100000 npm run bench # larger
 */
import { createServer } from "node:http";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createShareHandler } from "../dist/remote/embedded-share.js";
import { createWebdavRemote } from "../dist/remote/webdav-remote.js";
import { openLibrary } from "../dist/store/library.js";
import { SyncEngine } from "../dist/sync/engine.js";
import { planEntries } from "../dist/sync/plan.js";

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 10_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const SETTINGS = { concurrency: 8, conflictPolicy: "manual", lockTtlSeconds: 60, lockWaitSeconds: 30, tombstoneRetentionDays: 90, maxDeletePercent: 50 };

const work = mkdtempSync(join(tmpdir(), "syncd-bench-"));
const results = [];

async function countingShare() {
  const dir = join(work, "share");
  mkdirSync(dir, { recursive: true });
  const handle = await createShareHandler({ dir });
  const counter = { requests: 0 };
  const server = createServer((req, res) => {
    counter.requests++;
    handle(req, res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, counter, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

async function instance(name, url) {
  const library = await openLibrary(join(work, name), { instanceName: name });
  const remote = createWebdavRemote({ url, root: "/bench", timeoutMs: 60_000 });
  return { library, remote, engine: new SyncEngine(library, remote, SETTINGS) };
}

async function measure(name, fn, { repeat = 1, counter } = {}) {
  const times = [];
  let requests = null;
  let extra = {};
  for (let i = 0; i < repeat; i++) {
    const before = counter?.requests ?? 0;
    const t0 = performance.now();
    extra = (await fn(i)) ?? {};
    times.push(performance.now() - t0);
    if (counter) requests = counter.requests - before;
  }
  times.sort((a, b) => a - b);
  const row = { scenario: name, runs: repeat, medianMs: round(times[Math.floor(times.length / 2)]), minMs: round(times[0]), maxMs: round(times.at(-1)), requests, ...extra };
  results.push(row);
  console.error(`  ${name}: ${row.medianMs} ms`);
  return row;
}

const round = (x) => Math.round(x * 100) / 100;

const share = await countingShare();
const a = await instance("a", share.url);
const b = await instance("b", share.url);
const src = join(work, "src");
mkdirSync(src);
for (let i = 0; i < ENTRIES; i++) writeFileSync(join(src, `f${String(i).padStart(6, "0")}.txt`), `file ${i} `.repeat(100));

console.error(`syncd bench: ${ENTRIES} entries, ${cpus().length} cores, node ${process.version}`);
await measure(`import ${ENTRIES} files (1 KB)`, () => a.library.importDir(src).then(() => undefined));
await measure(`first sync, upload ${ENTRIES}`, async () => {
  const s = await a.engine.sync();
  return { bytesUp: s.bytesUp };
}, { counter: share.counter });
await measure(`first sync of a new instance, download ${ENTRIES}`, async () => {
  const s = await b.engine.sync();
  return { bytesDown: s.bytesDown };
}, { counter: share.counter });
const idle = await measure("idle check (nothing changed)", () => a.engine.sync().then((s) => { if (!s.skipped) throw new Error("not skipped"); }), { repeat: Math.max(REPEAT, 20), counter: share.counter });
idle.requestsPerRun = idle.requests;
const ids = a.library.list().map((e) => e.id);
await measure(`one metadata change among ${ENTRIES}: push`, async (i) => {
  a.library.updateMeta(ids[i], { set: { bench: i } });
  await a.engine.sync();
}, { repeat: REPEAT, counter: share.counter });
await measure(`one metadata change among ${ENTRIES}: pull`, () => b.engine.sync().then(() => undefined), { repeat: 1, counter: share.counter });
await measure(`one content change among ${ENTRIES}: push`, async (i) => {
  const file = join(work, `c${i}`);
  writeFileSync(file, `changed ${i}`);
  await a.library.updateContent(ids[i], file);
  await a.engine.sync();
}, { repeat: REPEAT, counter: share.counter });

// Pure planning cost: every entry changed on one side.
const states = a.library.list();
const inputs = states.map((e) => ({ id: e.id, local: { ...e, meta: { ...e.meta, x: 1 } }, base: e, remote: e, pending: true }));
const ctx = { policy: "manual", instanceId: "bench", instanceName: "bench", stamp: () => "000000000000001.000000.bench", newId: () => "x", now: Date.now(), nameOf: (id) => id };
await measure(`plan ${ENTRIES} changed entries (pure)`, () => { planEntries(inputs, ctx); }, { repeat: REPEAT });

for (const inst of [a, b]) { await inst.remote.close(); inst.library.close(); }
await share.close();
rmSync(work, { recursive: true, force: true });

const machine = { date: new Date().toISOString(), node: process.version, cores: cpus().length, cpu: cpus()[0]?.model, entries: ENTRIES };
writeFileSync(new URL("./results.json", import.meta.url), JSON.stringify({ machine, results }, null, 2) + "\n");
const header = ["scenario", "median ms", "min ms", "max ms", "requests (last run)"];
const rows = results.map((r) => [r.scenario, r.medianMs, r.minMs, r.maxMs, r.requests ?? ""].map(String));
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
console.log(line(header));
console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
for (const r of rows) console.log(line(r));
