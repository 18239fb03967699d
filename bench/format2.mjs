#!/usr/bin/env node
/**
 * Scenario 8 of `npm run bench`: the figures that issue 13 (share format 2: journal segments instead of a
 * whole-metadata.db publish) sets targets for, measured on a build of syncd and printed beside a reference
 * build's (format 1, "today") and the targets.
 *
 *   a  one metadata edit at 100K and 1M entries: bytes on the wire (headers included) and requests, of the
 *      writer's sync and of a reader's sync (another instance picking the edit up)     ≤ 32 KB, ≤ 12 requests
 *   b  one 10 KB content edit at 1M: bytes beyond the 10 KB (writer; reader)           ≤ 48 KB
 *   c  one-edit sync through the shaping proxy (10/50 Mbit/s, 30 ms) at 1M: wall time   ≤ 1.5 s
 *   d  5 instances × 1M, one edit each, all at once, through the proxy (one link per instance): time until
 *      every library is equal                                                            ≤ 30 s
 *   e  one-edit sync in process on loopback at 10K and 1M: time, and 1M ÷ 10K          ≤ 150 ms, ≤ 1.5
 *   f  peak RSS of a first upload and of a first download of 100K (and 1M) small files   ≤ 200 MB / ≤ 250 MB
 *   g  bytes on the wire per uploaded file beyond its PUT (that first upload)            ≤ 300 B
 *   h  orphan collection at 100K entries: bytes per day                                  ≤ 1 MB/day
 *   i  a new instance joining a 1M share: its first sync ÷ a plain GET of metadata.db
 *      through the same path (the shaping proxy)                                         ≤ 1.2×
 *
 * How: Apache mod_dav on 127.0.0.1 (the embedded share when Apache is missing), and between each instance
 * and Apache a proxy of bench/lib/shaping-proxy.mjs, in a process of its own: unshaped to count (raw socket
 * bytes each way, so request lines, headers and bodies, and every request), or shaped to the issue's link.
 * Every instance runs in a process of its own (format2-agent.mjs) on the build under test, through the
 * engine entry points the other scenarios use (lib/instance.mjs), so nothing here depends on the engine's
 * internals or on the share format. Libraries of N entries and their shares are written directly
 * (lib/dataset.mjs), as format-1 shares; the build under test upgrades them as it would a user's share.
 * Before anything is measured every instance has synced once after an edit (a "warm-up"): a format-2 build
 * has then upgraded the share and set up whatever local state it keeps, and every figure is a routine run.
 *
 * Builds: this build = BENCH_DIST or this checkout's dist/. The reference ("format 1" column), optional:
 *   BENCH_F2_REF_DIST=<dist folder>    measured in the same run
 *   BENCH_F2_REF=<commit>              built by bench/build-ref.sh (cached), then measured
 *   BENCH_F2_REF_RESULTS=<json>[,…]    figures of earlier runs (this file's output), not measured again
 * and BENCH_F2_THIS_RESULTS=<json>[,…] the same for this build's column (the table of saved runs, merged).
 *
 * Sizes and choices (defaults in brackets; BENCH_SMOKE=1: tiny ones):
 *   BENCH_F2_FIGURES          which figures                                         [a,b,c,d,e,f,g,h,i]
 *   BENCH_F2_SIZES            library sizes for a, b, e                             [10000,100000,1000000]
 *   BENCH_F2_SHAPED_SIZES     sizes for c                                           [100000,1000000]
 *   BENCH_F2_CONVERGE_SIZES   sizes for d                                           [100000,1000000]
 *   BENCH_F2_CONVERGE_INSTANCES, BENCH_F2_CONVERGE_TIMEOUT_S                         [5, 1200]
 *   BENCH_F2_FILES            file counts for f and g                               [100000]
 *   BENCH_F2_FILE_BYTES       size of each of those files                           [1024]
 *   BENCH_F2_GC_SIZES         sizes for h (+ BENCH_F2_GC_ORPHANS unreferenced files) [100000] (+100)
 *   BENCH_F2_GC_PER_DAY       collections a day (format 1: one, GC_INTERVAL_MS)     [1]
 *   BENCH_F2_JOIN_SIZES       sizes for i                                           [1000000]
 *   BENCH_F2_RUNS             repetitions of the timed loopback edit (e)            [3]
 *   BENCH_F2_LINK             the shaped link, "UP/DOWN/RTT" (Mbit/s, Mbit/s, ms)   [10/50/30]
 *   BENCH_F2_RESULTS          where to write the JSON                               [bench/results-format2.json]
 *   BENCH_F2_SERVER           apache | embedded                                     [apache if installed]
 *   BENCH_WORKDIR, BENCH_KEEP=1                                                      as in run.mjs
 */
import { execFileSync, fork } from "node:child_process";
import { copyFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { apacheAvailable, startApache } from "./lib/apache.mjs";
import { startCountingEmbeddedShare } from "./lib/embedded.mjs";
import { ISSUE_LINK, UNSHAPED, spawnShapingProxy } from "./lib/shaping-proxy.mjs";
import { fmtBytes, fmtValue, round, stats, table } from "./lib/stats.mjs";

const SMOKE = process.env.BENCH_SMOKE === "1";
const HERE = fileURLToPath(new URL(".", import.meta.url));
const AGENT = join(HERE, "format2-agent.mjs");
const KB = 1024;
const MB = 1024 * 1024;
const DAY = 86_400_000;

const env = (name) => (process.env[name] === undefined || process.env[name] === "" ? null : process.env[name]);
const num = (name, full, smoke) => {
  const v = env(name);
  if (v === null) return SMOKE ? smoke : full;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0 (got ${JSON.stringify(v)})`);
  return n;
};
const sizes = (name, full, smoke) => {
  const v = env(name);
  if (v === null) return SMOKE ? smoke : full;
  return v.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
};
const CFG = {
  smoke: SMOKE,
  figures: new Set((env("BENCH_F2_FIGURES") ?? "a,b,c,d,e,f,g,h,i").split(",").map((s) => s.trim())),
  editSizes: sizes("BENCH_F2_SIZES", [10_000, 100_000, 1_000_000], [500]),
  shapedSizes: sizes("BENCH_F2_SHAPED_SIZES", [100_000, 1_000_000], [500]),
  convergeSizes: sizes("BENCH_F2_CONVERGE_SIZES", [100_000, 1_000_000], [500]),
  convergeInstances: num("BENCH_F2_CONVERGE_INSTANCES", 5, 3),
  convergeTimeoutS: num("BENCH_F2_CONVERGE_TIMEOUT_S", 1200, 120),
  fileCounts: sizes("BENCH_F2_FILES", [100_000], [50]),
  fileBytes: num("BENCH_F2_FILE_BYTES", 1024, 1024),
  gcSizes: sizes("BENCH_F2_GC_SIZES", [100_000], [300]),
  gcOrphans: num("BENCH_F2_GC_ORPHANS", 100, 5),
  gcPerDay: num("BENCH_F2_GC_PER_DAY", 1, 1),
  joinSizes: sizes("BENCH_F2_JOIN_SIZES", [1_000_000], [500]),
  runs: num("BENCH_F2_RUNS", 3, 1),
  // The issue's link; the smoke run, which only keeps this code from rotting, waits less on a faster one.
  link: SMOKE && !env("BENCH_F2_LINK") ? { upMbit: 100, downMbit: 500, rttMs: 4 } : parseLink(env("BENCH_F2_LINK")),
};
function parseLink(text) {
  if (!text) return { ...ISSUE_LINK };
  const [upMbit, downMbit, rttMs] = text.split("/").map(Number);
  if (![upMbit, downMbit, rttMs].every((x) => Number.isFinite(x) && x >= 0)) throw new Error(`BENCH_F2_LINK must be UP/DOWN/RTT, e.g. 10/50/30 (got ${text})`);
  return { upMbit, downMbit, rttMs };
}
const OUT = env("BENCH_F2_RESULTS") ?? join(HERE, "results-format2.json");
const NODE_FLAGS = (readFileSync(join(HERE, "../bin/syncd.js"), "utf8").split("\n")[0].match(/\bnode\b(.*)$/)?.[1] ?? "").split(/\s+/).filter(Boolean);
const THIS_DIST = resolve(env("BENCH_DIST") ?? join(HERE, "../dist"));
const has = (f) => CFG.figures.has(f);
const log = (msg) => process.stderr.write(`${msg}\n`);
const label = (n) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}K` : String(n));

/**
 * The issue's targets: for figure `fig` at size `size`, the bound (≤) and the sizes it is set for (the others
 * are measured for the curve, judged "n/a").
 */
const TARGETS = {
  "a.bytes": { max: 32 * KB, at: [100_000, 1_000_000], unit: "B" },
  "a.requests": { max: 12, at: [100_000, 1_000_000], unit: "" },
  "b.beyond": { max: 48 * KB, at: [1_000_000], unit: "B" },
  "c.ms": { max: 1500, at: [1_000_000], unit: "ms" },
  "d.ms": { max: 30_000, at: [1_000_000], unit: "ms" },
  "e.ms": { max: 150, at: [10_000, 1_000_000], unit: "ms" },
  "e.ratio": { max: 1.5, at: ["1M÷10K"], unit: "x" },
  "f.rss": { max: (n) => (n >= 1_000_000 ? 250 : 200), at: [100_000, 1_000_000], unit: "MB" },
  "g.perFile": { max: 300, at: null, unit: "B" },
  "h.perDay": { max: 1 * MB, at: [100_000], unit: "B" },
  "i.ratio": { max: 1.2, at: [1_000_000], unit: "x" },
};

// ---------------------------------------------------------------------------------------------------------
// Processes: agents (one instance each, on one build) and proxies.

function startAgent(dist, name) {
  const child = fork(AGENT, [], {
    env: { ...process.env, BENCH_DIST: dist },
    execArgv: NODE_FLAGS,
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let seq = 0;
  const pending = new Map();
  const retries = [];
  let gone = null;
  child.on("message", (m) => {
    if (m.ready) return;
    if (m.retries?.length) retries.push(...m.retries);
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`agent ${name}: ${m.error}`));
    else p.resolve(m.result);
  });
  child.on("exit", (code, signal) => {
    gone = new Error(`agent ${name} exited (${code ?? signal}): ${stderr}`);
    for (const p of pending.values()) p.reject(gone);
    pending.clear();
  });
  const call = (op, args = {}) =>
    gone
      ? Promise.reject(gone)
      : new Promise((resolve, reject) => {
          const id = ++seq;
          pending.set(id, { resolve, reject });
          child.send({ id, op, args });
        });
  return {
    name,
    call,
    retries,
    kill: () => child.kill("SIGKILL"),
    async close() {
      if (!gone) await call("close").catch(() => {});
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.disconnect();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------


// ---------------------------------------------------------------------------------------------------------

/** Every figure for one build. */
async function measure(dist, which) {
  if (!existsSync(join(dist, "sync/engine.js"))) throw new Error(`${dist} is not a dist folder of syncd (no sync/engine.js); run npm run build`);
  const commit = gitCommitOf(dist);
  log(`\n== ${which} build: ${dist}${commit ? ` (${commit})` : ""}`);
  const out = { dist, commit, figures: [] };
  const fig = (f) => {
    out.figures.push(f);
    const v = f.value === null ? `— (${f.note ?? "not measured"})` : fmt(f.value, f.unit);
    log(`  [${f.id}] ${f.label}: ${v}${f.detail ? ` — ${f.detail}` : ""}`);
  };
  const all = [...new Set([...(has("a") || has("b") || has("e") ? CFG.editSizes : []), ...(has("c") ? CFG.shapedSizes : []), ...(has("i") ? CFG.joinSizes : []), ...(has("d") ? CFG.convergeSizes : [])])].sort((x, y) => x - y);
  for (const n of all) {
    const base = await buildBase(dist, n, `${which}-${n}`);
    try {
      if (((has("a") || has("b") || has("e")) && CFG.editSizes.includes(n)) || (has("c") && CFG.shapedSizes.includes(n)) || (has("i") && CFG.joinSizes.includes(n))) {
        await editGroup(dist, n, base, `${which}-edit-${n}`, fig);
      }
      if (has("d") && CFG.convergeSizes.includes(n)) await convergeGroup(dist, n, base, `${which}-conv-${n}`, fig);
    } finally {
      rmSync(base.dir, { recursive: true, force: true });
    }
  }
  if (has("f") || has("g")) for (const m of CFG.fileCounts) await filesGroup(dist, m, `${which}-files-${m}`, fig);
  if (has("h")) for (const n of CFG.gcSizes) await gcGroup(dist, n, `${which}-gc-${n}`, fig);
  return out;
}

/**
 * The "this" figures of earlier runs (their JSON; several, comma-separated, are merged: e.g. a run at 100K
 * and one at 1M), for a column that is not measured again.
 */
function loadResults(files) {
  const figures = new Map();
  const from = [];
  let commit = null;
  let server = null;
  const sources = [];
  for (const file of files.split(",").map((f) => f.trim()).filter(Boolean)) {
    const doc = JSON.parse(readFileSync(file, "utf8"));
    const b = doc.builds.this ?? doc.builds.reference;
    commit ??= b.commit;
    server ??= doc.server;
    from.push(file);
    sources.push({ file, machine: doc.machine, config: doc.config, notes: doc.notes, ok: doc.ok });
    for (const f of b.figures) figures.set(`${f.key}:${f.who ?? ""}@${f.size}`, f);
  }
  return { commit, server, from: from.join(", "), sources, figures: [...figures.values()] };
}

/** Figures computed from others: the one-edit time at the largest size ÷ at the smallest (e). */
function derive(figures) {
  for (let i = figures.length - 1; i >= 0; i--) if (figures[i].key === "e.ratio") figures.splice(i, 1);
  const e = figures.filter((f) => f.key === "e.ms" && typeof f.size === "number" && f.value !== null);
  if (e.length < 2) return;
  const lo = e.reduce((a, b) => (b.size < a.size ? b : a));
  const hi = e.reduce((a, b) => (b.size > a.size ? b : a));
  if (lo.size === hi.size) return;
  figures.push({ id: "e", key: "e.ratio", size: `${label(hi.size)}÷${label(lo.size)}`, label: `one-edit sync on loopback: ${label(hi.size)} ÷ ${label(lo.size)}`, unit: "x", value: round(hi.value / lo.value) });
}

function gitCommitOf(dist) {
  // A build of bench/build-ref.sh names its commit in .built.
  const built = join(dist, "..", ".built");
  if (existsSync(built)) return readFileSync(built, "utf8").trim().slice(0, 7) || null;
  try {
    return execFileSync("git", ["-C", resolve(dist, ".."), "rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/** A pristine synced library of n entries and its format-1 share files, built once per size and build. */
async function buildBase(dist, n, tag) {
  const dir = join(work, `base-${tag}`);
  const a = startAgent(dist, `build-${tag}`);
  try {
    log(`building a synced library and share of ${label(n)} entries…`);
    const built = await a.call("build", { dataDir: join(dir, "lib"), name: "w0", entries: n, shareDir: join(dir, "share") });
    log(`  built in ${(built.buildMs / 1000).toFixed(1)} s (metadata.db ${fmtBytes(built.metadataBytes)})`);
    return { dir, lib: join(dir, "lib"), share: join(dir, "share"), metadataBytes: built.metadataBytes };
  } finally {
    await a.close();
  }
}

/** The share files of `base` at `root` on the server, owned by the server's user. */
function placeShare(base, root) {
  const dir = join(server.dir, root);
  mkdirSync(dir, { recursive: true });
  for (const f of ["metadata.db", "version.txt"]) copyFileSync(join(base.share, f), join(dir, f));
  if (server.owner) execFileSync("chown", ["-R", `${server.owner.uid}:${server.owner.gid}`, dir]);
  return dir;
}

const serverAt = (url) => ({ url, username: server.username, password: server.password });
const shareBase = (proxyUrl, root) => `${new URL(proxyUrl).pathname.replace(/\/$/, "")}/${root}`;

async function proxy(shape) {
  const p = await spawnShapingProxy({ target: server.url, ...shape });
  cleanups.push(() => p.close());
  return p;
}

/** Runs `step` between two marks of `p`; returns [step's result, traffic summary]. */
async function counted(p, root, step) {
  const mark = await p.mark();
  const result = await step();
  await new Promise((r) => setTimeout(r, 30));
  return [result, await p.since(mark, shareBase(p.url, root))];
}

const bytesOf = (t) => t.up + t.down;
const methods = (t) => Object.entries(t.methods).map(([m, c]) => `${m} ${c.requests}`).join(", ");
const trafficDetail = (t) => `↑${fmtBytes(t.up)} ↓${fmtBytes(t.down)}, ${t.requests} requests (${methods(t)}), ${t.connections} new connections`;
const brief = (t) => ({ up: t.up, down: t.down, requests: t.requests, connections: t.connections, methods: t.methods, kinds: t.kinds });

// ---------------------------------------------------------------------------------------------------------
// a, b, c, e, i: a writer and a reader at one size.

async function editGroup(dist, n, base, root, fig) {
  placeShare(base, root);
  const counter = await proxy(UNSHAPED);
  const W = startAgent(dist, `writer-${root}`);
  const R = startAgent(dist, `reader-${root}`);
  try {
    await W.call("clone", { from: base.lib, to: join(work, root, "w") });
    await R.call("clone", { from: base.lib, to: join(work, root, "r") });
    await W.call("open", { dataDir: join(work, root, "w"), name: "writer", server: serverAt(counter.url), root });
    await R.call("open", { dataDir: join(work, root, "r"), name: "reader", server: serverAt(counter.url), root });
    log(`${label(n)}: warm-up (an edit synced by the writer, then the reader)…`);
    let index = 0;
    await W.call("edit", { kind: "meta", index: index++ });
    const w0 = await W.call("sync");
    const r0 = await R.call("sync");
    log(`  warm-up: writer ${fmt(w0.ms, "ms")}, reader ${fmt(r0.ms, "ms")}`);

    if (has("a") && CFG.editSizes.includes(n)) {
      await W.call("edit", { kind: "meta", index: index++ });
      const [ws, wt] = await counted(counter, root, () => W.call("sync"));
      const [rs, rt] = await counted(counter, root, () => R.call("sync"));
      if (ws.summary.metadataPushed < 1 || rs.summary.metadataPulled < 1) throw new Error(`(a) the edit did not travel: ${JSON.stringify([ws.summary, rs.summary])}`);
      for (const [who, t, s] of [["writer", wt, ws], ["reader", rt, rs]]) {
        fig({ id: "a", key: "a.bytes", who, size: n, label: `one metadata edit at ${label(n)}: ${who}'s sync, bytes on the wire`, unit: "B", value: bytesOf(t), detail: trafficDetail(t), traffic: brief(t), ms: s.ms });
        fig({ id: "a", key: "a.requests", who, size: n, label: `one metadata edit at ${label(n)}: ${who}'s sync, requests`, unit: "", value: t.requests });
      }
    }
    if (has("b") && CFG.editSizes.includes(n)) {
      const bytes = 10 * KB;
      await W.call("edit", { kind: "content", index: index++, bytes });
      const [ws, wt] = await counted(counter, root, () => W.call("sync"));
      const [rs, rt] = await counted(counter, root, () => R.call("sync"));
      if (ws.summary.uploaded !== 1 || rs.summary.downloaded !== 1) throw new Error(`(b) the content did not travel: ${JSON.stringify([ws.summary, rs.summary])}`);
      for (const [who, t] of [["writer", wt], ["reader", rt]]) {
        fig({ id: "b", key: "b.beyond", who, size: n, label: `one 10 KB content edit at ${label(n)}: ${who}'s sync, bytes beyond the 10 KB`, unit: "B", value: bytesOf(t) - bytes, detail: trafficDetail(t), traffic: brief(t) });
      }
    }
    if (has("e") && CFG.editSizes.includes(n)) {
      // Straight to the server, no proxy: the sync's own time.
      await W.call("reopen", { url: server.url });
      const times = [];
      const phases = [];
      for (let i = 0; i < CFG.runs; i++) {
        await W.call("edit", { kind: "meta", index: index++ });
        const s = await W.call("sync");
        times.push(s.ms);
        phases.push(s.phases);
      }
      const s = stats(times);
      fig({ id: "e", key: "e.ms", size: n, label: `one metadata edit at ${label(n)}: writer's sync on loopback, time (median of ${s.runs})`, unit: "ms", value: s.median, detail: `min ${fmt(s.min, "ms")}, max ${fmt(s.max, "ms")}; phases ${phaseText(phases.at(-1))}`, runs: times });
      await W.call("reopen", { url: counter.url });
      await R.call("sync"); // catch up, unmeasured
    }
    if (has("c") && CFG.shapedSizes.includes(n)) {
      const wl = await proxy(CFG.link);
      const rl = await proxy(CFG.link);
      await W.call("reopen", { url: wl.url });
      await R.call("reopen", { url: rl.url });
      log(`${label(n)}: one edit through the shaped link (${CFG.link.upMbit}/${CFG.link.downMbit} Mbit/s, ${CFG.link.rttMs} ms)…`);
      await W.call("edit", { kind: "meta", index: index++ });
      const [ws, wt] = await counted(wl, root, () => W.call("sync"));
      const [rs, rt] = await counted(rl, root, () => R.call("sync"));
      fig({ id: "c", key: "c.ms", size: n, label: `one metadata edit at ${label(n)} through the shaped link: writer's sync, wall time`, unit: "ms", value: ws.ms, detail: `${trafficDetail(wt)}; phases ${phaseText(ws.phases)}` });
      fig({ id: "c", key: "c.reader", size: n, label: `the same edit at ${label(n)}: reader's sync through its own shaped link, wall time`, unit: "ms", value: rs.ms, detail: `${trafficDetail(rt)}; phases ${phaseText(rs.phases)}` });
      await W.call("reopen", { url: counter.url });
      await R.call("reopen", { url: counter.url });
      await wl.close();
      await rl.close();
    }
    if (has("i") && CFG.joinSizes.includes(n)) await joinFigure(dist, n, root, fig);
  } finally {
    await W.close();
    await R.close();
    rmSync(join(work, root), { recursive: true, force: true });
    rmSync(join(server.dir, root), { recursive: true, force: true });
  }
}

/**
 * i: a new instance joins the share (now at the version the edits above made): its first sync, against a
 * plain GET of metadata.db through the same path. It already holds the entries' data files (hard links from
 * a template), so that what is timed is what joining costs in metadata, not a million downloads.
 */
async function joinFigure(dist, n, root, fig) {
  const template = join(work, `blobs-${n}`);
  if (!existsSync(template)) {
    log(`${label(n)}: writing the data files of ${label(n)} entries for the joining instance…`);
    const a = startAgent(dist, "blobs");
    await a.call("blobs", { dir: template, entries: n });
    await a.close();
  }
  for (const path of ["shaped", "loopback"]) {
    const link = path === "shaped" ? await proxy(CFG.link) : null;
    const url = link ? link.url : server.url;
    const get = await timedGet(`${url}/${root}/metadata.db`);
    const dataDir = join(work, root, `join-${path}`);
    mkdirSync(dataDir, { recursive: true });
    execFileSync("cp", ["-al", template, join(dataDir, "blobs")]);
    const J = startAgent(dist, `joiner-${path}`);
    try {
      await J.call("open", { dataDir, name: `joiner-${path}`, server: serverAt(url), root });
      // The one-time capability probe of a first meeting is not metadata: done first, timed apart.
      const probe = await J.call("probe");
      const s = await J.call("sync");
      const d = await J.call("digest");
      if (d.rows < n) throw new Error(`(i) the joining instance has ${d.rows} entries of ${n}`);
      const detail = `first sync ${fmt(s.ms, "ms")} (${fmtBytes(s.summary.bytesDown)} of data downloaded), GET of metadata.db ${fmt(get.ms, "ms")} (${fmtBytes(get.bytes)}); the capability probe before it ${probe.ms === null ? "not run (this build has no remote/probe.js)" : fmt(probe.ms, "ms")}; phases ${phaseText(s.phases)}`;
      fig({
        id: "i",
        key: path === "shaped" ? "i.ratio" : "i.loopback",
        size: n,
        label: `a new instance joining a ${label(n)} share${path === "shaped" ? " through the shaped link" : " on loopback"}: first sync ÷ GET metadata.db`,
        unit: "x",
        value: round(s.ms / get.ms),
        detail,
        syncMs: s.ms,
        getMs: get.ms,
        getBytes: get.bytes,
      });
    } finally {
      await J.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (link) await link.close();
    }
  }
}

function timedGet(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const auth = `Basic ${Buffer.from(`${server.username ?? ""}:${server.password ?? ""}`).toString("base64")}`;
    const req = httpRequest(url, { headers: server.username ? { authorization: auth } : {} }, (res) => {
      let bytes = 0;
      res.on("data", (d) => (bytes += d.length));
      res.on("end", () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes }) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------
// d: K instances, one edit each, all at once, each through its own shaped link.

async function convergeGroup(dist, n, base, root, fig) {
  const K = CFG.convergeInstances;
  placeShare(base, root);
  const agents = [];
  const links = [];
  const settings = { lockWaitSeconds: Math.max(60, Math.ceil(CFG.convergeTimeoutS) + 60) };
  try {
    for (let k = 0; k < K; k++) {
      const a = startAgent(dist, `conv${k}-${root}`);
      agents.push(a);
      await a.call("clone", { from: base.lib, to: join(work, root, `i${k}`) });
      await a.call("open", { dataDir: join(work, root, `i${k}`), name: `i${k}`, server: serverAt(server.url), root, settings });
    }
    log(`${label(n)}: warm-up of ${K} instances on loopback…`);
    await agents[0].call("edit", { kind: "meta", index: 0 });
    for (const a of agents) await a.call("sync");
    for (const a of agents) {
      const l = await proxy(CFG.link);
      links.push(l);
      await a.call("reopen", { url: l.url });
    }
    log(`${label(n)}: ${K} instances edit and sync at once, through ${K} shaped links…`);
    const deadline = performance.now() + CFG.convergeTimeoutS * 1000;
    let elapsed = 0;
    let rounds = 0;
    let converged = false;
    let timedOut = false;
    const timeout = new Promise((r) => setTimeout(() => r("timeout"), CFG.convergeTimeoutS * 1000).unref());
    await Promise.all(agents.map((a, k) => a.call("edit", { kind: "meta", index: 1 + k })));
    while (!converged && performance.now() < deadline) {
      rounds++;
      const t0 = performance.now();
      const round = await Promise.race([Promise.all(agents.map((a) => a.call("sync"))), timeout]);
      elapsed += performance.now() - t0;
      if (round === "timeout") {
        timedOut = true;
        break;
      }
      const digests = await Promise.all(agents.map((a) => a.call("digest")));
      converged = digests.every((d) => d.digest === digests[0].digest);
      log(`  round ${rounds}: ${fmt(elapsed, "ms")} so far, ${converged ? "all equal" : "not yet equal"}`);
    }
    if (!converged) {
      for (const a of agents) a.kill();
      note(`(d) at ${label(n)}: not converged within ${CFG.convergeTimeoutS} s (${rounds} rounds${timedOut ? ", stopped mid-round" : ""})`);
    }
    fig({
      id: "d",
      key: "d.ms",
      size: n,
      label: `${K} instances × ${label(n)}, one edit each at once, shaped links: time until all equal`,
      unit: "ms",
      value: converged ? round(elapsed) : null,
      note: converged ? undefined : `> ${CFG.convergeTimeoutS} s, not converged`,
      detail: converged ? `${rounds} rounds of concurrent syncs (the libraries compared between rounds, not timed)` : `stopped after ${CFG.convergeTimeoutS} s`,
      lowerBoundMs: converged ? undefined : CFG.convergeTimeoutS * 1000,
    });
  } finally {
    for (const a of agents) await a.close();
    for (const l of links) await l.close();
    rmSync(join(work, root), { recursive: true, force: true });
    rmSync(join(server.dir, root), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// f, g: a first upload of M small files, and a first download of them by a fresh instance.

async function filesGroup(dist, m, root, fig) {
  const share = join(server.dir, root);
  mkdirSync(share, { recursive: true });
  if (server.owner) chownSync(share, server.owner.uid, server.owner.gid);
  const counter = await proxy(UNSHAPED);
  const upDir = join(work, root, "up");
  try {
    log(`adding ${label(m)} files of ${CFG.fileBytes} B to a library…`);
    const adder = startAgent(dist, `adder-${root}`);
    try {
      await adder.call("open", { dataDir: upDir, name: "uploader", server: serverAt(counter.url), root });
      const added = await adder.call("add", { count: m, size: CFG.fileBytes });
      log(`  added in ${fmt(added.ms, "ms")}`);
    } finally {
      await adder.close();
    }
    for (const dir of ["up", "down"]) {
      const A = startAgent(dist, `${dir}-${root}`);
      try {
        await A.call("open", { dataDir: join(work, root, dir), name: dir === "up" ? "uploader" : "downloader", server: serverAt(counter.url), root });
        log(`first ${dir === "up" ? "upload" : "download"} of ${label(m)} files…`);
        const [s, t] = await counted(counter, root, () => A.call("sync"));
        const moved = dir === "up" ? s.summary.uploaded : s.summary.downloaded;
        if (moved !== m) throw new Error(`(f) the first ${dir}load moved ${moved} files of ${m}`);
        const { maxRssMB } = await A.call("rss");
        if (has("f")) {
          fig({ id: "f", key: "f.rss", who: dir === "up" ? "upload" : "download", size: m, label: `first ${dir === "up" ? "upload" : "download"} of ${label(m)} small files: peak RSS`, unit: "MB", value: round(maxRssMB, 1), detail: `${fmt(s.ms, "ms")}; ${trafficDetail(t)}` });
        }
        if (dir === "up" && has("g")) {
          // The PUTs of the data files themselves (request and answer); everything else is overhead.
          const put = t.kinds.data?.methods.PUT ?? { requests: 0, up: 0, down: 0 };
          const beyond = bytesOf(t) - put.up - put.down;
          fig({
            id: "g",
            key: "g.perFile",
            size: m,
            label: `first upload of ${label(m)} files of ${CFG.fileBytes} B: bytes per file beyond its PUT`,
            unit: "B",
            value: round(beyond / m, 1),
            detail: `${fmtBytes(beyond)} beyond ${put.requests} PUTs of data files (${fmtBytes(put.up + put.down)}, with their answers); by kind of path ${kindText(t)}`,
            traffic: brief(t),
          });
        }
      } finally {
        await A.close();
      }
    }
  } finally {
    rmSync(join(work, root), { recursive: true, force: true });
    rmSync(share, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// h: orphan collection. The share holds the entries' data files and some unreferenced two-day-old ones; its
// last collection was just now. After the warm-up, the same one-edit sync runs twice: with the instance's
// clock as it is (no collection due) and a day later (its clock moved 25 h forward: due). The difference is
// what one collection costs; format 1 collects once a day.

async function gcGroup(dist, n, root, fig) {
  const dir = join(work, root);
  const shareDir = join(server.dir, root);
  const builder = startAgent(dist, `build-${root}`);
  try {
    log(`building a synced library of ${label(n)} entries with its data files on the share (+${CFG.gcOrphans} unreferenced)…`);
    await builder.call("build", { dataDir: join(dir, "w"), name: "writer", entries: n, shareDir, owner: server.owner, lastGcAt: Date.now(), dataFiles: true, orphans: CFG.gcOrphans });
  } finally {
    await builder.close();
  }
  const counter = await proxy(UNSHAPED);
  const W = startAgent(dist, `gc-${root}`);
  try {
    await W.call("open", { dataDir: join(dir, "w"), name: "writer", server: serverAt(counter.url), root });
    await W.call("edit", { kind: "meta", index: 0 });
    await W.call("sync");
    await W.call("edit", { kind: "meta", index: 1 });
    const [, plain] = await counted(counter, root, () => W.call("sync"));
    const before = (await W.call("count", { dir: shareDir })).files;
    await W.call("edit", { kind: "meta", index: 2 });
    const [, collecting] = await counted(counter, root, () => W.call("sync", { clockOffsetMs: DAY + 3600_000 }));
    const after = (await W.call("count", { dir: shareDir })).files;
    const perCollection = bytesOf(collecting) - bytesOf(plain);
    fig({
      id: "h",
      key: "h.perDay",
      size: n,
      label: `orphan collection at ${label(n)} entries: bytes per day (${CFG.gcPerDay} collection${CFG.gcPerDay === 1 ? "" : "s"} a day)`,
      unit: "B",
      value: perCollection * CFG.gcPerDay,
      detail: `sync a day later ${fmtBytes(bytesOf(collecting))} (${collecting.requests} requests: ${methods(collecting)}) − the same sync the day before ${fmtBytes(bytesOf(plain))} (${plain.requests} requests); ${before - after} of ${CFG.gcOrphans} unreferenced files removed; data-folder traffic in the plain sync ${fmtBytes((plain.kinds.data?.up ?? 0) + (plain.kinds.data?.down ?? 0))}`,
      plain: brief(plain),
      collecting: brief(collecting),
      removed: before - after,
    });
    if (before - after === 0) note(`(h) at ${label(n)}: the sync a day later removed no unreferenced file (collection not run?)`);
  } finally {
    await W.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(shareDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

function phaseText(p) {
  return p ? Object.entries(p).map(([k, v]) => `${k} ${fmt(v, "ms")}`).join(", ") : "";
}

function kindText(t) {
  return Object.entries(t.kinds)
    .map(([k, c]) => `${k} ${c.requests} req ${fmtBytes(c.up + c.down)} (${Object.entries(c.methods).map(([m, x]) => `${m} ${x.requests}: ${fmtBytes(x.up + x.down)}`).join(", ")})`)
    .join("; ");
}

function fmt(v, unit) {
  if (v === null || v === undefined) return "—";
  if (unit === "B") return `${fmtBytes(v)}${v >= KB ? ` (${Math.round(v).toLocaleString("en")} B)` : ""}`;
  return fmtValue(v, unit);
}

/** One table row per figure key and size, with the reference's value, this build's, the target and verdict. */
function tableRows() {
  const keyed = new Map();
  for (const which of ["reference", "this"]) {
    for (const f of builds[which]?.figures ?? []) {
      const k = `${f.key}:${f.who ?? ""}@${f.size}`;
      if (!keyed.has(k)) keyed.set(k, { id: f.id, key: f.key, who: f.who ?? "", size: f.size, label: f.label, unit: f.unit });
      keyed.get(k)[which] = f;
    }
  }
  const order = "abcdefghi";
  const rows = [...keyed.values()].sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id) || String(x.key).localeCompare(String(y.key)) || WHO.indexOf(x.who) - WHO.indexOf(y.who) || sizeNum(x.size) - sizeNum(y.size));
  return rows.map((r) => {
    const t = TARGETS[r.key];
    const applies = t && (t.at === null || t.at.includes(r.size));
    const max = t ? (typeof t.max === "function" ? t.max(r.size) : t.max) : null;
    const val = (f) => (f ? (f.value === null ? null : f.value) : undefined);
    const ref = val(r.reference);
    const mine = val(r.this);
    const verdict = !t ? "info" : !applies ? "n/a (size)" : mine === undefined ? "—" : mine === null ? "missed (not finished)" : mine <= max ? "met" : "MISSED";
    const ratio = typeof ref === "number" && typeof mine === "number" && ref !== 0 ? round(mine / ref, 3) : null;
    return {
      figure: r.id,
      key: r.key,
      who: r.who || null,
      size: r.size,
      label: r.label,
      unit: r.unit,
      reference: ref ?? null,
      referenceNote: r.reference?.note ?? null,
      this: mine ?? null,
      thisNote: r.this?.note ?? null,
      target: t ? `≤ ${fmt(max, r.unit)}` : "",
      targetValue: t ? max : null,
      ratio,
      verdict,
    };
  });
}

const WHO = ["", "writer", "reader", "upload", "download"];

function sizeNum(s) {
  return typeof s === "number" ? s : 0;
}

function printTable(rows) {
  const out = [];
  const refWhat = builds.reference ? `${builds.reference.commit ?? builds.reference.dist ?? builds.reference.from}` : "not measured";
  out.push(`\nformat 2 targets (issue 13) — ${machine.date.slice(0, 10)}, ${machine.cores} × ${machine.cpu}, node ${machine.node}, server ${server?.kind ?? builds.this?.server ?? "none"}; link for c, d, i: ${CFG.link.upMbit}/${CFG.link.downMbit} Mbit/s, ${CFG.link.rttMs} ms RTT`);
  out.push(`reference build: ${refWhat}; this build: ${builds.this?.commit ?? builds.this?.dist ?? "not measured"}; bytes are raw socket bytes through the proxy (headers included)\n`);
  out.push(
    table(
      ["#", "figure", "format-1 (reference build)", "this build", "target", "ratio / verdict"],
      rows.map((r) => [
        r.figure,
        r.label,
        r.reference === null ? (r.referenceNote ?? "—") : fmt(r.reference, r.unit),
        r.this === null ? (r.thisNote ?? "—") : fmt(r.this, r.unit),
        r.target,
        `${r.ratio === null ? "" : `${r.ratio}× ref; `}${r.verdict}`,
      ]),
    ),
  );
  const details = (builds.this?.figures ?? []).filter((f) => f.detail);
  if (details.length) out.push("\nthis build, details:\n" + details.map((f) => `- [${f.id}] ${f.label}: ${f.detail}`).join("\n"));
  if (notes.length) out.push("\n" + notes.map((n) => `- ${n}`).join("\n"));
  console.log(out.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------
// Main (last, so that every helper above is initialised).

const started = performance.now();
const work = mkdtempSync(join(env("BENCH_WORKDIR") ?? tmpdir(), "syncd-bench-f2-"));
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGB: round(totalmem() / 1024 ** 3, 1),
  loadavgAtStart: loadavg().map((x) => round(x)),
};
const notes = [];
const note = (msg) => {
  notes.push(msg);
  log(`note: ${msg}`);
};
let server = null;
const cleanups = [];
let exitCode = 0;
const builds = {};

// Stopped (Ctrl-C, kill): the server, proxies and work folder go too; agents and proxies exit with us (IPC).
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, async () => {
    log(`format 2 bench: ${sig}, cleaning up`);
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await server?.close().catch(() => {});
    if (env("BENCH_KEEP") !== "1") rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  const measuring = !env("BENCH_F2_THIS_RESULTS") || (!env("BENCH_F2_REF_RESULTS") && (env("BENCH_F2_REF_DIST") || env("BENCH_F2_REF")));
  const wanted = env("BENCH_F2_SERVER") ?? (apacheAvailable() ? "apache" : "embedded");
  if (!measuring) log("format 2 targets: the table of saved results (nothing measured)");
  else if (wanted === "apache") server = await startApache({ parent: work, username: "bench", password: "bench-secret" });
  else {
    server = await startCountingEmbeddedShare({ dir: join(work, "embedded-share"), log: join(work, "embedded.log") });
    note("Apache is not installed (or BENCH_F2_SERVER=embedded): measured on the embedded share");
  }
  if (server) log(`format 2 targets: ${server.kind} at ${server.url}; work folder ${work}`);

  // The reference build first (its figures are the "today" column), then this one.
  let refDist = env("BENCH_F2_REF_DIST");
  if (!refDist && env("BENCH_F2_REF")) {
    log(`building the reference ${env("BENCH_F2_REF")} with bench/build-ref.sh …`);
    refDist = execFileSync("bash", [join(HERE, "build-ref.sh"), env("BENCH_F2_REF")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1);
  }
  if (env("BENCH_F2_REF_RESULTS")) {
    const doc = JSON.parse(readFileSync(env("BENCH_F2_REF_RESULTS"), "utf8"));
    builds.reference = loadResults(env("BENCH_F2_REF_RESULTS"));
  } else if (refDist) {
    builds.reference = await measure(resolve(refDist), "reference");
  }
  builds.this = env("BENCH_F2_THIS_RESULTS") ? loadResults(env("BENCH_F2_THIS_RESULTS")) : await measure(THIS_DIST, "this");
  for (const b of Object.values(builds)) derive(b.figures);
} catch (err) {
  exitCode = 1;
  log(`format 2 bench failed: ${err.stack ?? err}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await server?.close().catch(() => {});
  if (env("BENCH_KEEP") !== "1") rmSync(work, { recursive: true, force: true });
}
machine.loadavgAtEnd = loadavg().map((x) => round(x));
machine.totalMinutes = round((performance.now() - started) / 60000);
const rows = tableRows();
const doc = { scenario: "format 2 targets (issue 13)", machine, server: server?.kind ?? null, config: { ...CFG, figures: [...CFG.figures] }, ok: exitCode === 0, notes, builds, table: rows };
writeFileSync(OUT, JSON.stringify(doc, null, 2) + "\n");
printTable(rows);
log(`\nwrote ${OUT} (${machine.totalMinutes} min)`);
process.exit(exitCode);
