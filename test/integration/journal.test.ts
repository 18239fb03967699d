/**
 * Share format 2 (docs/share-format.md): readers catch up by journal segments, writers publish one segment
 * per commit, and compaction folds the journal into a new snapshot, safely at every step. In-process engines
 * against the in-process WebDAV server; a "crash" is a request that fails at the chosen point (the run then
 * stops, as a killed process would: its replica rolls its pending changes back), and the kill test does the
 * same with real processes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import { SyncEngine, type SyncSettings } from "../../src/sync/engine.js";
import { parseVersionFile } from "../../src/share/version-file.js";
import { checkShare } from "../helpers/chaos.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import { journalFiles } from "../helpers/share-state.js";

let server: DavServer;
const opened: EngineInstance[] = [];
let n = 0;
let root = "";

beforeAll(async () => {
  server = await startDavServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const inst of opened.splice(0)) await inst.close();
});

function newRoot(): string {
  root = `/journal-${++n}`;
  return root;
}

async function instance(name: string, settings: Partial<SyncSettings> = {}): Promise<EngineInstance> {
  const inst = await makeEngineInstance(name, { url: server.url, root }, settings);
  opened.push(inst);
  return inst;
}

const shareDir = () => join(server.dir, root.slice(1));
const versionInfo = () => parseVersionFile(readFileSync(join(shareDir(), "version.txt"), "utf8"))!;
const names = (inst: EngineInstance) => inst.library.list().map((e) => e.name).sort();
const requestsTo = (pattern: RegExp) => server.requests.filter((r) => pattern.test(r.path));

/** A remote that fails one request (the crash point) and counts what reached the server before it. */
function crashingAt(inner: Remote, point: (method: string, path: string) => boolean): Remote {
  const fail = (method: string, path: string) => {
    if (point(method, path)) throw new RemoteError("network", method, `${inner.location}/${path}`, "killed here.");
  };
  return Object.assign(Object.create(inner) as Remote, {
    put: async (path: string, body: Parameters<Remote["put"]>[1]) => (fail("PUT", path), inner.put(path, body)),
    move: async (from: string, to: string) => (fail("MOVE", from), inner.move(from, to)),
    list: async (dir: string) => (fail("PROPFIND", dir), inner.list(dir)),
    delete: async (path: string) => (fail("DELETE", path), inner.delete(path)),
  });
}

describe("reading the journal", () => {
  it("a reader 40 commits behind catches up by segments, following back-links, without the snapshot", async () => {
    newRoot();
    const a = await instance("a");
    const b = await instance("b");
    await a.add("first", "1");
    await a.engine.sync();
    await b.engine.sync();
    for (let i = 0; i < 40; i++) {
      await a.add(`e${i}`, `content ${i}`);
      await a.engine.sync();
    }
    const info = versionInfo();
    expect(info.version).toBe(41);
    expect(info.journal!.window).toHaveLength(16);
    expect(info.journal!.snapshot.version).toBe(1); // 40 small segments: under the bounds, no compaction
    server.reset();
    await b.engine.sync();
    expect(names(b)).toEqual(names(a));
    expect(requestsTo(/\/metadata\.db$/)).toEqual([]);
    expect(requestsTo(/\/journal\/\d{12}-[0-9a-f]{64}\.seg$/).filter((r) => r.method === "GET")).toHaveLength(40);
  });

  it("one commit is one segment and one version.txt: neither side moves the snapshot", async () => {
    newRoot();
    const a = await instance("a");
    const b = await instance("b");
    for (let i = 0; i < 20; i++) await a.add(`e${i}`, `c${i}`);
    await a.engine.sync();
    await b.engine.sync();
    const id = a.library.list()[0]!.id;
    a.library.updateMeta(id, { set: { year: 1999 } });
    server.reset();
    await a.engine.sync();
    const writer = [...server.requests];
    server.reset();
    await b.engine.sync();
    const reader = [...server.requests];
    expect(b.library.get(id)?.meta).toEqual({ year: 1999 });
    for (const requests of [writer, reader]) expect(requests.filter((r) => /metadata\.db/.test(r.path))).toEqual([]);
    const puts = writer.filter((r) => r.method === "PUT" && !/version\.txt\.lock\//.test(r.path)).map((r) => r.path);
    expect(puts).toEqual([expect.stringMatching(/\/journal\/000000000002-[0-9a-f]{64}\.seg$/), `${root}/version.txt`]);
    expect(reader.filter((r) => r.method === "GET" && /\/journal\/\d{12}-/.test(r.path))).toHaveLength(1);
  });

});

describe("compaction", () => {
  it("folds the journal into a new snapshot past its bounds; readers behind it still catch up by the kept journal", async () => {
    newRoot();
    const a = await instance("a", { compaction: { maxSegments: 5 } });
    const b = await instance("b");
    await a.add("first", "1");
    await a.engine.sync();
    await b.engine.sync();
    for (let i = 0; i < 6; i++) {
      await a.add(`e${i}`, `c${i}`);
      await a.engine.sync();
    }
    const info = versionInfo();
    expect(info.journal!.snapshot.version).toBe(7);
    expect(info.journal!.first).toBe(2);
    expect(a.events.some((e) => e.type === "log" && /compacted the share's journal/.test(e.message))).toBe(true);
    server.reset();
    await b.engine.sync();
    expect(names(b)).toEqual(names(a));
    expect(requestsTo(/\/metadata\.db$/)).toEqual([]);
    // The next compaction deletes the journal before the previous snapshot.
    for (let i = 0; i < 6; i++) {
      await a.add(`f${i}`, `d${i}`);
      await a.engine.sync();
    }
    expect(versionInfo().journal!.first).toBe(8);
    expect(journalFiles(shareDir()).map((f) => Number(f.slice(0, 12))).sort((x, y) => x - y)[0]).toBe(8);
    // A new instance reads the snapshot and the segments after it.
    const c = await instance("c");
    await c.engine.sync();
    expect(names(c)).toEqual(names(a));
    expect(checkShare(shareDir()).problems).toEqual([]);
  });

  const steps: Array<[string, (method: string, path: string) => boolean]> = [
    ["uploading the new snapshot", (m, p) => m === "PUT" && p.startsWith("metadata.db.tmp-")],
    ["writing version.txt with compacting=", (m, p) => m === "PUT" && p === "version.txt" && compactingWrites++ === 1],
    ["moving the snapshot into place", (m) => m === "MOVE"],
    ["writing the final version.txt", (m, p) => m === "PUT" && p === "version.txt" && compactingWrites++ === 2],
    ["listing the journal for old segments", (m, p) => m === "PROPFIND" && p === "journal"],
    ["deleting an old segment", (m, p) => m === "DELETE" && p.startsWith("journal/")],
  ];
  let compactingWrites = 0;

  it.each(steps)("a writer that dies %s leaves a share that every instance reads, and the next holder goes on", async (_step, point) => {
    newRoot();
    const a = await instance("a", { compaction: { maxSegments: 0 } });
    const b = await instance("b");
    const c = await instance("c");
    await a.add("first", "1");
    await a.engine.sync();
    await b.engine.sync();
    await a.add("second", "2");
    await a.engine.sync(); // compacts: snapshot 2, journal from 2
    await a.add("third", "3");
    compactingWrites = 0;
    const crashing = new SyncEngine(a.library, crashingAt(a.remote, point), { ...DEFAULT_SETTINGS, compaction: { maxSegments: 0 } });
    // The crash comes after version.txt named the segment (compaction follows the publish): the run fails,
    // but "third" is on the share whatever the step.
    await expect(crashing.sync()).rejects.toThrow(/killed here/);
    const check = checkShare(shareDir());
    expect(check.problems).toEqual([]);
    expect(check.version).toBe(3);
    // An instance with a replica one version behind, a new one, and the writer itself all read it.
    await b.engine.sync();
    await c.engine.sync();
    for (const inst of [b, c]) expect(names(inst), inst.name).toEqual(["first", "second", "third"]);
    // The next writer (the lease of the dead run is gone: it failed and released it) publishes and compacts.
    await b.add("fourth", "4");
    const bc = new SyncEngine(b.library, b.remote, { ...DEFAULT_SETTINGS, compaction: { maxSegments: 0 } });
    await bc.sync();
    await a.engine.sync();
    await c.engine.sync();
    for (const inst of [a, b, c]) expect(names(inst), inst.name).toEqual(["first", "fourth", "second", "third"]);
    const after = checkShare(shareDir());
    expect(after.problems).toEqual([]);
    expect(versionInfo().journal!.compacting).toBeNull();
  });

  it("a reader without the lock whose segments vanish in a compaction goes back to version.txt", async () => {
    newRoot();
    const a = await instance("a");
    const r = await instance("r");
    await a.add("first", "1");
    await a.engine.sync();
    await r.engine.sync();
    for (const name of ["e0", "e1"]) {
      await a.add(name, name);
      await a.engine.sync();
    }
    // The reader (a dry run: no lock, a copy of its own) has read version.txt (snapshot 1, segments 2 and 3);
    // before it fetches them the writer commits twice, compacting each time: the second compaction deletes them.
    const compacting = new SyncEngine(a.library, a.remote, { ...DEFAULT_SETTINGS, compaction: { maxSegments: 0 } });
    let raced = false;
    const reader = Object.assign(Object.create(r.remote) as Remote, {
      getStream: async (path: string) => {
        if (!raced && path.startsWith("journal/")) {
          raced = true;
          for (const name of ["late-1", "late-2"]) {
            await a.add(name, name);
            await compacting.sync();
          }
        }
        return r.remote.getStream(path);
      },
    });
    const dry = await new SyncEngine(r.library, reader, DEFAULT_SETTINGS).sync({ dryRun: true });
    expect(raced).toBe(true);
    expect(versionInfo().journal!.first).toBe(5);
    expect(dry.version).toBe(5);
    expect(dry.dryRun?.changes.map((c) => c.name).sort()).toEqual(["e0", "e1", "late-1", "late-2"]);
  });
});
