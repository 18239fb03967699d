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
    const unknown = await runCli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    oneSentence(unknown.stderr);
    expect(unknown.stderr).toBe(`syncd: Unknown command 'frobnicate'. See "syncd --help".\n`);
    const inst = makeInstance("names", { url: server.url, root: "/names" });
    const file = join(inst.dir, "f");
    writeFileSync(file, "x");
    const r = await inst.run("add", file, "--name", "../escape");
    expect(r.code).toBe(2);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("'..'");
    expect(await inst.json<unknown[]>("ls")).toEqual([]);
  });

  it("an update with a bad field changes nothing, not even the content given with it", async () => {
    const inst = makeInstance("update", { url: server.url, root: "/update" });
    const [one, two] = [join(inst.dir, "one"), join(inst.dir, "two")];
    writeFileSync(one, "one");
    writeFileSync(two, "the new content");
    const id = (await inst.ok("add", one, "--name", "one")).trim();
    const before = await inst.json<unknown[]>("ls");
    for (const bad of [["--name", "../escape"], ["--meta", "a=1", "--unset", "a"]]) {
      const r = await inst.run("update", id, "--file", two, ...bad);
      expect(r.code).toBe(2);
      oneSentence(r.stderr);
      expect(await inst.json<unknown[]>("ls")).toEqual(before);
    }
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

/** A failure under --json: exactly one JSON document on stdout, `{error: {code, message}}`, and the sentence on stderr. */
function jsonFailure(r: { code: number; stdout: string; stderr: string }, exitCode: number, code: string): { code: string; message: string } {
  expect(r.code, r.stderr).toBe(exitCode);
  const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } }; // throws unless one document
  expect(doc.error.code).toBe(code);
  expect(r.stderr.trim().split("\n").at(-1)).toBe(`syncd: ${doc.error.message}`);
  return doc.error;
}

describe("with --json, every failure is one JSON document on stdout too, with the same exit code", () => {
  it("bad configuration and bad usage: exit 2, for every command that takes --json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-cli-"));
    const config = join(dir, "syncd.json");
    writeFileSync(config, JSON.stringify({ sync: { intervall: 5 } }));
    const commands = [["status"], ["sync"], ["ls"], ["conflicts"], ["check"], ["probe"], ["invite"], ["resolve", "01X", "--strategy", "local_wins"], ["restore", "01X"], ["import", dir], ["add", config], ["update", "01X", "--name", "n"]];
    const results = await Promise.all(commands.map((c) => runCli(["--config", config, ...c, "--json"])));
    for (const [i, r] of results.entries()) {
      expect(jsonFailure(r, 2, "config").message, commands[i]?.join(" ")).toContain("sync.intervall");
    }
    const inst = makeInstance("usage", { url: server.url, root: "/usage" });
    const [unknownOption, neither, both, badStrategy, noStrategy] = await Promise.all([
      inst.run("sync", "--json", "--forse"),
      inst.run("resolve", "--strategy", "local_wins", "--json"),
      inst.run("resolve", "01X", "--all", "--strategy", "local_wins", "--json"),
      inst.run("resolve", "--all", "--strategy", "newest", "--json"),
      inst.run("resolve", "--all", "--json"),
    ]);
    expect(jsonFailure(unknownOption, 2, "usage").message).toBe(`Unknown option '--forse'. Did you mean --force? See "syncd sync --help".`);
    expect(jsonFailure(neither, 2, "usage").message).toContain("or --all");
    expect(jsonFailure(both, 2, "usage").message).toBe("Give either a conflict id (01X) or --all, not both.");
    expect(jsonFailure(badStrategy, 2, "invalid-strategy").message).toContain('"newest"');
    expect(jsonFailure(noStrategy, 2, "usage").message).toContain("'--strategy <strategy>'");
    // Without --json the same failure prints nothing on stdout.
    const plain = await inst.run("resolve", "--strategy", "local_wins");
    expect(plain).toMatchObject({ code: 2, stdout: "" });
    oneSentence(plain.stderr);
  });

  it("failures of the command itself: exit 1 with the error's code", async () => {
    const inst = makeInstance("json-fail", { url: server.url, root: "/json-fail" });
    const [conflict, entry] = await Promise.all([
      inst.run("resolve", "01NOSUCHCONFLICT", "--strategy", "remote_wins", "--json"),
      inst.run("restore", "01NOSUCHENTRY", "--json"),
    ]);
    expect(jsonFailure(conflict, 1, "conflict-not-found").message).toBe('No conflict with id 01NOSUCHCONFLICT in this library; "syncd conflicts" lists the open ones.');
    expect(jsonFailure(entry, 1, "entry-not-found").message).toContain("01NOSUCHENTRY");
  });
});

it("--version prints the version in package.json", async () => {
  const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  const r = await runCli(["--version"]);
  expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
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
  // One after the other: two at once on one data directory would meet this machine's own lock first.
  const r = await inst.run("sync");
  const json = await inst.run("sync", "--json");
  expect(r.code).toBe(75);
  expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^syncd: .*desktop/);
  expect(jsonFailure(json, 75, "lock-busy").message).toContain("desktop");
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
