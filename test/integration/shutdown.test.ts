/**
 * SIGTERM / SIGINT while a request to the share is stalled (issue 11): `syncd sync` and `syncd daemon`
 * used to wait out the request's whole timeout (webdav.timeoutMs) before they could stop. Now both finish
 * within 5 s, release their lock claim, and the next sync succeeds; a publish in progress is never cut off.
 * The real binary, through the fault proxy (test/helpers/fault-proxy.ts), in front of webdav-server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { isClaimName } from "../../src/remote/lease.js";
import { makeInstance, SYNCD_BIN, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";

/** What users get by default: a stalled request would hold a stop for this long. */
const TIMEOUT_MS = 30_000;

let dav: DavServer;
let proxy: FaultProxy;
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  dav = await startDavServer();
  proxy = await startFaultProxy({ target: dav.url, stallMs: 30_000 });
});
afterEach(() => proxy.stopFaults());
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await proxy.close();
  await dav.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function instance(name: string, root: string): TestInstance {
  // A lock claim left behind would hold the next run for its whole TTL, far past lockWaitSeconds.
  const i = makeInstance(name, { url: proxy.via(dav.url), root, timeoutMs: TIMEOUT_MS }, { lockTtlSeconds: 60, lockWaitSeconds: 3 });
  dirs.push(i.dir);
  return i;
}

function claimsLeft(root: string): string[] {
  const lock = join(dav.dir, root, "version.txt.lock");
  return existsSync(lock) ? readdirSync(lock).filter(isClaimName) : [];
}

function shareVersion(root: string): number {
  return Number(readFileSync(join(dav.dir, root, "version.txt"), "utf8").split("\n")[0]);
}

/** Resolves once a request matching `path` reached the proxy (and so is being held by a stall). */
async function arrived(path: RegExp, since: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proxy.log.some((r) => r.seq >= since && path.test(r.path) && r.fault === "stall")) {
    if (Date.now() > deadline) throw new Error(`no stalled request for ${path} reached the proxy`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [SYNCD_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await p;
  return { value, ms: Date.now() - started };
}

describe("a stop while a request to the share is stalled", () => {
  it("syncd sync: SIGTERM mid-upload exits within 5 s with one sentence, releases its claim, and the next sync succeeds", async () => {
    const root = "/sigterm-sync";
    const a = instance("a", root);
    writeFileSync(join(a.dir, "one.txt"), "one");
    await a.ok("add", join(a.dir, "one.txt"));
    await a.ok("sync"); // the share exists and is probed: the next run goes straight to its transfers
    writeFileSync(join(a.dir, "two.txt"), "two");
    await a.ok("add", join(a.dir, "two.txt"));

    const mark = proxy.mark();
    proxy.inject("stall", { method: "PUT", path: /^\/sigterm-sync\/[0-9a-f]{2}\/[0-9a-f]{64}$/ });
    const run = start(["--config", a.configPath, "sync"]);
    onTestFailed(() => console.log(`stdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`));
    await arrived(/^\/sigterm-sync\/[0-9a-f]{2}\//, mark);
    run.child.kill("SIGTERM");
    const { value: code, ms } = await timed(run.exited);
    expect(ms).toBeLessThan(5000);
    expect(code).toBe(1);
    // Progress lines first (stderr is not a terminal here), then the one sentence that says why it ended.
    const errors = run.stderr().trim().split("\n").filter((l) => l.startsWith("syncd: "));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/stopped/);
    expect(run.stderr()).not.toMatch(/unexpected error|\n\s+at /);
    expect(claimsLeft(root)).toEqual([]);

    const next = await a.json<{ uploaded: number; skipped: boolean }>("sync");
    expect(next).toMatchObject({ skipped: false, uploaded: 1 });
    expect(claimsLeft(root)).toEqual([]);
  }, 60_000);

  it("syncd sync: SIGINT while waiting for a stalled metadata download stops as promptly", async () => {
    const root = "/sigint-sync";
    const a = instance("a", root);
    const b = instance("b", root);
    writeFileSync(join(a.dir, "one.txt"), "one");
    await a.ok("add", join(a.dir, "one.txt"));
    await a.ok("sync");
    await b.ok("probe"); // b's first run then starts right at the lock and the metadata

    const mark = proxy.mark();
    proxy.inject("stall", { method: "GET", path: `${root}/metadata.db` });
    const run = start(["--config", b.configPath, "sync"]);
    await arrived(new RegExp(`^${root}/metadata\\.db$`), mark);
    run.child.kill("SIGINT");
    const { value: code, ms } = await timed(run.exited);
    expect(ms).toBeLessThan(5000);
    expect(code).toBe(1);
    expect(run.stderr()).not.toMatch(/unexpected error|\n\s+at /);
    expect(claimsLeft(root)).toEqual([]);
    expect(await b.json("sync")).toMatchObject({ downloaded: 1 });
  }, 60_000);

  it("syncd daemon: SIGTERM mid-upload exits 0 within 5 s, releases its claim, and the next sync succeeds", async () => {
    const root = "/sigterm-daemon";
    const a = instance("a", root);
    const config = JSON.parse(readFileSync(a.configPath, "utf8")) as Record<string, unknown>;
    writeFileSync(a.configPath, JSON.stringify({ ...config, sync: { ...(config.sync as object), intervalSeconds: 3600 }, server: { host: "127.0.0.1", port: 0 } }));
    writeFileSync(join(a.dir, "one.txt"), "one");
    await a.ok("add", join(a.dir, "one.txt"));
    await a.ok("sync");
    writeFileSync(join(a.dir, "two.txt"), "two");
    await a.ok("add", join(a.dir, "two.txt"));

    const mark = proxy.mark();
    proxy.inject("stall", { method: "PUT", path: /^\/sigterm-daemon\/[0-9a-f]{2}\/[0-9a-f]{64}$/ });
    const daemon = start(["--config", a.configPath, "daemon"]);
    onTestFailed(() => console.log(`daemon stdout:\n${daemon.stdout()}\nstderr:\n${daemon.stderr()}`));
    // Its first scheduled run starts on its own, and stalls on the upload.
    await arrived(/^\/sigterm-daemon\/[0-9a-f]{2}\//, mark, 20_000);
    daemon.child.kill("SIGTERM");
    const { value: code, ms } = await timed(daemon.exited);
    expect(ms).toBeLessThan(5000);
    expect(code).toBe(0);
    expect(daemon.stdout()).toMatch(/"msg":"stopped"/);
    // Warnings and errors go to stderr, as JSON lines like the rest (server/log.ts), and nothing else does:
    // the stopped run's warning is there, no trace.
    const warnings = daemon.stderr().trimEnd().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(warnings.map((w) => w.level).filter((l) => l !== "warn" && l !== "error")).toEqual([]);
    expect(warnings.find((w) => w.msg === "sync failed")).toMatchObject({ level: "warn", fields: { code: "aborted" } });
    expect(claimsLeft(root)).toEqual([]);
    expect(await a.json("sync")).toMatchObject({ skipped: false, uploaded: 1 });
  }, 60_000);

  it("never cuts a publish short: SIGTERM while a journal segment is being published waits for it, and the run completes", async () => {
    const slow = await startFaultProxy({ target: dav.url, stallMs: 2500 });
    try {
      const root = "/sigterm-publish";
      const a = makeInstance("a", { url: slow.via(dav.url), root, timeoutMs: TIMEOUT_MS }, { lockTtlSeconds: 60, lockWaitSeconds: 3 });
      dirs.push(a.dir);
      writeFileSync(join(a.dir, "one.txt"), "one");
      await a.ok("add", join(a.dir, "one.txt"));
      await a.ok("sync");
      const before = shareVersion(root);
      writeFileSync(join(a.dir, "two.txt"), "two");
      await a.ok("add", join(a.dir, "two.txt"));

      const mark = slow.mark();
      slow.inject("stall", { method: "PUT", path: /^\/sigterm-publish\/journal\/\d{12}-[0-9a-f]{64}\.seg$/ });
      const run = start(["--config", a.configPath, "sync", "--json"]);
      onTestFailed(() => console.log(`stdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`));
      const deadline = Date.now() + 15_000;
      while (!slow.log.some((r) => r.seq >= mark && r.fault === "stall")) {
        if (Date.now() > deadline) throw new Error("the publish never reached the proxy");
        await new Promise((r) => setTimeout(r, 25));
      }
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(0);
      expect(JSON.parse(run.stdout())).toMatchObject({ uploaded: 1, version: before + 1 });
      expect(shareVersion(root)).toBe(before + 1);
      expect(claimsLeft(root)).toEqual([]);
      expect(await a.json("sync")).toMatchObject({ skipped: true, version: before + 1 });
    } finally {
      await slow.close();
    }
  }, 60_000);
});
