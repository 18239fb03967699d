/**
 * The command line as users and scripts meet it (SPEC §5): exit codes, one-sentence errors, JSON shapes,
 * and the README's first run on the embedded share.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { makeInstance, runCli } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const SUMMARY_KEYS = [
  "skipped", "version", "uploaded", "downloaded", "deletedLocal", "deletedRemote",
  "metadataPushed", "metadataPulled", "conflicts", "bytesUp", "bytesDown", "durationMs",
].sort();
const STATUS_KEYS = ["unsynced", "localVersion", "remoteVersion", "syncNeeded", "lastSyncAt", "lastError", "conflicts"].sort();

function oneSentence(stderr: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^syncd: [A-Z].*[.)]$/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

let server: DavServer;
beforeAll(async () => {
  server = await startDavServer();
});
afterAll(async () => {
  await server?.close();
});

describe("bad usage and bad configuration exit with 2", () => {
  it("names an unknown key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-cli-"));
    const config = join(dir, "syncd.json");
    writeFileSync(config, JSON.stringify({ sync: { intervall: 5 } }));
    const r = await runCli(["--config", config, "status"]);
    expect(r.code).toBe(2);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("sync.intervall");
  });

  it("names a key of the wrong type", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-cli-"));
    const config = join(dir, "syncd.json");
    writeFileSync(config, JSON.stringify({ sync: { concurrency: "four" } }));
    const r = await runCli(["ls"], { env: { SYNCD_CONFIG: config } });
    expect(r.code).toBe(2);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("sync.concurrency");
  });

  it("says how to start when there is no configuration", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-cli-"));
    const r = await runCli(["ls"], { cwd: dir, env: { SYNCD_CONFIG: "" } });
    expect(r.code).toBe(2);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("syncd init");
  });

  it("rejects an unknown command and a hostile name", async () => {
    expect((await runCli(["frobnicate"])).code).toBe(2);
    const inst = makeInstance("names", { url: server.url, root: "/names" });
    const file = join(inst.dir, "f");
    writeFileSync(file, "x");
    const r = await inst.run("add", file, "--name", "../escape");
    expect(r.code).toBe(2);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("'..'");
    expect(await inst.json<unknown[]>("ls")).toEqual([]);
  });
});

describe("failures exit with 1 and one sentence; --verbose adds the stack", () => {
  it("an unknown entry id", async () => {
    const inst = makeInstance("missing", { url: server.url, root: "/missing" });
    const r = await inst.run("get", "01NOPE");
    expect(r.code).toBe(1);
    oneSentence(r.stderr);
    const verbose = await inst.run("get", "01NOPE", "--verbose");
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it("wrong credentials name the URL and the status", async () => {
    const locked = await startDavServer({ username: "me", password: "right" });
    try {
      const inst = makeInstance("creds", { url: locked.url, username: "me", password: "wrong" });
      await inst.ok("add", inst.configPath);
      const r = await inst.run("sync");
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^syncd: WebDAV \w+ http:\/\/127\.0\.0\.1:\d+\/syncd\/.* 401/);
    } finally {
      await locked.close();
    }
  });
});

it("exits 75 when the share's lock stays held by another instance", async () => {
  const root = "/busy";
  const remote = createWebdavRemote({ url: server.url, root, timeoutMs: 5000 });
  await remote.mkdir("");
  await remote.mkdir("version.txt.lock");
  const claim = { token: "t", instance: "desktop", host: "far", pid: 1, ttlMs: 120_000, acquiredAt: new Date().toISOString() };
  await remote.put("version.txt.lock/t.json", Buffer.from(JSON.stringify(claim)));
  await remote.close();
  const inst = makeInstance("waiter", { url: server.url, root }, { lockWaitSeconds: 1 });
  const r = await inst.run("sync");
  expect(r.code).toBe(75);
  expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^syncd: .*desktop/);
});

it("JSON output: sync and status have exactly the SPEC's keys; ls and add print entries", async () => {
  const inst = makeInstance("json", { url: server.url, root: "/json" });
  const file = join(inst.dir, "doc.txt");
  writeFileSync(file, "hello");
  const added = await inst.json<Record<string, unknown>>("add", file, "--meta", "year=2020", "--meta", "title=Deep learning");
  expect(added).toMatchObject({ name: "doc.txt", size: 5, meta: { year: 2020, title: "Deep learning" }, version: 1, deleted: false, syncStatus: "pending" });
  expect(added.hash).toMatch(/^[0-9a-f]{64}$/);
  const before = await inst.json<Record<string, unknown>>("status");
  expect(Object.keys(before).sort()).toEqual(STATUS_KEYS);
  expect(before).toMatchObject({ unsynced: 1, localVersion: null, syncNeeded: true, conflicts: 0 });
  const summary = await inst.json<Record<string, unknown>>("sync");
  expect(Object.keys(summary).sort()).toEqual(SUMMARY_KEYS);
  const after = await inst.json<Record<string, unknown>>("status");
  expect(after).toMatchObject({ unsynced: 0, localVersion: 1, remoteVersion: 1, syncNeeded: false, lastError: null });
  const listed = await inst.json<Array<Record<string, unknown>>>("ls");
  expect(listed).toEqual([{ ...added, syncStatus: "synced" }]);
  const out = join(inst.dir, "copy");
  await inst.ok("get", added.id as string, "--out", out);
  expect(readFileSync(out, "utf8")).toBe("hello");
});

it("the README's first run: init, add and sync on the embedded share", async () => {
  const dir = mkdtempSync(join(tmpdir(), "syncd-readme-"));
  const init = await runCli(["init"], { cwd: dir, env: { SYNCD_CONFIG: "" } });
  expect(init.code, init.stderr).toBe(0);
  writeFileSync(join(dir, "a.txt"), "local file");
  expect((await runCli(["add", "a.txt"], { cwd: dir, env: { SYNCD_CONFIG: "" } })).code).toBe(0);
  const sync = await runCli(["sync", "--json"], { cwd: dir, env: { SYNCD_CONFIG: "" } });
  expect(sync.code, sync.stderr).toBe(0);
  expect(JSON.parse(sync.stdout)).toMatchObject({ uploaded: 1, version: 1 });
  expect(readFileSync(join(dir, "data", "share", "syncd", "version.txt"), "utf8")).toMatch(/^1\nsha256=[0-9a-f]{64}\nshare=/);
  const again = await runCli(["sync", "--json"], { cwd: dir, env: { SYNCD_CONFIG: "" } });
  expect(JSON.parse(again.stdout)).toMatchObject({ skipped: true, version: 1 });
});
