/**
 * The TypeScript API of SPEC §7 (src/index.ts), as an application uses it: two instances opened from
 * configuration objects on one real WebDAV server (webdav-server on 127.0.0.1), writing through the API
 * and syncing with progress listeners and abort signals. The packed tarball is tested in package.test.ts.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, openSyncd, parseConfig, SyncdError, type ProgressEvent, type Syncd, type SyncEvent } from "../../src/index.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

describe("configuration", () => {
  it("checks an object with the file's schema, and says where the problem is in one sentence", async () => {
    const err = await openSyncd({ dataDir: "./d", sync: { conflictPolicy: "coin_flip" } } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as ConfigError).message).toBe(
      'Invalid configuration in the configuration object: sync.conflictPolicy must be one of "manual", "local_wins", "remote_wins", "keep_both", "newest" (got "coin_flip").',
    );
    expect(() => parseConfig({ webdav: { url: "https://dav.example" }, extra: 1 })).toThrow('Unknown key "extra" in the configuration object.');
  });

  it("resolves relative paths against baseDir, and a file's against its folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "syncd-api-config-"));
    expect(parseConfig({ dataDir: "lib" }, { baseDir: dir }).dataDir).toBe(join(dir, "lib"));
    await writeFile(join(dir, "syncd.json"), JSON.stringify({ dataDir: "./data", sync: { intervalSeconds: 5 } }));
    const config = loadConfigFile(join(dir, "syncd.json"));
    expect(config).toMatchObject({ configPath: join(dir, "syncd.json"), dataDir: join(dir, "data"), sync: { intervalSeconds: 5 } });
  });
});

it("refuses to sync once closed, with a sentence", async () => {
  const syncd = await openSyncd({ dataDir: await mkdtemp(join(tmpdir(), "syncd-api-closed-")) });
  await syncd.close();
  const err = await syncd.sync().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SyncdError);
  expect((err as SyncdError).message).toBe("This syncd instance was closed; open it again to sync.");
});

describe("two instances through the API", () => {
  let server: DavServer;
  let a: Syncd;
  let b: Syncd;

  const open = async (name: string) =>
    openSyncd(
      {
        instanceName: name,
        dataDir: "data",
        webdav: { url: server.url, username: "u", password: "p", root: "/lib" },
        sync: { lockWaitSeconds: 10 },
      },
      { baseDir: await mkdtemp(join(tmpdir(), `syncd-api-${name}-`)) },
    );

  beforeAll(async () => {
    server = await startDavServer({ username: "u", password: "p" });
    a = await open("a");
    b = await open("b");
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.close();
  });

  it("syncs an entry written through the API, reporting its progress by bytes", async () => {
    const bytes = Buffer.alloc(300_000, 7);
    const entry = await a.add(bytes, { name: "scans/one.bin", meta: { year: 1999 } });
    const progress: ProgressEvent[] = [];
    const events: SyncEvent["type"][] = [];
    const summary = await a.sync({ onProgress: (e) => progress.push(e), onEvent: (e) => events.push(e.type) });
    expect(summary).toMatchObject({ skipped: false, version: 1, uploaded: 1, bytesUp: bytes.length, conflicts: 0 });
    const upload = progress.filter((e) => e.phase === "upload");
    expect(upload.at(-1)).toMatchObject({ done: 1, total: 1, bytesDone: bytes.length, bytesTotal: bytes.length });
    expect(events[0]).toBe("sync.started");
    expect(events.at(-1)).toBe("sync.completed");
    expect(a.get(entry.id)?.syncStatus).toBe("synced");

    expect(await b.sync()).toMatchObject({ downloaded: 1, version: 1 });
    expect(b.list().map((e) => [e.id, e.name, e.meta])).toEqual([[entry.id, "scans/one.bin", { year: 1999 }]]);
    expect(Buffer.from(await text(b.content(entry.id)), "latin1").equals(bytes)).toBe(true);
    expect(await b.status()).toMatchObject({ unsynced: 0, localVersion: 1, remoteVersion: 1, syncNeeded: false, conflicts: 0 });
  });

  it("holds a conflict for resolve(), and the resolution reaches the other instance", async () => {
    const [entry] = a.list();
    if (!entry) throw new Error("no entry");
    await a.update(entry.id, { meta: { set: { year: 2021 } } });
    await b.update(entry.id, { meta: { set: { year: 1998 } }, name: "scans/first.bin" });
    await a.sync();
    expect(await b.sync()).toMatchObject({ conflicts: 1 });
    const [conflict] = b.conflicts();
    expect(conflict).toMatchObject({ entryId: entry.id, fields: ["meta.year"] });
    expect([conflict?.local.meta.year, conflict?.remote.meta.year]).toEqual([1998, 2021]);

    const resolved = await b.resolve(conflict?.id ?? "", "local_wins");
    expect(resolved).toMatchObject({ strategy: "local_wins", copy: null, entry: { id: entry.id, syncStatus: "pending" } });
    await b.sync();
    await a.sync();
    expect(a.get(entry.id)).toMatchObject({ name: "scans/first.bin", meta: { year: 1998 } });
    expect(b.conflicts()).toEqual([]);
  });

  it("deletes and restores through the share, content included", async () => {
    const [entry] = b.list();
    if (!entry) throw new Error("no entry");
    b.remove(entry.id);
    await b.sync();
    await a.sync();
    expect(a.get(entry.id)?.deleted).toBe(true);
    expect(a.list()).toEqual([]);
    expect(() => a.content(entry.id)).toThrow(SyncdError);

    // a released the bytes when the deletion arrived: restore() fetches them back from the share.
    const [restored] = await a.restore(entry.id);
    expect(restored).toMatchObject({ id: entry.id, deleted: false, syncStatus: "pending" });
    expect((await text(a.content(entry.id))).length).toBe(300_000);
  });

  it("stops a run on its abort signal with a SyncdError, and the next run completes", async () => {
    await a.add(Buffer.from("late\n"), { name: "late.txt" });
    const stop = new AbortController();
    stop.abort();
    const err = await a.sync({ signal: stop.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncdError);
    expect((err as SyncdError).code).toBe("aborted");
    // The stopped run left both changes pending: the entry restored above and the new one.
    expect(await a.sync()).toMatchObject({ uploaded: 2 });
    expect((await a.status()).unsynced).toBe(0);
    expect(a.list().map((e) => e.syncStatus)).toEqual(["synced", "synced"]);
  });
});
