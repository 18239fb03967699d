#!/usr/bin/env node
/**
 * syncd benchmarks (issue 7): figures, not tests. Builds the data sets, starts the servers on 127.0.0.1 (the
 * embedded share of src/remote/embedded-share.ts and Apache mod_dav), runs each scenario several times and
 * prints a table (median, min, max; ratios where two things are compared) and the targets, and writes all
 * of it to bench/results.json. `npm run bench` builds dist/ first; this file only imports from ../dist/.
 *
 * Sizes (environment variables; defaults in brackets, BENCH_SMOKE=1 picks tiny ones for CI):
 *   BENCH_IDLE_SIZES     library sizes for the idle check            [10000,100000,1000000]
 *   BENCH_IDLE_RUNS      idle checks per size and server              [50]
 *   BENCH_FILES          files for the initial upload/download        [1000]
 *   BENCH_FILES_MB       their total size, MB (sizes 1 KB–1 MB)       [20]
 *                        (the issue's 10,000 files / ~200 MB: BENCH_FILES=10000 BENCH_FILES_MB=200. The
 *                        default is scaled down 10× because rclone 1.60 needs ~7 min per 10,000-file
 *                        upload to WebDAV — its pacer spaces API calls ≥ 10 ms apart, 3 calls per file.)
 *   BENCH_REPEAT         repetitions of the upload/download/planning  [3]
 *   BENCH_CONCURRENCY    syncd sync.concurrency = rclone --transfers  [4, syncd's default]
 *   BENCH_CHANGE_ENTRIES library size for one change / planning       [100000]
 *   BENCH_CHANGE_RUNS    repetitions of each one-change sync          [5]
 *   BENCH_BIG_MB         the big file, MB                             [1024]
 *   BENCH_BIG_RUNS       repetitions of the big file up and down      [2]
 *   BENCH_CONVERGE_INSTANCES / _OPS / _RUNS / _POLICY                  [10 / 1000 / 3 / newest]
 *   BENCH_SCENARIOS      which scenarios to run, e.g. "1,4"           [1,2,3,4,5,6,7,8]
 *   scenario 8 ("format 2 targets", issue 13) is bench/format2.mjs, run as a child process; its own
 *   variables (BENCH_F2_*, BENCH_DIST for the build under test, BENCH_F2_REF* for the reference) are
 *   documented there, and its table is printed after this one.
 *   BENCH_RCLONE=0       leave rclone out (the comparisons of 2 and 3 are then skipped)
 *   BENCH_RESULTS        where to write the JSON                      [bench/results.json]
 *   BENCH_WORKDIR        parent of the temporary work folder          [os.tmpdir()]
 * The full run requires apache2 (+ apache2-utils) and rclone; the smoke run skips what is missing and says so.
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir, release, platform } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { performance } from "node:perf_hooks";
import { LocalSyncView } from "../dist/sync/local-sync.js";
import { planEntries } from "../dist/sync/plan.js";
import { openLibrary } from "../dist/store/library.js";
import { apacheAvailable, startApache } from "./lib/apache.mjs";
import { buildSyncedLibrary, makeMixedTree, treeSize } from "./lib/dataset.mjs";
import { seededRandom } from "./lib/prng.mjs";
import { cloneDataDir, openInstance } from "./lib/instance.mjs";
import { rcloneCopy, rcloneEnv, rcloneVersion } from "./lib/rclone.mjs";
import { fmtBytes, fmtValue, round, stats, table } from "./lib/stats.mjs";
import { startCountingEmbeddedShare } from "./lib/embedded.mjs";
import { summarise, TrafficLog } from "./lib/traffic.mjs";

const SMOKE = process.env.BENCH_SMOKE === "1";
const num = (name, full, smoke) => {
  const v = process.env[name];
  if (v === undefined || v === "") return SMOKE ? smoke : full;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got ${JSON.stringify(v)})`);
  return n;
};
const list = (name, full, smoke) => {
  const v = process.env[name];
  if (v === undefined || v === "") return SMOKE ? smoke : full;
  return v.split(",").map((s) => s.trim()).filter(Boolean);
};
const CFG = {
  smoke: SMOKE,
  idleSizes: list("BENCH_IDLE_SIZES", ["10000", "100000", "1000000"], ["1000", "5000"]).map(Number),
  idleRuns: num("BENCH_IDLE_RUNS", 50, 5),
  files: num("BENCH_FILES", 1000, 100),
  filesMB: num("BENCH_FILES_MB", 20, 2),
  repeat: num("BENCH_REPEAT", 3, 1),
  concurrency: num("BENCH_CONCURRENCY", 4, 4),
  changeEntries: num("BENCH_CHANGE_ENTRIES", 100_000, 2000),
  changeRuns: num("BENCH_CHANGE_RUNS", 5, 1),
  bigMB: num("BENCH_BIG_MB", 1024, 4),
  bigRuns: num("BENCH_BIG_RUNS", 2, 1),
  convergeInstances: num("BENCH_CONVERGE_INSTANCES", 10, 3),
  convergeOps: num("BENCH_CONVERGE_OPS", 1000, 40),
  convergeRuns: num("BENCH_CONVERGE_RUNS", 3, 1),
  convergePolicy: process.env.BENCH_CONVERGE_POLICY || "newest",
  scenarios: new Set(list("BENCH_SCENARIOS", ["1", "2", "3", "4", "5", "6", "7", "8"], ["1", "2", "3", "4", "5", "6", "7", "8"])),
};
const OUT = process.env.BENCH_RESULTS || fileURLToPath(new URL("./results.json", import.meta.url));
const CHILD = fileURLToPath(new URL("./child.mjs", import.meta.url));
const FORMAT2 = fileURLToPath(new URL("./format2.mjs", import.meta.url));
/** Node flags of the installed command (bin/syncd.js's shebang line): children measure what users run. */
const NODE_FLAGS = (readFileSync(new URL("../bin/syncd.js", import.meta.url), "utf8").split("\n")[0].match(/\bnode\b(.*)$/)?.[1] ?? "")
  .split(/\s+/)
  .filter(Boolean);
const MB = 1024 * 1024;

const run = (n) => CFG.scenarios.has(String(n));
const results = []; // table rows
const targets = []; // target checks
const notes = []; // skipped parts and other remarks
const retried = []; // requests the Remote's retry layer repeated (transient failures), from every instance
let format2 = null; // scenario 8: {doc, table}
const log = (msg) => process.stderr.write(`${msg}\n`);
const note = (msg) => {
  notes.push(msg);
  log(`note: ${msg}`);
};

function row(r) {
  results.push({ loadavg: round(loadavg()[0]), ...r });
  const s = r.median !== undefined ? `${fmtValue(r.median, r.unit)} (min ${fmtValue(r.min, r.unit)}, max ${fmtValue(r.max, r.unit)}, ${r.runs} runs)` : "";
  log(`  [${r.id}] ${r.scenario}${r.server ? ` @${r.server}` : ""}: ${s}${r.notes ? ` — ${r.notes}` : ""}`);
}

function target(t) {
  targets.push(t);
  log(`  target [${t.id}] ${t.target}: ${t.measured} → ${t.met === null ? "n/a" : t.met ? "met" : "MISSED"}`);
}

function child(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...NODE_FLAGS, CHILD, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`bench child (${args.mode}) exited with ${code}: ${err.slice(-3000)}`));
      try {
        const parsed = JSON.parse(out.trim().split("\n").at(-1));
        retried.push(...(parsed.retries ?? []));
        resolve(parsed);
      } catch (e) {
        reject(new Error(`bench child (${args.mode}) printed no JSON: ${out.slice(-500)} ${err.slice(-1000)}`));
      }
    });
  });
}

/** What a child needs to reach a server (and read its traffic log). */
const serverRef = (s) => ({ url: s.url, username: s.username, password: s.password, log: s.log, prefix: s.prefix });

/** A folder inside a server's share directory, owned by the server's user. */
function shareFolder(server, root) {
  const dir = join(server.dir, root);
  mkdirSync(dir, { recursive: true });
  if (server.owner) chownSync(dir, server.owner.uid, server.owner.gid);
  return dir;
}

function copyShareFiles(fromDir, server, root) {
  const dir = shareFolder(server, root);
  for (const f of ["metadata.db", "version.txt"]) {
    copyFileSync(join(fromDir, f), join(dir, f));
    if (server.owner) chownSync(join(dir, f), server.owner.uid, server.owner.gid);
  }
}

const kb = (n) => `${Math.round(n / 1000)}K`;
const label = (n) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? kb(n) : String(n));

// ---------------------------------------------------------------------------------------------------------

const started = performance.now();
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  nodeFlags: NODE_FLAGS,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGB: round(totalmem() / 1024 ** 3, 1),
  os: `${platform()} ${release()}`,
  loadavgAtStart: loadavg().map((x) => round(x)),
  rclone: process.env.BENCH_RCLONE === "0" ? null : rcloneVersion(),
  apache: apacheAvailable() ? execFileSync("/usr/sbin/apache2", ["-v"], { encoding: "utf8" }).split("\n")[0].replace("Server version: ", "") : null,
};
log(`syncd bench${SMOKE ? " (smoke sizes)" : ""}: ${machine.cores} × ${machine.cpu}, node ${machine.node}, load ${machine.loadavgAtStart.join(" ")}`);
if (!SMOKE) {
  const missing = [
    !machine.apache && "apache2 + apache2-utils (apt-get install apache2 apache2-utils)",
    !machine.rclone && process.env.BENCH_RCLONE !== "0" && "rclone (apt-get install rclone)",
  ].filter(Boolean);
  if (missing.length > 0) {
    log(`The full benchmark needs ${missing.join(" and ")}; BENCH_SMOKE=1 runs without them.`);
    process.exit(1);
  }
}
const work = mkdtempSync(join(process.env.BENCH_WORKDIR || tmpdir(), "syncd-bench-"));
log(`work folder ${work}`);
if (!machine.apache) note("apache2 is not installed: the Apache scenarios (2, 3, 4, 6 and Apache's idle check) are skipped.");
if (!machine.rclone) note(`rclone ${process.env.BENCH_RCLONE === "0" ? "was left out (BENCH_RCLONE=0)" : "is not installed"}: the rclone comparisons of scenarios 2 and 3 are skipped.`);

const servers = [];
let apache = null;
let embedded = null;
let exitCode = 0;
try {
  embedded = await startCountingEmbeddedShare({ dir: join(work, "embedded-share"), log: join(work, "embedded.log") });
  servers.push(embedded);
  if (machine.apache) {
    apache = await startApache({ parent: work, username: "bench", password: "bench-secret" });
    servers.push(apache);
  }

  // 1 + the 100K library that scenarios 4 and 5 reuse ---------------------------------------------------
  const sizes = [...new Set([...(run(1) ? CFG.idleSizes : []), ...(run(4) || run(5) ? [CFG.changeEntries] : [])])].sort((a, b) => a - b);
  const libraries = new Map(); // size → {dataDir, shareDir}
  for (const size of sizes) {
    log(`building a synced library of ${size} entries…`);
    const dataDir = join(work, `lib-${size}`, "data");
    const shareDir = join(work, `lib-${size}`, "share");
    const built = await buildSyncedLibrary({ dataDir, instanceName: "bench", entries: size, shareDir });
    log(`  built in ${(built.buildMs / 1000).toFixed(1)} s (metadata.db ${fmtBytes(built.metadataBytes)})`);
    libraries.set(size, { dataDir, shareDir, metadataBytes: built.metadataBytes, buildMs: built.buildMs });
    if (run(1) && CFG.idleSizes.includes(size)) await idleCheck(size, libraries.get(size));
    if (size !== CFG.changeEntries) rmSync(join(work, `lib-${size}`), { recursive: true, force: true });
  }
  if (run(1)) idleTargets();

  // 2 + 3 ------------------------------------------------------------------------------------------------
  if ((run(2) || run(3)) && apache) await transfers();
  // 4 + 6 (memory during 4) ------------------------------------------------------------------------------
  if (run(4)) await oneChange(libraries.get(CFG.changeEntries));
  // 5 ----------------------------------------------------------------------------------------------------
  if (run(5)) await planning(libraries.get(CFG.changeEntries));
  // 6: big file -------------------------------------------------------------------------------------------
  if (run(6) && apache) await bigFile();
  // 7 ----------------------------------------------------------------------------------------------------
  if (run(7)) await convergence();
  // 8 ----------------------------------------------------------------------------------------------------
  if (run(8)) await format2Targets();
} catch (err) {
  exitCode = 1;
  log(`bench failed: ${err.stack ?? err}`);
} finally {
  for (const s of servers) await s.close().catch(() => {});
  if (process.env.BENCH_KEEP !== "1") rmSync(work, { recursive: true, force: true });
}

if (retried.length > 0) note(`${retried.length} request(s) failed transiently and were retried by the Remote's retry layer (remote/retry.ts), included in the times: ${[...new Set(retried)].slice(0, 5).join("; ")}`);
machine.loadavgAtEnd = loadavg().map((x) => round(x));
machine.totalMinutes = round((performance.now() - started) / 60000);
const doc = { machine, config: { ...CFG, scenarios: [...CFG.scenarios] }, ok: exitCode === 0, notes, targets, results, ...(format2 ? { format2: format2.doc } : {}) };
writeFileSync(OUT, JSON.stringify(doc, null, 2) + "\n");
printTables();
log(`\nwrote ${OUT} (${machine.totalMinutes} min)`);
process.exit(exitCode);

// ---------------------------------------------------------------------------------------------------------
// Scenario 1: idle check.

async function idleCheck(size, lib) {
  const root = `idle-${size}`;
  for (const server of servers) {
    copyShareFiles(lib.shareDir, server, root);
    const inst = await openInstance({ dataDir: lib.dataDir, name: "bench", server, root });
    try {
      for (let i = 0; i < 3; i++) {
        // warm-up: the first run opens the keep-alive connection
        const { summary } = await inst.sync();
        if (!summary.skipped) throw new Error(`idle check on ${size} entries did not skip: ${JSON.stringify(summary)}`);
      }
      const traffic = new TrafficLog(server.log, server.prefix);
      await sleep(50);
      traffic.mark();
      const times = [];
      for (let i = 0; i < CFG.idleRuns; i++) {
        const { ms, summary } = await inst.sync();
        if (!summary.skipped) throw new Error("idle check did not skip");
        times.push(ms);
      }
      await sleep(100);
      const t = summarise(traffic.since(), server.prefix, root);
      row({
        id: "1",
        scenario: `idle check, ${label(size)} entries`,
        server: server.kind,
        unit: "ms",
        ...stats(times),
        requestsPerRun: round(t.requests / CFG.idleRuns, 3),
        methods: t.methods,
        notes: `${round(t.requests / CFG.idleRuns, 3)} request/run (${Object.entries(t.methods).map(([m, n]) => `${m} ${n}`).join(", ")})`,
        size,
      });
    } finally {
      retried.push(...inst.retries);
      await inst.close();
    }
  }
}

function idleTargets() {
  for (const server of servers) {
    const rows = results.filter((r) => r.id === "1" && r.server === server.kind);
    if (rows.length === 0) continue;
    const oneRequest = rows.every((r) => r.requestsPerRun === 1);
    target({
      id: "1",
      server: server.kind,
      target: "idle check: exactly 1 HTTP request",
      measured: rows.map((r) => `${label(r.size)}: ${r.requestsPerRun}`).join(", "),
      met: oneRequest,
    });
    const worst = Math.max(...rows.map((r) => r.median));
    target({
      id: "1",
      server: server.kind,
      target: "idle check: median ≤ 2 ms",
      measured: rows.map((r) => `${label(r.size)}: ${fmtValue(r.median, "ms")}`).join(", "),
      met: worst <= 2,
    });
    const small = rows.find((r) => r.size === 10_000);
    const big = rows.find((r) => r.size === 1_000_000);
    const [lo, hi] = small && big ? [small, big] : [rows[0], rows.at(-1)];
    const ratio = round(hi.median / lo.median);
    target({
      id: "1",
      server: server.kind,
      target: "idle check: time at 1M ÷ time at 10K ≤ 1.5",
      measured: `${label(hi.size)} ÷ ${label(lo.size)} = ${ratio}`,
      met: small && big ? ratio <= 1.5 : null,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios 2 and 3: initial upload and download of many mixed files, syncd vs rclone copy, on Apache.

async function transfers() {
  const tree = join(work, "tree");
  log(`writing ${CFG.files} files (~${CFG.filesMB} MB) …`);
  makeMixedTree(tree, CFG.files, CFG.filesMB * MB);
  const size = treeSize(tree);
  log(`  ${size.files} files, ${fmtBytes(size.bytes)}`);
  const what = `${size.files} files, ${fmtBytes(size.bytes)}`;

  // The library the uploads start from: the folder imported (timed, for the record), then cloned per run.
  const template = join(work, "upload-template");
  const lib = await openLibrary(template, { instanceName: "uploader" });
  const t0 = performance.now();
  await lib.importDir(tree);
  const importMs = performance.now() - t0;
  lib.close();
  row({ id: "2", scenario: `import of the ${what} into a library (not compared)`, server: "local", unit: "ms", ...stats([importMs]) });

  const rc = machine.rclone ? rcloneEnv(apache, work) : null;
  const traffic = new TrafficLog(apache.log, apache.prefix);
  const C = CFG.concurrency;
  const up = { syncd: [], rclone: [], requests: {}, rss: [], phases: [] };
  const down = { syncd: [], rclone: [], requests: {}, rss: [], phases: [] };
  let rcloneCommand = null;

  const syncdUpload = async (r) => {
    const dataDir = join(work, `up-syncd-${r}`);
    cloneDataDir(template, dataDir);
    shareFolder(apache, `up-syncd-${r}`);
    traffic.mark();
    const res = await child({ mode: "sync", dataDir, server: serverRef(apache), root: `up-syncd-${r}`, settings: { concurrency: C } });
    await sleep(100);
    if (res.summary.uploaded !== size.files) throw new Error(`syncd uploaded ${res.summary.uploaded} of ${size.files}`);
    up.syncd.push(res.ms);
    up.rss.push(res.maxRssMB);
    up.phases.push(res.phases);
    up.requests.syncd = summarise(traffic.since(), apache.prefix, `up-syncd-${r}`).requests;
    rmSync(dataDir, { recursive: true, force: true });
  };
  const rcloneUpload = async (r) => {
    traffic.mark();
    const res = await rcloneCopy(rc, tree, `bench:up-rclone-${r}`, C);
    await sleep(100);
    rcloneCommand = res.args;
    up.rclone.push(res.ms);
    up.requests.rclone = summarise(traffic.since(), apache.prefix, `up-rclone-${r}`).requests;
  };
  if (run(2) || run(3)) {
    for (let r = 0; r < (run(2) ? CFG.repeat : 1); r++) {
      // Alternate who goes first, so that a drift in the machine's load does not favour one side.
      const order = r % 2 === 0 ? [syncdUpload, rcloneUpload] : [rcloneUpload, syncdUpload];
      for (const step of order) if (step !== rcloneUpload || rc) await step(r);
      log(`  upload ${r + 1}: syncd ${fmtValue(up.syncd.at(-1), "ms")}${rc ? `, rclone ${fmtValue(up.rclone.at(-1), "ms")}` : ""}`);
      // Keep the first run's shares for the downloads; drop the others.
      if (r > 0) {
        rmSync(join(apache.dir, `up-syncd-${r}`), { recursive: true, force: true });
        rmSync(join(apache.dir, `up-rclone-${r}`), { recursive: true, force: true });
      }
    }
  }
  if (run(2)) compare("2", `initial upload, ${what}`, up, rcloneCommand, "≤ 1.0");

  if (run(3)) {
    const syncdDownload = async (r) => {
      const dataDir = join(work, `down-syncd-${r}`);
      traffic.mark();
      const res = await child({ mode: "sync", dataDir, server: serverRef(apache), root: "up-syncd-0", name: `down-${r}`, settings: { concurrency: C } });
      await sleep(100);
      if (res.summary.downloaded !== size.files) throw new Error(`syncd downloaded ${res.summary.downloaded} of ${size.files}`);
      down.syncd.push(res.ms);
      down.rss.push(res.maxRssMB);
      down.phases.push(res.phases);
      down.requests.syncd = summarise(traffic.since(), apache.prefix, "up-syncd-0").requests;
      rmSync(dataDir, { recursive: true, force: true });
    };
    const rcloneDownload = async (r) => {
      const dest = join(work, `down-rclone-${r}`);
      traffic.mark();
      const res = await rcloneCopy(rc, "bench:up-rclone-0", dest, C);
      await sleep(100);
      rcloneCommand = res.args;
      const got = treeSize(dest);
      if (got.files !== size.files || got.bytes !== size.bytes) throw new Error(`rclone downloaded ${got.files} files, ${got.bytes} bytes`);
      down.rclone.push(res.ms);
      down.requests.rclone = summarise(traffic.since(), apache.prefix, "up-rclone-0").requests;
      rmSync(dest, { recursive: true, force: true });
    };
    for (let r = 0; r < CFG.repeat; r++) {
      const order = r % 2 === 0 ? [syncdDownload, rcloneDownload] : [rcloneDownload, syncdDownload];
      for (const step of order) if (step !== rcloneDownload || rc) await step(r);
      log(`  download ${r + 1}: syncd ${fmtValue(down.syncd.at(-1), "ms")}${rc ? `, rclone ${fmtValue(down.rclone.at(-1), "ms")}` : ""}`);
    }
    compare("3", `initial download to a fresh instance, ${what}`, down, rcloneCommand, "≤ 1.0");
  }
  rmSync(join(apache.dir, "up-syncd-0"), { recursive: true, force: true });
  rmSync(join(apache.dir, "up-rclone-0"), { recursive: true, force: true });
  rmSync(template, { recursive: true, force: true });
  rmSync(tree, { recursive: true, force: true });
}

function compare(id, scenario, m, rcloneCommand, goal) {
  const s = stats(m.syncd);
  const medianPhases = {};
  for (const p of Object.keys(m.phases[0] ?? {})) medianPhases[p] = stats(m.phases.map((x) => x[p] ?? 0)).median;
  row({
    id,
    scenario: `${scenario}: syncd (concurrency ${CFG.concurrency})`,
    server: "apache",
    unit: "ms",
    ...s,
    requests: m.requests.syncd,
    peakRssMB: stats(m.rss).max,
    phases: medianPhases,
    notes: `${m.requests.syncd} requests; peak RSS ${round(stats(m.rss).max, 1)} MB`,
  });
  if (m.rclone.length === 0) {
    note(`scenario ${id}: no rclone, so the comparison with rclone copy was skipped`);
    target({ id, target: `${scenario}: syncd ÷ rclone copy ${goal}`, measured: "rclone not run", met: null });
    return;
  }
  const r = stats(m.rclone);
  row({ id, scenario: `${scenario}: ${rcloneCommand}`, server: "apache", unit: "ms", ...r, requests: m.requests.rclone, notes: `${m.requests.rclone} requests` });
  const pairs = m.syncd.map((x, i) => x / m.rclone[i]);
  const ratio = { ...stats(pairs), median: round(s.median / r.median) };
  row({ id, scenario: `${scenario}: syncd ÷ rclone`, server: "apache", unit: "x", ...ratio, notes: "median ÷ median; min/max over paired runs" });
  target({ id, target: `${scenario}: syncd ÷ rclone copy ${goal}`, measured: `${ratio.median} (${fmtValue(s.median, "ms")} vs ${fmtValue(r.median, "ms")})`, met: ratio.median <= 1.0 });
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 4 (+ 6a): one entry changed among N, content then metadata-only, in a child process per server.

async function oneChange(lib) {
  const N = CFG.changeEntries;
  for (const server of servers) {
    const root = `change-${N}`;
    const dataDir = join(work, `change-${server.kind}`);
    cloneDataDir(lib.dataDir, dataDir);
    copyShareFiles(lib.shareDir, server, root);
    const res = await child({ mode: "change", dataDir, server: serverRef(server), root, runs: CFG.changeRuns, probed: true });
    for (const kind of ["content", "meta"]) {
      const runs = res[kind];
      const s = stats(runs.map((r) => r.ms));
      const last = runs.at(-1);
      const b = last.traffic.bytes;
      const medianPhases = {};
      for (const p of Object.keys(last.phases)) medianPhases[p] = stats(runs.map((r) => r.phases[p] ?? 0)).median;
      row({
        id: "4",
        scenario: `one ${kind === "content" ? "content" : "metadata-only"} change among ${label(N)} entries: full sync`,
        server: server.kind,
        unit: "ms",
        ...s,
        requests: last.traffic.requests,
        methods: last.traffic.methods,
        bytes: b,
        phases: medianPhases,
        notes:
          `metadata ↑${fmtBytes(b.metadata.up)} ↓${fmtBytes(b.metadata.down)}; data ↑${fmtBytes(b.data.up)} ↓${fmtBytes(b.data.down)}; ` +
          `lock ↑${fmtBytes(b.lock.up)} ↓${fmtBytes(b.lock.down)}; ${last.traffic.requests} requests`,
      });
      target({ id: "4", server: server.kind, target: `one ${kind === "content" ? "content" : "metadata-only"} change among ${label(N)}: full sync ≤ 1.5 s`, measured: fmtValue(s.median, "ms"), met: N >= 100_000 ? s.median <= 1500 : null });
    }
    row({
      id: "6",
      scenario: `peak RSS of the process during scenario 4 (${label(N)} entries)`,
      server: server.kind,
      unit: "MB",
      median: round(res.maxRssMB, 1),
      runs: 1,
      notes: `${res.source} of the child process that ran scenario 4`,
      ...(res.memtrace ? { memtrace: res.memtrace } : {}),
    });
    target({ id: "6", server: server.kind, target: "peak RSS during scenario 4 ≤ 150 MB", measured: `${round(res.maxRssMB, 1)} MB`, met: res.maxRssMB <= 150 });
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(join(server.dir, root), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 5: planning N entries.

async function planning(lib) {
  const N = CFG.changeEntries;
  // (a) The plan phase of a real run: a forced full reconciliation, every entry read from both sides and
  // diffed (engine: collectInputs + planEntries), timed from the engine's progress events.
  const server = apache ?? embedded;
  const root = `plan-${N}`;
  const dataDir = join(work, "plan");
  cloneDataDir(lib.dataDir, dataDir);
  copyShareFiles(lib.shareDir, server, root);
  const res = await child({ mode: "full", dataDir, server: serverRef(server), root, runs: CFG.repeat, probed: true });
  const plan = stats(res.runs.map((r) => r.phases.plan));
  row({
    id: "5",
    scenario: `plan phase of a full reconciliation, ${label(N)} entries (read both sides + three-way diff)`,
    server: server.kind,
    unit: "ms",
    ...plan,
    notes: "engine: collectInputs + planEntries",
  });
  const forcedPhases = {};
  for (const p of Object.keys(res.runs[0].phases)) forcedPhases[p] = stats(res.runs.map((r) => r.phases[p] ?? 0)).median;
  row({ id: "5", scenario: `whole forced sync (nothing to do), ${label(N)} entries`, server: server.kind, unit: "ms", ...stats(res.runs.map((r) => r.ms)), phases: forcedPhases, notes: `peak RSS ${round(res.maxRssMB, 1)} MB` });
  rmSync(join(server.dir, root), { recursive: true, force: true });

  // (b) The three-way diff alone (plan.ts), on the same rows: nothing changed, and every entry changed here.
  const library = await openLibrary(dataDir, { instanceName: "bench" });
  const rows = new LocalSyncView(library.db).all();
  const ctx = { policy: "manual", instanceId: library.instanceId, instanceName: "bench", stamp: () => library.clock.tick(), newId: () => "x", now: Date.now(), nameOf: (id) => id };
  const unchanged = rows.map((r) => ({ id: r.id, local: r.state, base: r.base, remote: r.base, pending: false }));
  const changed = rows.map((r) => ({ id: r.id, local: { ...r.state, meta: { ...r.state.meta, read: true }, version: 2 }, base: r.base, remote: r.base, pending: true }));
  for (const [what, inputs] of [["nothing changed", unchanged], ["every entry changed here", changed]]) {
    const times = [];
    planEntries(inputs, ctx); // warm-up
    for (let i = 0; i < Math.max(CFG.repeat, 5); i++) {
      const t0 = performance.now();
      planEntries(inputs, ctx);
      times.push(performance.now() - t0);
    }
    row({ id: "5", scenario: `three-way diff alone (plan.ts), ${label(N)} entries, ${what}`, server: "local", unit: "ms", ...stats(times) });
  }
  library.close();
  rmSync(dataDir, { recursive: true, force: true });
  target({ id: "5", target: `planning ${label(N)} entries ≤ 300 ms (plan phase of a run)`, measured: fmtValue(plan.median, "ms"), met: N >= 100_000 ? plan.median <= 300 : null });
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 6b: one big file up and down, peak RSS of each process.

async function bigFile() {
  const file = join(work, "big.bin");
  const bytes = CFG.bigMB * MB;
  log(`writing a ${CFG.bigMB} MB file…`);
  const fd = openSync(file, "w");
  const chunk = 4 * MB;
  for (let off = 0; off < bytes; off += chunk) writeSync(fd, randomBytes(Math.min(chunk, bytes - off)));
  closeSync(fd);
  const m = { add: [], up: [], down: [], addRss: [], upRss: [], downRss: [] };
  for (let r = 0; r < CFG.bigRuns; r++) {
    const src = join(work, `big-src-${r}`);
    const dst = join(work, `big-dst-${r}`);
    const root = `big-${r}`;
    shareFolder(apache, root);
    const added = await child({ mode: "add", dataDir: src, server: serverRef(apache), root, file, entryName: "big.bin" });
    const up = await child({ mode: "sync", dataDir: src, server: serverRef(apache), root });
    const down = await child({ mode: "sync", dataDir: dst, server: serverRef(apache), root, name: "receiver" });
    if (up.summary.bytesUp !== bytes || down.summary.bytesDown !== bytes) throw new Error(`big file: sent ${up.summary.bytesUp}, received ${down.summary.bytesDown} of ${bytes}`);
    m.add.push(added.ms);
    m.up.push(up.ms);
    m.down.push(down.ms);
    m.addRss.push(added.maxRssMB);
    m.upRss.push(up.maxRssMB);
    m.downRss.push(down.maxRssMB);
    rmSync(src, { recursive: true, force: true });
    rmSync(dst, { recursive: true, force: true });
    rmSync(join(apache.dir, root), { recursive: true, force: true });
  }
  rmSync(file, { force: true });
  const what = `${CFG.bigMB >= 1024 ? `${round(CFG.bigMB / 1024, 2)} GB` : `${CFG.bigMB} MB`} file`;
  for (const [key, rss, verb] of [["add", "addRss", "add to the library (hash + copy)"], ["up", "upRss", "upload (sync)"], ["down", "downRss", "download to a fresh instance (sync)"]]) {
    const s = stats(m[key]);
    const peak = round(Math.max(...m[rss]), 1);
    row({ id: "6", scenario: `${what}: ${verb}`, server: key === "add" ? "local" : "apache", unit: "ms", ...s, peakRssMB: peak, notes: `peak RSS ${peak} MB; ${round(bytes / MB / (s.median / 1000), 1)} MB/s` });
    if (key !== "add") target({ id: "6", target: `${what} ${key === "up" ? "upload" : "download"}: peak RSS < 100 MB`, measured: `${peak} MB`, met: peak < 100 });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 7: convergence of K instances after random operations spread over them.

async function convergence() {
  const K = CFG.convergeInstances;
  const OPS = CFG.convergeOps;
  const server = embedded;
  const perRound = [[], []];
  const roundsNeeded = [];
  const seedEntries = Math.max(10, Math.round(OPS / 10));
  for (let rep = 0; rep < CFG.convergeRuns; rep++) {
    const root = `converge-${rep}`;
    const rand = seededRandom(1000 + rep);
    const pick = (arr) => arr[Math.floor(rand() * arr.length)];
    const insts = [];
    for (let k = 0; k < K; k++) {
      insts.push(await openInstance({ dataDir: join(work, root, `i${k}`), name: `i${k}`, server, root, settings: { conflictPolicy: CFG.convergePolicy } }));
    }
    try {
      // Seed: one instance adds some entries, everyone syncs (not timed), so that operations hit shared entries.
      for (let i = 0; i < seedEntries; i++) await insts[0].library.add({ source: Buffer.from(`seed ${rep} ${i}\n`), name: `seed/${i}.txt` });
      for (const inst of insts) await inst.sync();
      // Random operations, each on a random instance and a random live entry that instance has.
      const kinds = { add: 0, meta: 0, content: 0, rename: 0, remove: 0 };
      for (let op = 0; op < OPS; op++) {
        const inst = pick(insts);
        const x = rand();
        const live = () => inst.library.db.prepare("SELECT id FROM entries WHERE deleted = 0 ORDER BY id").pluck().all();
        if (x < 0.3) {
          await inst.library.add({ source: Buffer.from(`op ${rep} ${op} ${rand()}\n`), name: `ops/${op}.txt`, meta: { op } });
          kinds.add++;
          continue;
        }
        const ids = live();
        if (ids.length === 0) continue;
        const id = pick(ids);
        if (x < 0.65) {
          inst.library.updateMeta(id, { set: { [`k${Math.floor(rand() * 5)}`]: Math.floor(rand() * 1000) } });
          kinds.meta++;
        } else if (x < 0.8) {
          await inst.library.updateContent(id, Buffer.from(`content ${rep} ${op} ${rand()}\n`));
          kinds.content++;
        } else if (x < 0.9) {
          inst.library.rename(id, `renamed/${op}.txt`);
          kinds.rename++;
        } else {
          inst.library.remove(id);
          kinds.remove++;
        }
      }
      // Rounds: every instance syncs once, in turn, until all libraries are identical.
      let rounds = 0;
      for (; rounds < 5; ) {
        rounds++;
        let roundMs = 0;
        for (const inst of insts) roundMs += (await inst.sync()).ms;
        if (rounds <= 2) perRound[rounds - 1].push(roundMs);
        log(`  convergence ${rep + 1}: round ${rounds} ${fmtValue(roundMs, "ms")}`);
        if (allEqual(insts)) break;
      }
      roundsNeeded.push(allEqual(insts) ? rounds : Infinity);
      if (rep === 0) note(`scenario 7 operations (run 1): ${Object.entries(kinds).map(([k, n]) => `${k} ${n}`).join(", ")} on ${seedEntries} seeded entries; conflict policy ${CFG.convergePolicy}`);
    } finally {
      for (const inst of insts) {
        retried.push(...inst.retries);
        await inst.close();
      }
      rmSync(join(work, root), { recursive: true, force: true });
      rmSync(join(server.dir, root), { recursive: true, force: true });
    }
  }
  for (const [i, times] of perRound.entries()) {
    if (times.length === 0) continue;
    row({ id: "7", scenario: `convergence, ${K} instances, ${OPS} random operations: round ${i + 1} (${K} syncs)`, server: server.kind, unit: "ms", ...stats(times), notes: `${fmtValue(stats(times).median / K, "ms")} per sync` });
  }
  const worst = Math.max(...roundsNeeded);
  row({ id: "7", scenario: `convergence: rounds until all ${K} libraries are equal`, server: server.kind, unit: "", ...stats(roundsNeeded), notes: `per run: ${roundsNeeded.join(", ")}` });
  target({ id: "7", target: `${K} instances, ${OPS} operations: all equal after ≤ 2 rounds`, measured: `${worst === Infinity ? "not converged after 5" : worst} rounds`, met: worst <= 2 });
}

/** The libraries are equal: the same rows (state and bookkeeping) everywhere, nothing pending or held. */
function allEqual(insts) {
  const snapshot = (inst) => {
    const rows = inst.library.db.prepare("SELECT id, name, hash, size, meta, version, deleted, hlc, origin, sync_status FROM entries ORDER BY id").all();
    return JSON.stringify(rows);
  };
  const first = snapshot(insts[0]);
  return !first.includes('"pending"') && !first.includes('"conflict"') && insts.every((inst) => snapshot(inst) === first);
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 8: the targets of issue 13 (share format 2), bench/format2.mjs in a process of its own (it starts
// its own Apache and loads the build under test, BENCH_DIST or dist/, in processes of its own).

async function format2Targets() {
  const out = join(work, "format2.json");
  const res = await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [FORMAT2], { env: { ...process.env, BENCH_F2_RESULTS: out, BENCH_WORKDIR: work }, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.on("error", reject);
    p.on("exit", (code) => resolve({ code, stdout }));
  });
  if (res.code !== 0) throw new Error(`scenario 8 (bench/format2.mjs) exited with ${res.code}`);
  const f2 = JSON.parse(readFileSync(out, "utf8"));
  format2 = { doc: f2, table: res.stdout };
  for (const r of f2.table) {
    if (r.verdict === "info") continue;
    const value = r.this === null ? (r.thisNote ?? "not measured") : `${r.this}${r.unit ? ` ${r.unit}` : ""}`;
    target({ id: "8", target: `${r.label}: ${r.target}`, measured: value, met: r.verdict === "met" ? true : r.verdict.startsWith("missed") || r.verdict === "MISSED" ? false : null });
  }
  for (const n of f2.notes) note(`scenario 8: ${n}`);
}

// ---------------------------------------------------------------------------------------------------------

function printTables() {
  const out = [];
  out.push(`\nsyncd benchmarks — ${machine.date.slice(0, 10)}, ${machine.cores} × ${machine.cpu}, ${machine.memoryGB} GB, node ${machine.node}, ${machine.apache ?? "no Apache"}, ${machine.rclone ?? "no rclone"}`);
  out.push(`load average at start ${machine.loadavgAtStart.join(" ")}, at end ${machine.loadavgAtEnd.join(" ")} (other work on the machine)\n`);
  out.push(
    table(
      ["#", "scenario", "server", "median", "min", "max", "runs", "notes"],
      results.map((r) => [r.id, r.scenario, r.server ?? "", fmtValue(r.median, r.unit), fmtValue(r.min, r.unit), fmtValue(r.max, r.unit), r.runs, r.notes ?? ""]),
    ),
  );
  const phased = results.filter((r) => r.phases);
  if (phased.length) {
    const cols = ["check", "lock", "metadata", "plan", "upload", "download", "publish", "apply"];
    out.push(
      "\nWhere the time of a sync goes (median per phase, from the engine's progress events; a phase runs from its first event to the next phase's, so `check` of a first sync includes the one-time capability probe, and `plan` the deletion guard's counts):\n",
    );
    out.push(table(["#", "sync", "server", ...cols], phased.map((r) => [r.id, r.scenario, r.server, ...cols.map((c) => (r.phases[c] === undefined ? "" : fmtValue(r.phases[c], "ms")))])));
  }
  out.push("");
  out.push(table(["#", "target", "server", "measured", "met"], targets.map((t) => [t.id, t.target, t.server ?? "", t.measured, t.met === null ? "n/a" : t.met ? "yes" : "**no**"])));
  if (notes.length) out.push("\n" + notes.map((n) => `- ${n}`).join("\n"));
  if (format2) out.push(`\n## 8. ${format2.table.trim()}`);
  console.log(out.join("\n"));
}
