#!/usr/bin/env node
/**
 * One process of the "format 2 targets" scenario (bench/format2.mjs): it loads the build under test
 * (BENCH_DIST, see lib/dist.mjs) and does what it is told over IPC, one request at a time:
 *
 *   build      a synced library of N entries and its format-1 share (lib/dataset.mjs), optionally with the
 *              entries' data files on the share and unreferenced ones ("orphans") beside them
 *   clone      a copy of a closed library as another instance (a new instance id)
 *   blobs      the data files of the N entries of `build`, in a folder laid out as a blob store
 *   open       opens the library as an instance syncing with a WebDAV URL (lib/instance.mjs: the engine,
 *              with the remote built as the CLI builds it); `reopen` the same at another URL
 *   add        adds `count` small files of `size` bytes (never synced)
 *   edit       a metadata edit or a content edit of one entry
 *   sync       one sync, timed; `clockOffsetMs` runs it with this process's clock moved forward
 *   digest     a hash of the library's rows: equal digests are equal libraries
 *   rss        this process's peak RSS (VmHWM), MB
 *
 * Each instance lives in its own agent, so that its time and peak RSS are its own, and two builds never
 * share a process.
 */
import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { monotonicFactory } from "ulidx";
import { buildSyncedLibrary } from "./lib/dataset.mjs";
import { fromDistIfAny } from "./lib/dist.mjs";
import { openInstance } from "./lib/instance.mjs";

let inst = null;
let opened = null;

function peakRssMB() {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** The hash of the data of entry i of a built library (dataset.mjs names its content "bench entry i"). */
const entryContent = (i) => `bench entry ${i}`;

const ops = {
  async build({ dataDir, name, entries, shareDir, owner, lastGcAt, dataFiles = false, orphans = 0, localBlobs = 64 }) {
    const built = await buildSyncedLibrary({ dataDir, instanceName: name, entries, shareDir, owner, format1: true, lastGcAt: lastGcAt ?? Date.now(), realSizes: true });
    // The data of the first entries (those the scenario edits), held locally as a synced instance holds it:
    // an instance that learns of an edit to an entry whose data it lacks would download it.
    ops.blobs({ dir: join(dataDir, "blobs"), entries: Math.min(entries, localBlobs) });
    let files = 0;
    if (dataFiles) {
      // The entries' data files on the share, as a real share holds them (what orphan collection lists).
      const made = new Set();
      for (let i = 0; i < entries; i++) {
        const body = entryContent(i);
        const hash = createHash("sha256").update(body).digest("hex");
        const dir = join(shareDir, hash.slice(0, 2));
        if (!made.has(dir)) {
          mkdirSync(dir, { recursive: true });
          made.add(dir);
        }
        writeFileSync(join(dir, hash), body);
        files++;
      }
      // Unreferenced data files, two days old: what a collection deletes.
      const old = new Date(Date.now() - 2 * 86_400_000);
      for (let i = 0; i < orphans; i++) {
        const body = `bench orphan ${i}`;
        const hash = createHash("sha256").update(body).digest("hex");
        const dir = join(shareDir, hash.slice(0, 2));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, hash), body);
        utimesSync(join(dir, hash), old, old);
      }
    }
    if (owner) execFileSync("chown", ["-R", `${owner.uid}:${owner.gid}`, shareDir]);
    return { ...built, dataFiles: files, orphans };
  },

  /** A copy of the closed library in `from` as another instance: same rows and share state, its own id. */
  clone({ from, to }) {
    mkdirSync(to, { recursive: true });
    for (const f of ["library.db", "library.db-wal", "library.db-shm"]) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
    if (existsSync(join(from, "blobs"))) execFileSync("cp", ["-al", join(from, "blobs"), join(to, "blobs")]);
    const db = new Database(join(to, "library.db"));
    db.prepare("UPDATE state SET value = ? WHERE key = 'instance_id'").run(monotonicFactory()());
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    return { ok: true };
  },

  /** The data files of entries 0…N-1 of a built library, as a blob store lays them out (<aa>/<sha256>). */
  blobs({ dir, entries }) {
    const made = new Set();
    for (let i = 0; i < entries; i++) {
      const body = entryContent(i);
      const hash = createHash("sha256").update(body).digest("hex");
      const sub = join(dir, hash.slice(0, 2));
      if (!made.has(sub)) {
        mkdirSync(sub, { recursive: true });
        made.add(sub);
      }
      writeFileSync(join(sub, hash), body);
    }
    return { files: entries };
  },

  async open({ dataDir, name, server, root, settings = {} }) {
    // One name for the share whatever URL (proxy) reaches it: its capability probe is done once, at the
    // first sync, as for a user whose share keeps its URL.
    opened = { dataDir, name, server, root, settings, engineOptions: { shareKey: `bench-share:${root}` } };
    inst = await openInstance({ ...opened, timeoutMs: 30 * 60_000 });
    return { instanceId: inst.library.instanceId };
  },

  async reopen({ url }) {
    await inst.close();
    opened.server = { ...opened.server, url };
    inst = await openInstance({ ...opened, timeoutMs: 30 * 60_000 });
    return { ok: true };
  },

  /** The one-time capability probe of the share (remote/probe.ts), as the engine runs it at a first sync. */
  async probe() {
    const mod = await fromDistIfAny("remote/probe.js");
    if (!mod?.ensureProbed) return { ms: null };
    const t0 = performance.now();
    await mod.ensureProbed(inst.library, inst.remote, opened.engineOptions.shareKey);
    return { ms: performance.now() - t0 };
  },

  async add({ count, size, batch = 1 }) {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const body = Buffer.concat([Buffer.from(`small file ${i} `), randomBytes(Math.max(0, size - 24))]).subarray(0, size);
      await inst.library.add({ source: body, name: `small/${String(Math.floor(i / 1000)).padStart(4, "0")}/f${String(i).padStart(7, "0")}.txt`, meta: { i } });
    }
    return { ms: performance.now() - t0, batch };
  },

  /** Edits the `index`-th live entry (by id): its metadata, or its content with `bytes` new random bytes. */
  async edit({ kind, index = 0, bytes = 10 * 1024 }) {
    const id = inst.library.db.prepare("SELECT id FROM entries WHERE deleted = 0 ORDER BY id LIMIT 1 OFFSET ?").pluck().get(index);
    if (!id) throw new Error(`no live entry at index ${index}`);
    if (kind === "content") await inst.library.updateContent(id, randomBytes(bytes));
    else inst.library.updateMeta(id, { set: { read: true, note: `bench edit ${Date.now()} ${Math.random()}` } });
    return { id };
  },

  async sync({ clockOffsetMs = 0, options = {} } = {}) {
    const realNow = Date.now;
    if (clockOffsetMs) Date.now = () => realNow() + clockOffsetMs;
    try {
      const r = await inst.sync(options);
      return { ms: r.ms, phases: r.phases, summary: r.summary };
    } finally {
      Date.now = realNow;
    }
  },

  digest() {
    const hasher = createHash("sha256");
    let rows = 0;
    for (const r of inst.library.db.prepare("SELECT id, name, hash, size, meta, version, deleted, hlc, origin, sync_status FROM entries ORDER BY id").raw().iterate()) {
      hasher.update(JSON.stringify(r));
      rows++;
    }
    return { digest: hasher.digest("hex"), rows };
  },

  rss() {
    return { maxRssMB: peakRssMB() };
  },

  async close() {
    if (inst) await inst.close();
    inst = null;
    return { retries: [] };
  },

  /** Files under `dir` (recursively), for checks. */
  count({ dir }) {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
    return { files: n };
  },

  chown({ path, owner }) {
    if (owner) chownSync(path, owner.uid, owner.gid);
    return { ok: true };
  },

  rm({ path }) {
    rmSync(path, { recursive: true, force: true });
    return { ok: true };
  },
};

process.on("message", async ({ id, op, args }) => {
  try {
    const result = await ops[op](args ?? {});
    process.send({ id, result: result ?? null, retries: inst?.retries?.splice(0) ?? [] });
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send({ ready: true, pid: process.pid });
