#!/usr/bin/env node
/**
 * The part of a scenario that runs in its own process, so that its peak RSS (VmHWM, see peakRss) is the
 * sync's alone. Called by run.mjs with one JSON
 * argument; prints one JSON document on stdout.
 *
 *   change  one entry changed among many: a content change, then a metadata-only change, `runs` times each
 *   full    forced full reconciliation (every entry planned), `runs` times
 *   add     adds one file to the library (the big-file scenario's import)
 *   sync    one ordinary sync (the big-file scenario's upload or download)
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { openInstance } from "./lib/instance.mjs";
import { summarise, TrafficLog } from "./lib/traffic.mjs";

const args = JSON.parse(process.argv[2]);
const { mode, dataDir, server, root } = args;

/**
 * Peak RSS of this process: VmHWM from /proc/self/status. Not process.resourceUsage().maxRSS: Linux carries
 * ru_maxrss across fork + exec, so a child's maxRSS starts at its parent's size at the fork (the bench's
 * own 130 MB showed up as every child's "peak").
 */
function peakRss() {
  let hwm = null;
  try {
    hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  } catch {
    // not Linux: fall back to maxRSS (KiB on Linux and macOS… close enough for a fallback)
  }
  return { maxRssMB: hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024, source: hwm ? "VmHWM" : "maxRSS" };
}

// BENCH_MEMTRACE=1: samples of memory use, to see what a peak is made of.
const samples = [];
if (process.env.BENCH_MEMTRACE === "1") {
  const t0 = performance.now();
  setInterval(() => {
    const m = process.memoryUsage();
    samples.push([Math.round(performance.now() - t0), ...[m.rss, m.heapUsed, m.external, m.arrayBuffers].map((x) => Math.round(x / 1048576))]);
  }, 50).unref();
}
const inst = await openInstance({ dataDir, name: args.name ?? "bench", server, root, settings: args.settings ?? {} });
const out = { mode };
try {
  if (args.probed) {
    // A library that has been syncing with this share has met it before: its one-time capability probe
    // (src/remote/probe.ts, where this syncd has one) is done, and is not part of a routine run.
    let probe = null;
    try {
      probe = await import("../dist/remote/probe.js");
    } catch (err) {
      if (err?.code !== "ERR_MODULE_NOT_FOUND") throw err;
    }
    await probe?.ensureProbed(inst.library, inst.remote);
  }
  if (mode === "change") {
    const log = new TrafficLog(server.log, server.prefix);
    const ids = inst.library.db.prepare("SELECT id FROM entries WHERE deleted = 0 ORDER BY id LIMIT ?").pluck().all(args.runs * 2);
    out.content = [];
    out.meta = [];
    for (let i = 0; i < args.runs; i++) {
      for (const kind of ["content", "meta"]) {
        const id = kind === "content" ? ids[i] : ids[args.runs + i];
        if (kind === "content") await inst.library.updateContent(id, randomBytes(16 * 1024));
        else inst.library.updateMeta(id, { set: { read: true, note: `bench ${i}` } });
        await sleep(50); // let the server's log settle before marking it
        log.mark();
        const run = await inst.sync();
        await sleep(50);
        const traffic = summarise(log.since(), server.prefix, root);
        out[kind].push({ ms: run.ms, phases: run.phases, summary: run.summary, traffic });
      }
    }
  } else if (mode === "full") {
    out.runs = [];
    for (let i = 0; i < args.runs; i++) {
      const run = await inst.sync({ force: true });
      out.runs.push({ ms: run.ms, phases: run.phases, summary: run.summary });
    }
  } else if (mode === "add") {
    const t0 = performance.now();
    const entry = await inst.library.add({ source: args.file, name: args.entryName });
    out.ms = performance.now() - t0;
    out.entry = { id: entry.id, hash: entry.hash, size: entry.size };
  } else if (mode === "sync") {
    const run = await inst.sync();
    Object.assign(out, { ms: run.ms, phases: run.phases, summary: run.summary });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await inst.close();
}
Object.assign(out, peakRss());
out.retries = inst.retries;
if (samples.length) out.memtrace = { columns: ["ms", "rss", "heapUsed", "external", "arrayBuffers"], samples };
process.stdout.write(JSON.stringify(out) + "\n");
