/**
 * Data sets for the benchmarks.
 *
 * - `buildSyncedLibrary`: a library of N entries in the state a real instance is in after syncing them:
 *   every row synced (base = its state, synced_rev = 1), and the share at that same version (metadata.db
 *   with the same N rows, version.txt naming its SHA-256 and share id). Rows are inserted directly, in one
 *   transaction, through the library's own database (its schema, indexes and triggers), because importing
 *   and syncing a million files would take hours. What is not materialised: the data files of these
 *   entries (locally and on the share), which none of the scenarios that use such a library reads.
 * - `makeMixedTree`: a folder of files with sizes between 1 KB and 1 MB, skewed towards small files so that
 *   the total is what was asked for (10,000 files, ~200 MB by default), with random (incompressible) bytes.
 */
import Database from "better-sqlite3";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, createReadStream, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { monotonicFactory } from "ulidx";
import { fromDist, fromDistIfAny } from "./dist.mjs";
import { seededRandom } from "./prng.mjs";

// The build under test: this checkout's dist/, or BENCH_DIST's (dist.mjs).
const { openLibrary } = await fromDist("store/library.js");
// src/share/ since share format 2; src/sync/ in builds before it.
const { SharedDb } = (await fromDistIfAny("share/shared-db.js")) ?? (await fromDist("sync/shared-db.js"));
const { formatHlc } = await fromDist("sync/hlc.js");

const KB = 1024;

/**
 * File sizes between 1 KB and 1 MB: size = 1 KB · 1024^(u^p) for uniform u, with p chosen so that the sizes
 * add up to `totalBytes` (p = 1 is log-uniform, mean ≈ 148 KB; larger p skews towards small files).
 */
export function mixedSizes(count, totalBytes, seed = 7) {
  const rand = seededRandom(seed);
  const us = Array.from({ length: count }, () => rand());
  const sizesFor = (p) => us.map((u) => Math.round(KB * 1024 ** (u ** p)));
  const total = (p) => sizesFor(p).reduce((n, s) => n + s, 0);
  let lo = 1;
  let hi = 200;
  if (total(lo) <= totalBytes) return sizesFor(lo);
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) > totalBytes) lo = mid;
    else hi = mid;
  }
  return sizesFor(hi);
}

/** Writes `count` files into `dir` (100 per folder), sizes from mixedSizes. Returns {files, bytes}. */
export function makeMixedTree(dir, count, totalBytes) {
  const sizes = mixedSizes(count, totalBytes);
  let bytes = 0;
  // One random pool, sliced at varying offsets with a unique prefix per file: every file differs, and
  // generating 200 MB of fresh random bytes is avoided.
  const pool = randomBytes(2 * 1024 * 1024);
  for (let i = 0; i < count; i++) {
    const folder = join(dir, `set${String(Math.floor(i / 100)).padStart(3, "0")}`);
    if (i % 100 === 0) mkdirSync(folder, { recursive: true });
    const size = sizes[i];
    const buf = Buffer.allocUnsafe(size);
    const start = (i * 7919) % (pool.length - size);
    pool.copy(buf, 0, start, start + size);
    buf.write(`file ${i} `, 0);
    writeFileSync(join(folder, `file${String(i).padStart(6, "0")}.bin`), buf);
    bytes += size;
  }
  return { files: count, bytes };
}

/** Sum of the sizes of the regular files under `dir`, and their count. */
export function treeSize(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return { files, bytes };
}

/**
 * A synced library of `entries` rows in `dataDir`, and the share folder `shareDir` (the server's own folder
 * for the share root) at the same version. `owner` ({uid, gid}) is who the server runs as. Returns
 * {shareId, version, metadataBytes, buildMs}.
 */
/*
 * `realSizes`: each entry's size is that of its content "bench entry <i>" (whose SHA-256 is its hash), so
 * that an instance given those data files (see format2-agent.mjs) finds them whole; otherwise sizes are
 * drawn between 1 KB and 1 MB. `format1`: the share's metadata.db is written at share format 1 here
 * (createFormat1Share), not by the build under test. `lastGcAt`: when the share last collected orphans.
 */
export async function buildSyncedLibrary({ dataDir, instanceName, entries, shareDir, owner, format1 = false, lastGcAt = Date.now(), realSizes = false }) {
  const t0 = performance.now();
  const library = await openLibrary(dataDir, { instanceName });
  const db = library.db;
  const instanceId = library.instanceId;
  const newId = monotonicFactory();
  const shareId = newId();
  const wall0 = Date.now() - 86_400_000;
  const rand = seededRandom(entries);
  // The library's triggers (a change sequence and a live count, if this schema has them) fire per row and
  // cost 3× the insert, and its secondary indexes are cheaper built once than grown row by row: both are set
  // aside for the load and restored after it, with the triggers' effect reproduced in bulk. The final state
  // is the same.
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'").all();
  const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL").all();
  const columns = new Set(db.prepare("SELECT name FROM pragma_table_info('entries')").pluck().all());
  const hasSeq = columns.has("change_seq");
  // The live count that triggers keep (a schema with entry_counts): every row loaded here is live.
  const hasCounts = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entry_counts'").get() !== undefined;
  const insert = db.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, synced_rev, base, created_at, updated_at${hasSeq ? ", change_seq" : ""})
    VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?, 'synced', 1, ?, ?, ?${hasSeq ? ", ?" : ""})`);
  let lastHlc = "";
  // A bulk load touches the hash index at random places: give it a cache that holds the index (this
  // connection only; the library is closed and reopened before anything is measured).
  db.pragma("cache_size = -1000000");
  const timings = {};
  let t = performance.now();
  db.transaction(() => {
    for (const trigger of triggers) db.exec(`DROP TRIGGER "${trigger.name}"`);
    for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);
    const seqBase = hasSeq ? Number(db.prepare("SELECT seq FROM change_counter WHERE id = 1").pluck().get() ?? 0) : 0;
    for (let i = 0; i < entries; i++) {
      const id = newId();
      const name = `library/shelf${String(i % 1000).padStart(3, "0")}/item-${String(i).padStart(7, "0")}.pdf`;
      const hash = createHash("sha256").update(`bench entry ${i}`).digest("hex");
      const drawn = Math.round(KB * 1024 ** (rand() ** 3));
      const size = realSizes ? Buffer.byteLength(`bench entry ${i}`) : drawn;
      const meta = { n: i, tags: [`t${i % 50}`], year: 1990 + (i % 35) };
      const hlc = formatHlc({ wall: wall0 + Math.floor(i / 100), counter: i % 100, node: instanceId });
      const state = { name, hash, size, meta, deleted: false, version: 1, hlc, origin: instanceId };
      const metaJson = JSON.stringify(meta); // keys already in canonical (sorted) order
      const t = wall0 + Math.floor(i / 100);
      const args = [id, name, hash, size, metaJson, hlc, instanceId, JSON.stringify(state), t, t];
      if (hasSeq) args.push(seqBase + i + 1);
      insert.run(...args);
      lastHlc = hlc;
    }
    if (hasSeq) db.prepare("UPDATE change_counter SET seq = ? WHERE id = 1").run(seqBase + entries);
    if (hasCounts) db.prepare("UPDATE entry_counts SET live = live + ? WHERE id = 1").run(entries);
    for (const index of indexes) db.exec(index.sql);
    for (const trigger of triggers) db.exec(trigger.sql);
  }).immediate();
  timings.localMs = performance.now() - t;
  library.setState("hlc", lastHlc);

  // The share's metadata.db: the same rows at share version 1, written as a publishing run would.
  mkdirSync(shareDir, { recursive: true });
  t = performance.now();
  const tmp = join(dataDir, "bench-metadata.db");
  if (format1) createFormat1Share(tmp, shareId);
  else SharedDb.create(tmp, shareId).close();
  const shared = new Database(tmp);
  shared.pragma("cache_size = -1000000");
  shared.exec(`ATTACH DATABASE '${join(dataDir, "library.db").replaceAll("'", "''")}' AS lib`);
  const sharedIndexes = shared.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL").all();
  shared.transaction(() => {
    for (const index of sharedIndexes) shared.exec(`DROP INDEX "${index.name}"`);
    shared.exec(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, rev)
      SELECT id, name, hash, size, meta, version, deleted, hlc, origin, 1 FROM lib.entries`);
    for (const index of sharedIndexes) shared.exec(index.sql);
    shared.prepare("INSERT INTO instances (id, name, last_seen) VALUES (?, ?, ?)").run(instanceId, instanceName, Date.now());
    shared.prepare("UPDATE share SET value = '1' WHERE key = 'version'").run();
    // A share that collected its orphans recently (they are collected once a day): no run here does it.
    shared.prepare("INSERT INTO share (key, value) VALUES ('last_gc_at', ?)").run(String(lastGcAt));
  })();
  shared.exec("DETACH DATABASE lib");
  shared.close();
  timings.sharedMs = performance.now() - t;
  t = performance.now();
  const sha256 = await sha256File(tmp);
  const metadataBytes = statSync(tmp).size;
  renameSync(tmp, join(shareDir, "metadata.db"));
  writeFileSync(join(shareDir, "version.txt"), `1\nsha256=${sha256}\nshare=${shareId}\n`);
  if (owner) for (const f of ["", "metadata.db", "version.txt"]) chownSync(join(shareDir, f), owner.uid, owner.gid);

  library.setState("share_id", shareId);
  library.setState("synced_version", "1");
  library.setState("last_sync_at", new Date().toISOString());
  db.pragma("wal_checkpoint(TRUNCATE)");
  library.close();
  timings.finishMs = performance.now() - t;
  return { shareId, version: 1, metadataBytes, buildMs: performance.now() - t0, timings };
}

/**
 * An empty metadata.db of share format 1 (SPEC §3; src/sync/shared-db.ts at format 1), written here rather
 * than by the build under test, so that every build starts from the same format-1 share (a format-2 build
 * upgrades it in place on its first write, as it does a user's share).
 */
export const FORMAT1_SCHEMA = `
  CREATE TABLE share (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE entries (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, meta TEXT NOT NULL,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL, hlc TEXT NOT NULL, origin TEXT NOT NULL, rev INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX entries_rev ON entries(rev);
  CREATE INDEX entries_hash ON entries(hash);
  CREATE TABLE IF NOT EXISTS commits (id TEXT PRIMARY KEY, version INTEGER NOT NULL, instance TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS version_times (version INTEGER PRIMARY KEY, server_at INTEGER NOT NULL);
`;

export function createFormat1Share(file, shareId) {
  const db = new Database(file);
  db.pragma("journal_mode = DELETE");
  db.pragma(`application_id = ${0x53594e44}`);
  db.pragma("user_version = 1");
  db.exec(FORMAT1_SCHEMA);
  const put = db.prepare("INSERT INTO share (key, value) VALUES (?, ?)");
  db.transaction(() => {
    put.run("share_id", shareId);
    put.run("version", "0");
    put.run("created_at", String(Date.now()));
    put.run("purged_through_rev", "0");
  })();
  db.close();
}

export async function sha256File(file) {
  const hasher = createHash("sha256");
  for await (const chunk of createReadStream(file)) hasher.update(chunk);
  return hasher.digest("hex");
}
