/**
 * Issue 5's engine-side guarantees: an interrupted run resumes without repeating verified uploads,
 * tombstones are purged after the retention window without resurrecting anything, and orphaned data
 * files are collected only after their grace period. In-process engines against a real WebDAV server.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import Database from "better-sqlite3";
import { SyncEngine } from "../../src/sync/engine.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";

let server: DavServer;
const opened: EngineInstance[] = [];
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const DATA = /^\/syncd\/[0-9a-f]{2}\/[0-9a-f]{64}$/;

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

/** A Remote whose data-file PUTs start failing after `okPuts` of them (a dropped network, a kill). */
function failingAfter(inner: Remote, okPuts: number): Remote {
  let puts = 0;
  return Object.assign(Object.create(inner) as Remote, {
    put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
      if (/^[0-9a-f]{2}\//.test(path) && ++puts > okPuts) {
        throw new RemoteError("network", "PUT", `${inner.location}/${path}`, "connection reset by the server.");
      }
      return inner.put(path, body);
    },
  });
}

describe("an interrupted run", () => {
  it("resumes without repeating the uploads it had verified, and publishes nothing half-done", async () => {
    const a = await instance("a");
    for (let i = 0; i < 300; i++) await a.add(`f${i}`, `content of file ${i}`);
    const broken = new SyncEngine(a.library, failingAfter(a.remote, 280), DEFAULT_SETTINGS);
    await expect(broken.sync()).rejects.toThrow(/connection reset/);
    // Nothing referenced the uploads: the share has no metadata yet, the library is still pending.
    expect(server.requests.some((r) => r.path === "/syncd/metadata.db" && r.method === "MOVE")).toBe(false);
    expect(a.library.pendingCount()).toBe(300);

    server.reset();
    const summary = await a.engine.sync();
    const dataPuts = server.requests.filter((r) => r.method === "PUT" && DATA.test(r.path)).length;
    // The first verified batch (whole data folders, transfer.ts uploadBatches: 256 files with these contents)
    // is not sent again; only the rest is.
    expect(dataPuts).toBe(300 - 256);
    expect(summary).toMatchObject({ uploaded: 300, version: 1 });
    expect(a.events.some((e) => e.type === "log" && /^The previous sync stopped before it finished \(in its upload step/.test(e.message))).toBe(true);

    const b = await instance("b");
    const pulled = await b.engine.sync();
    expect(pulled.downloaded).toBe(300);
  });

  it("looks again at what it had verified: a file cut short or removed since is uploaded again", async () => {
    const a = await instance("a");
    const contents = Array.from({ length: 300 }, (_, i) => `content of file ${i}`);
    for (const [i, text] of contents.entries()) await a.add(`f${i}`, text);
    const broken = new SyncEngine(a.library, failingAfter(a.remote, 280), DEFAULT_SETTINGS);
    await expect(broken.sync()).rejects.toThrow(/connection reset/);
    // Uploads go in hash order: the two first hashes are in the verified batch. Since then one was cut short
    // (another instance with the same content killed mid-PUT on a server that writes in place: rclone,
    // sabre/dav) and one removed (orphan collection by an instance that never saw it referenced).
    const [cut, gone] = contents.map(sha256).sort();
    const onDisk = (hash: string) => join(server.dir, "syncd", hash.slice(0, 2), hash);
    writeFileSync(onDisk(cut!), "content of");
    rmSync(onDisk(gone!));

    server.reset();
    await a.engine.sync();
    const dataPuts = server.requests.filter((r) => r.method === "PUT" && DATA.test(r.path)).map((r) => r.path.slice(-64));
    expect(dataPuts).toHaveLength(300 - 256 + 2);
    expect(dataPuts).toEqual(expect.arrayContaining([cut, gone]));
    const b = await instance("b");
    expect((await b.engine.sync()).downloaded).toBe(300);
  });
});

describe("content that only a tombstone names", () => {
  // An entry created and deleted before its first sync is published as a tombstone that names its content,
  // which never reached the share. Another entry with the same content must still upload it: found by
  // running the kill test on rclone, where a killed first upload leaves that content cut short.
  it("is uploaded when a live entry needs it, and every instance can download it", async () => {
    const a = await instance("a");
    const b = await instance("b");
    await a.add("keep", "keep");
    await a.engine.sync();
    const gone = await a.add("gone", "same content");
    a.library.remove(gone);
    await a.engine.sync();
    const hash = sha256("same content");
    const onShare = () => existsSync(join(server.dir, "syncd", hash.slice(0, 2), hash));
    expect(onShare()).toBe(false);
    await b.engine.sync();
    await b.add("again", "same content");
    await b.engine.sync();
    expect(onShare()).toBe(true);
    const c = await instance("c");
    const pulled = await c.engine.sync();
    expect(pulled.downloaded).toBe(2);
    expect(c.library.list().map((e) => e.name).sort()).toEqual(["again", "keep"]);
  });
});

describe("a downloaded file that vanishes before the local commit", () => {
  // Another process on this data directory released the same bytes (it changed an entry that held them)
  // between this run's download and its commit: the rows that needed them must arrive with the next run,
  // and never point at missing bytes meanwhile.
  it("leaves no row pointing at missing bytes, and the next run brings the entries in", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const known = await a.add("known", "v1");
    await a.engine.sync();
    await b.engine.sync();
    const fresh = await a.add("fresh", "a new entry");
    await a.library.updateContent(known, Buffer.from("v2"));
    await a.engine.sync();

    // b's next run downloads both blobs; they vanish as its apply phase starts.
    const racing = new SyncEngine(b.library, b.remote, DEFAULT_SETTINGS, (e) => {
      if (e.type === "sync.progress" && e.phase === "apply") {
        for (const text of ["v2", "a new entry"]) rmSync(b.library.blobs.path(sha256(text)), { force: true });
      }
    });
    await racing.sync();
    expect(b.library.get(known)?.hash).toBe(sha256("v1")); // still the old content, which it has
    expect(b.library.get(fresh)).toBeNull();
    for (const e of b.library.list()) expect(b.library.blobs.has(e.hash), e.name).toBe(true);
    expect((await b.engine.status()).syncNeeded).toBe(true);

    // The next run is not "up to date": it brings both in.
    const next = await b.engine.sync();
    expect(next.skipped).toBe(false);
    expect(b.library.get(known)).toMatchObject({ hash: sha256("v2"), syncStatus: "synced" });
    expect(b.library.get(fresh)).toMatchObject({ hash: sha256("a new entry"), syncStatus: "synced" });
    expect((await b.engine.sync()).skipped).toBe(true);
  });
});

describe("tombstone retention", () => {
  it("purges expired tombstones from the share and the library; a long-absent instance does not resurrect them", async () => {
    // A one-second window, which real time passes: a purge needs both this machine's clock and the share
    // server's to say the tombstone is older than the window (1 s granularity of the server's Date).
    const a = await instance("a", { tombstoneRetentionDays: 1 / 86_400 });
    const c = await instance("c");
    const keep = await a.add("keep", "keep");
    const gone = await a.add("gone", "gone");
    await a.engine.sync();
    await c.engine.sync();
    a.library.remove(gone);
    await a.engine.sync();
    await sleep(2500);
    // Past the window: the tombstone is purged by the next publishing run.
    await a.add("later", "later");
    await a.engine.sync();
    const rows = a.library.list({ includeDeleted: true }).map((e) => e.id);
    expect(rows).not.toContain(gone);
    expect(rows).toContain(keep);

    // c synced before the tombstone was purged (the share records how far purges reached): it reconciles in
    // full, whatever its clock says of its last sync, and learns of the deletion.
    const summary = await c.engine.sync();
    expect(summary.deletedLocal).toBe(1);
    expect(c.library.get(gone)?.deleted).toBe(true);
    expect(c.library.list().map((e) => e.name).sort()).toEqual(["keep", "later"]);
    // And the share did not get the entry back.
    await a.engine.sync({ force: true });
    expect(a.library.list().map((e) => e.name).sort()).toEqual(["keep", "later"]);
  });
});

describe("orphaned data files", () => {
  /** Moves the share's record of when content became unreferenced back by `ms`, as time passing would. */
  function ageGarbage(inst: EngineInstance, ms: number): void {
    const replica = new Database(join(inst.library.dataDir, "share-replica.db"));
    try {
      replica.prepare("UPDATE garbage SET server_at = server_at - ?").run(ms);
    } finally {
      replica.close();
    }
  }

  it("content a commit replaced is deleted from the share once the grace period is over, without listing any data folder", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const id = await a.add("doc", "first content");
    const kept = await a.add("kept", "stays referenced");
    await a.engine.sync();
    await b.engine.sync();
    const first = a.library.require(id).hash;
    await a.library.updateContent(id, Buffer.from("second content"));
    await a.engine.sync();
    // Replaced a moment ago: kept (an interrupted run elsewhere may still mean to name it).
    expect(await a.remote.stat(`${first.slice(0, 2)}/${first}`)).not.toBeNull();
    await a.add("another", "change to publish");
    await a.engine.sync();
    expect(await a.remote.stat(`${first.slice(0, 2)}/${first}`)).not.toBeNull();

    ageGarbage(a, 2 * 86_400_000);
    server.reset();
    const third = await a.add("third", "3");
    await a.engine.sync();
    expect(a.events.some((e) => e.type === "log" && /removed 1 unreferenced data files/.test(e.message))).toBe(true);
    const uploadedTo = a.library.require(third).hash.slice(0, 2); // the verification of the run's own upload
    expect(await a.remote.stat(`${first.slice(0, 2)}/${first}`)).toBeNull();
    const keptHash = a.library.require(kept).hash;
    expect(await a.remote.stat(`${keptHash.slice(0, 2)}/${keptHash}`)).not.toBeNull();
    const listed = server.requests.filter((r) => r.method === "PROPFIND" && /^\/syncd\/[0-9a-f]{2}\/?$/.test(r.path));
    expect(listed.map((r) => r.path).filter((path) => path !== `/syncd/${uploadedTo}/`)).toEqual([]);
    // The collection is a change like any other: the other instance learns it, and nobody deletes it twice.
    await b.engine.sync();
    expect(b.library.require(id).hash).toBe(sha256("second content"));
  });

  it("content that a later commit names again is not deleted", async () => {
    const a = await instance("a");
    const id = await a.add("doc", "v1");
    await a.engine.sync();
    await a.library.updateContent(id, Buffer.from("v2"));
    await a.engine.sync();
    await a.add("copy of v1", "v1");
    await a.engine.sync();
    ageGarbage(a, 2 * 86_400_000);
    await a.add("more", "more");
    await a.engine.sync();
    expect(await a.remote.stat(`${sha256("v1").slice(0, 2)}/${sha256("v1")}`)).not.toBeNull();
  });
});

