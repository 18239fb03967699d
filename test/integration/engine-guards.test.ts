/**
 * Bad shares and unsafe runs (SPEC §3): each is refused with a clear error, and neither the share nor the
 * local library changes. In-process engines against a real WebDAV server on 127.0.0.1.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, utimesSync } from "node:fs";
import { join, relative } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalLockBusyError, LockBusyError, ShareError, SyncdError } from "../../src/errors.js";
import { isRemoteError, RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { LISTING_END } from "../../src/remote/lease.js";
import { SHARED_APPLICATION_ID } from "../../src/share/shared-db.js";
import { formatVersionFile, parseVersionFile } from "../../src/share/version-file.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";

let server: DavServer;
const opened: EngineInstance[] = [];

beforeEach(async () => {
  server = await startDavServer();
});

afterEach(async () => {
  for (const inst of opened.splice(0)) await inst.close();
  await server.close();
});

async function instance(name: string, settings = {}): Promise<EngineInstance> {
  const inst = await makeEngineInstance(name, { url: server.url }, settings);
  opened.push(inst);
  return inst;
}

/** Every file of the share (lock folder aside) with the SHA-256 of its bytes. */
/** Every file of the share and its hash, but the lease's end-of-listing marker (written once, no state). */
function shareSnapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name !== LISTING_END) out[relative(server.dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(server.dir);
  return out;
}

function localSnapshot(inst: EngineInstance): unknown {
  return {
    entries: inst.library.db.prepare("SELECT * FROM entries ORDER BY id").all(),
    state: inst.library.db.prepare("SELECT * FROM state WHERE key NOT IN ('last_error', 'hlc') AND key NOT LIKE 'probe:%' ORDER BY key").all(),
  };
}

async function currentVersion(inst: EngineInstance) {
  const info = parseVersionFile((await inst.remote.get("version.txt")).toString());
  if (!info) throw new Error("no version.txt");
  return info;
}

/** Replaces metadata.db and version.txt with the given database bytes, as a foreign writer would. */
async function publishRaw(inst: EngineInstance, bytes: Buffer, version: number, share: string): Promise<void> {
  await inst.remote.put("metadata.db", bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const journal = { snapshot: { version, bytes: bytes.length }, first: version + 1, bytesSinceSnapshot: 0, window: [], compacting: null };
  await inst.remote.put("version.txt", Buffer.from(formatVersionFile({ version, sha256, share, journal })));
}

/** Deletes everything in the share's root folder, as someone emptying it by hand would. */
async function wipeShare(inst: EngineInstance): Promise<void> {
  const root = join(server.dir, "syncd");
  for (const name of readdirSync(root)) await inst.remote.delete(statSync(join(root, name)).isDirectory() ? `${name}/` : name);
}

function sqliteFile(build: (db: Database.Database) => void): Buffer {
  const db = new Database(":memory:");
  build(db);
  const bytes = db.serialize();
  db.close();
  return bytes;
}

async function expectRefused(inst: EngineInstance, code: string, message: RegExp): Promise<SyncdError> {
  const shareBefore = shareSnapshot();
  const localBefore = localSnapshot(inst);
  const err = await inst.engine.sync().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShareError);
  expect((err as SyncdError).code).toBe(code);
  expect((err as SyncdError).message).toMatch(message);
  expect(shareSnapshot()).toEqual(shareBefore);
  expect(localSnapshot(inst)).toEqual(localBefore);
  expect((await inst.engine.status()).lastError).toBe((err as SyncdError).message);
  return err as SyncdError;
}

describe("a share that cannot be trusted is refused and nothing changes", () => {
  let a: EngineInstance;
  let b: EngineInstance;
  let share: string;

  beforeEach(async () => {
    a = await instance("a");
    b = await instance("b");
    await a.add("one.txt", "one");
    await a.engine.sync();
    share = (await currentVersion(a)).share;
    await b.add("mine.txt", "b's entry");
  });

  it("a SQLite file of another program", async () => {
    await publishRaw(a, sqliteFile((db) => db.exec("CREATE TABLE notes (x)")), 2, share);
    await expectRefused(b, "metadata-foreign", /metadata\.db is a SQLite database but not a syncd share/);
  });

  it("a share written by a newer syncd (schema version)", async () => {
    const newer = sqliteFile((db) => {
      db.pragma(`application_id = ${SHARED_APPLICATION_ID}`);
      db.pragma("user_version = 99");
      db.exec("CREATE TABLE share (key TEXT PRIMARY KEY, value TEXT)");
    });
    await publishRaw(a, newer, 2, share);
    await expectRefused(b, "metadata-too-new", /share schema 99, newer than this syncd understands/);
  });

  it("bytes that are not SQLite at all", async () => {
    await publishRaw(a, Buffer.from("this is not a database, just some text ".repeat(200)), 2, share);
    await expectRefused(b, "metadata-corrupt", /metadata\.db/);
  });

  it("a truncated metadata.db", async () => {
    const whole = await a.remote.get("metadata.db");
    await publishRaw(a, whole.subarray(0, Math.floor(whole.length / 2)), 1, share);
    await expectRefused(b, "metadata-corrupt", /metadata\.db/);
  });

  it("a metadata.db that does not match the checksum in version.txt", async () => {
    const info = await currentVersion(a);
    await a.remote.put("version.txt", Buffer.from(formatVersionFile({ ...info, sha256: "0".repeat(64) })));
    await expectRefused(b, "metadata-mismatch", /does not match version\.txt/);
  });

  it("a row with a hostile name in the share", async () => {
    const bytes = await a.remote.get("metadata.db");
    const db = new Database(bytes);
    db.prepare("UPDATE entries SET name = '../../etc/passwd'").run();
    const hostile = db.serialize();
    db.close();
    await publishRaw(a, hostile, 1, share);
    await expectRefused(b, "hostile-entry", /name is unsafe.*'\.\.' segment/);
  });

  it("a share whose id differs from the one this instance synced with, unless --allow-deletes (--force is not enough)", async () => {
    await b.engine.sync();
    // Another share in the same place: wipe and let a third instance create a new one.
    await wipeShare(a);
    const c = await instance("c");
    await c.add("c.txt", "c");
    await c.engine.sync();
    await b.library.updateMeta(b.library.list()[0]!.id, { set: { x: 1 } });
    await expectRefused(b, "share-mismatch", /is share .* but this data directory was synced with share .*nothing was changed/);
    await expect(b.engine.sync({ force: true })).rejects.toThrow(/syncd sync --allow-deletes/);
    const summary = await b.engine.sync({ allowDeletes: true });
    expect(summary.skipped).toBe(false);
    expect(b.library.list().map((e) => e.name).sort()).toEqual(["c.txt", "mine.txt", "one.txt"]);
  });

  it("an empty share while this instance has synced before, unless --allow-deletes (--force is not enough)", async () => {
    await b.engine.sync();
    await wipeShare(a);
    await expectRefused(b, "share-empty", /is empty, but this data directory was synced with share/);
    await expect(b.engine.sync({ force: true })).rejects.toThrow(/share-empty|is empty/);
    await b.engine.sync({ allowDeletes: true });
    expect(Object.keys(shareSnapshot())).toContain("syncd/metadata.db");
    const c = await instance("c");
    await c.engine.sync();
    expect(c.library.list().map((e) => e.name).sort()).toEqual(["mine.txt", "one.txt"]);
  });
});

describe("guards on what a run may do", () => {
  it("stops a run that would delete more than maxDeletePercent of the library, unless --allow-deletes; a dry run shows it", async () => {
    const a = await instance("a");
    const b = await instance("b");
    for (let i = 0; i < 20; i++) await a.add(`f${i}`, `content ${i}`);
    await a.engine.sync();
    await b.engine.sync();
    for (const e of b.library.list().slice(0, 15)) b.library.remove(e.id);
    const shareBefore = shareSnapshot();
    await expect(b.engine.sync()).rejects.toThrow(/would delete 15 of 20 entries, more than sync\.maxDeletePercent \(50%\)/);
    expect(shareSnapshot()).toEqual(shareBefore);
    // --force reconciles in full but keeps the guard armed (users who force a resync keep their safety net).
    await expect(b.engine.sync({ force: true })).rejects.toThrow(/would delete 15 of 20 entries/);
    // A dry run says what would happen and why it would stop, and writes nothing anywhere.
    const localBefore = localSnapshot(b);
    const dry = await b.engine.sync({ dryRun: true });
    expect(dry.dryRun?.wouldStop).toMatch(/would delete 15 of 20 entries/);
    expect(dry.deletedRemote).toBe(15);
    expect(dry.dryRun?.changes.filter((c) => c.remote === "delete")).toHaveLength(15);
    expect(shareSnapshot()).toEqual(shareBefore);
    expect(localSnapshot(b)).toEqual(localBefore);
    const forced = await b.engine.sync({ allowDeletes: true });
    expect(forced.deletedRemote).toBe(15);
    // Like rclone bisync's --max-delete, the guard holds in both directions: a mass deletion arriving from
    // the share also stops until someone confirms it on this instance.
    await expect(a.engine.sync()).rejects.toThrow(/would delete 15 of 20 entries/);
    expect(a.library.list()).toHaveLength(20);
    const pulled = await a.engine.sync({ allowDeletes: true });
    expect(pulled.deletedLocal).toBe(15);
    expect(a.library.list()).toHaveLength(5);
  });

  it("a data file whose bytes do not match its hash is refused and not recorded", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const id = await a.add("doc", "the real content");
    await a.engine.sync();
    const hash = a.library.require(id).hash;
    await a.remote.put(`${hash.slice(0, 2)}/${hash}`, Buffer.from("tampered content"));
    await expect(b.engine.sync()).rejects.toThrow(/hash|integrity|match/i);
    expect(b.library.get(id)).toBeNull();
    expect(b.library.blobs.has(hash)).toBe(false);
  });

  it("an unreadable version.txt is 'unknown', never 'up to date'", async () => {
    const a = await instance("a");
    await a.add("x", "x");
    await a.engine.sync();
    await server.close();
    const status = await a.engine.status();
    expect(status.syncNeeded).toBeNull();
    const err = await a.engine.sync().catch((e: unknown) => e);
    expect(isRemoteError(err, "network")).toBe(true);
    expect((err as Error).message).toMatch(/version\.txt|127\.0\.0\.1/);
    server = await startDavServer();
  });

  it("a remote lock held by another instance makes the run fail with exit code 75 after lockWaitSeconds", async () => {
    const a = await instance("a", { lockWaitSeconds: 1 });
    await a.add("x", "x");
    await a.remote.mkdir("");
    await a.remote.mkdir("version.txt.lock");
    const claim = { token: "other", instance: "elsewhere", host: "far", pid: 1, ttlMs: 60_000, acquiredAt: new Date().toISOString() };
    await a.remote.put("version.txt.lock/other.json", Buffer.from(JSON.stringify(claim)));
    const err = await a.engine.sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as SyncdError).exitCode).toBe(75);
    expect((err as Error).message).toMatch(/elsewhere/);
    expect(a.library.pendingCount()).toBe(1);
  });

  it("a shutdown (abort signal) interrupts the wait for a busy lock at once", async () => {
    const a = await instance("a", { lockWaitSeconds: 30 });
    await a.add("x", "x");
    await a.remote.mkdir("");
    await a.remote.mkdir("version.txt.lock");
    const claim = { token: "other", instance: "elsewhere", host: "far", pid: 1, ttlMs: 60_000, acquiredAt: new Date().toISOString() };
    await a.remote.put("version.txt.lock/other.json", Buffer.from(JSON.stringify(claim)));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    const err = await a.engine.sync({ signal: controller.signal }).catch((e: unknown) => e);
    expect((err as SyncdError).code).toBe("aborted");
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await a.remote.list("version.txt.lock")).entries.map((e) => e.name)).toEqual(["other.json"]);
  });

  it("one sync per data directory: a second one in the same directory waits, or gives up with 75", async () => {
    const a = await instance("a", { lockWaitSeconds: 0 });
    for (let i = 0; i < 30; i++) await a.add(`f${i}`, "y".repeat(50_000) + i);
    const first = a.engine.sync();
    // Let the first run take the local lock before the second asks for it.
    await new Promise((r) => setTimeout(r, 50));
    const second = await a.engine.sync().catch((e: unknown) => e);
    expect(second).toBeInstanceOf(LocalLockBusyError);
    expect((second as SyncdError).exitCode).toBe(75);
    expect((await first).uploaded).toBe(30);
  });
});

describe("recovery", () => {
  it("adopts a metadata.db published by a writer that died before writing version.txt", async () => {
    const a = await instance("a");
    const b = await instance("b");
    await a.add("one", "1");
    // The first run writes the whole snapshot (a new share) and dies between moving it into place and
    // writing version.txt.
    const dying = Object.assign(Object.create(a.remote) as Remote, {
      put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
        if (path === "version.txt") throw new RemoteError("network", "PUT", `${a.remote.location}/version.txt`, "killed before version.txt.");
        return a.remote.put(path, body);
      },
    });
    await expect(new SyncEngine(a.library, dying, DEFAULT_SETTINGS).sync()).rejects.toThrow(/killed before version\.txt/);
    expect(await a.remote.stat("version.txt")).toBeNull();
    const summary = await b.engine.sync();
    expect(summary.version).toBe(1);
    expect(b.library.list().map((e) => e.name)).toEqual(["one"]);
    expect(b.events.some((e) => e.type === "log" && /^The share's version\.txt was missing or incomplete \(a sync stopped before writing it\); this run writes it again for version 1\.$/.test(e.message))).toBe(true);
    expect((await currentVersion(a)).version).toBe(1);
    expect((await currentVersion(a)).journal).not.toBeNull();
    // The writer that died learns that its publish landed: nothing to push again, no conflict.
    const again = await a.engine.sync();
    expect(again.conflicts).toBe(0);
    expect(a.library.list().map((e) => e.syncStatus)).toEqual(["synced"]);
  });

  it("after a writer died holding the lock, the next holder ignores its claim and removes its leftovers", async () => {
    const a = await instance("a");
    await a.add("one", "1");
    await a.engine.sync();
    const claim = { token: "dead", instance: "crashed", host: "h", pid: 1, ttlMs: 10_000, acquiredAt: "2026-01-01T00:00:00Z" };
    await a.remote.put("version.txt.lock/dead.json", Buffer.from(JSON.stringify(claim)));
    await a.remote.put("metadata.db.tmp-dead", Buffer.from("half an upload"));
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(join(server.dir, "syncd", "version.txt.lock", "dead.json"), past, past);
    await a.add("two", "2");
    const summary = await a.engine.sync();
    expect(summary.version).toBe(2);
    const files = Object.keys(shareSnapshot());
    expect(files).not.toContain("syncd/metadata.db.tmp-dead");
    expect(files.filter((f) => f.startsWith("syncd/version.txt.lock/"))).toEqual([]); // the dead claim is gone
    expect(a.events.some((e) => e.type === "log" && /^Removed temporary files that a sync which stopped left on the share: .*metadata\.db\.tmp-dead/.test(e.message))).toBe(true);
  });

  it("emits the phases of a run in order, with real totals, then the summary", async () => {
    const a = await instance("a");
    await a.add("one", "1111");
    await a.add("two", "22");
    await a.engine.sync();
    const phases = a.events.filter((e) => e.type === "sync.progress").map((e) => (e.type === "sync.progress" ? e.phase : ""));
    const order = [...new Set(phases)];
    expect(order).toEqual(["check", "lock", "metadata", "plan", "upload", "download", "publish", "apply"]);
    const upload = a.events.filter((e) => e.type === "sync.progress" && e.phase === "upload").at(-1);
    expect(upload).toMatchObject({ done: 2, total: 2, bytesDone: 6, bytesTotal: 6 });
    expect(a.events[0]).toEqual({ type: "sync.started", force: false });
    expect(a.events.at(-1)).toMatchObject({ type: "sync.completed", summary: { uploaded: 2, bytesUp: 6, version: 1 } });
  });
});
