/**
 * A full reconciliation of many rows goes in batches (engine.ts RUN_BATCH): each one planned, transferred,
 * published and committed locally on its own, so that memory does not grow with the library. In-process
 * engines with a small batch size against the in-process WebDAV server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { checkShare } from "../helpers/chaos.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import { join } from "node:path";

let server: DavServer;
const opened: EngineInstance[] = [];
let n = 0;
beforeAll(async () => {
  server = await startDavServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const inst of opened.splice(0)) await inst.close();
});

const BATCH = { ...DEFAULT_SETTINGS, batchSize: 5 };
async function instance(name: string, root: string): Promise<EngineInstance> {
  const inst = await makeEngineInstance(name, { url: server.url, root }, { batchSize: 5 });
  opened.push(inst);
  return inst;
}
const names = (inst: EngineInstance) => inst.library.list().map((e) => e.name).sort();

describe("a full reconciliation in batches", () => {
  it("a first upload and a first download of 23 entries go 5 at a time, one share version each", async () => {
    const root = `/batches-${++n}`;
    const a = await instance("a", root);
    for (let i = 0; i < 23; i++) await a.add(`e${String(i).padStart(2, "0")}`, `content ${i}`);
    const up = await a.engine.sync();
    expect(up.uploaded).toBe(23);
    expect(up.version).toBe(5);
    const b = await instance("b", root);
    const down = await b.engine.sync();
    expect(down.downloaded).toBe(23);
    expect(names(b)).toEqual(names(a));
    expect(b.library.list().every((e) => e.syncStatus === "synced")).toBe(true);
    // Both are in sync: the next runs are skipped.
    expect((await a.engine.sync()).skipped).toBe(true);
    expect((await b.engine.sync()).skipped).toBe(true);
    expect(checkShare(join(server.dir, root.slice(1))).problems).toEqual([]);
  });

  it("a run killed after some batches keeps them, and the next run reconciles the rest in full", async () => {
    const root = `/batches-${++n}`;
    const a = await instance("a", root);
    for (let i = 0; i < 23; i++) await a.add(`e${String(i).padStart(2, "0")}`, `content ${i}`);
    let versionWrites = 0;
    const dying = Object.assign(Object.create(a.remote) as Remote, {
      put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
        if (path === "version.txt" && ++versionWrites === 3) throw new RemoteError("network", "PUT", `${a.remote.location}/${path}`, "killed in batch 3.");
        return a.remote.put(path, body);
      },
    });
    await expect(new SyncEngine(a.library, dying, BATCH).sync()).rejects.toThrow(/killed in batch 3/);
    expect(a.library.list().filter((e) => e.syncStatus === "synced")).toHaveLength(10);
    const again = await a.engine.sync();
    expect(again.uploaded).toBe(13);
    const b = await instance("b", root);
    await b.engine.sync();
    expect(names(b)).toEqual(names(a));
  });

  it("the deletion guard weighs the whole run, not each batch", async () => {
    const root = `/batches-${++n}`;
    const a = await instance("a", root);
    for (let i = 0; i < 30; i++) await a.add(`e${i}`, `c${i}`);
    await a.engine.sync();
    const b = await instance("b", root);
    await b.engine.sync();
    // 20 of 30 deleted on a; b is made to reconcile in full (forced): 4 batches of 5 deletions each, each
    // under the guard's 50 %, together above it.
    for (const e of a.library.list().slice(0, 20)) a.library.remove(e.id);
    await a.engine.sync({ allowDeletes: true });
    await expect(b.engine.sync({ force: true })).rejects.toMatchObject({ code: "too-many-deletions" });
    expect(b.library.list()).toHaveLength(30);
    await b.engine.sync({ force: true, allowDeletes: true });
    expect(b.library.list()).toHaveLength(10);
  });
});
