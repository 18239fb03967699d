/**
 * A first sync killed during its capability probe left its `.syncd-probe-*` scratch folder on the share
 * for good (issue 11): the next run probed again, but only removed scratch folders older than an hour, and
 * after that no probe ever ran. Now the next run removes it at once, while the folder of a probe that is
 * still running elsewhere is kept. The real binary, on webdav-server behind the fault proxy.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OWNER_FILE, SCRATCH_PREFIX, thisProcess } from "../../src/remote/probe-scratch.js";
import { makeInstance, SYNCD_BIN, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";

let dav: DavServer;
let proxy: FaultProxy;
const instances: TestInstance[] = [];

beforeAll(async () => {
  dav = await startDavServer();
  proxy = await startFaultProxy({ target: dav.url, stallMs: 30_000 });
});
afterAll(async () => {
  await proxy.close();
  await dav.close();
  for (const i of instances) rmSync(i.dir, { recursive: true, force: true });
});

function scratchFolders(root: string): string[] {
  const dir = join(dav.dir, root);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(SCRATCH_PREFIX)).sort() : [];
}

describe("scratch folders of killed probes", () => {
  it("a first sync killed during its probe: the next run removes its folder, and keeps a running probe's", async () => {
    const root = "/killed-probe";
    const a = makeInstance("a", { url: proxy.via(dav.url), root, timeoutMs: 30_000 });
    instances.push(a);
    writeFileSync(join(a.dir, "one.txt"), "one");
    await a.ok("add", join(a.dir, "one.txt"));

    // The first sync probes the share; one of the probe's requests stalls, and the process is killed there.
    const mark = proxy.mark();
    proxy.inject("stall", { method: "PUT", path: new RegExp(`^${root}/\\${SCRATCH_PREFIX}[0-9a-f]+/roundtrip`) });
    const child = spawn(process.execPath, [SYNCD_BIN, "--config", a.configPath, "sync"], { stdio: "ignore" });
    const exited = new Promise((r) => child.on("exit", r));
    const deadline = Date.now() + 15_000;
    while (!proxy.log.some((r) => r.seq >= mark && r.fault === "stall")) {
      if (Date.now() > deadline) throw new Error("the probe never reached the proxy");
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    await exited;
    proxy.stopFaults();
    const left = scratchFolders(root);
    expect(left).toHaveLength(1);

    // Meanwhile a probe of another process on this machine is running: its folder is young and its owner alive.
    const running = `${SCRATCH_PREFIX}0123456789ab`;
    mkdirSync(join(dav.dir, root, running));
    writeFileSync(join(dav.dir, root, running, OWNER_FILE), JSON.stringify({ ...thisProcess(), pid: process.pid }));

    // The killed run's local lock goes stale after 15 s (sync/local-lock.ts); the test does not wait for that.
    rmSync(join(a.dir, "data", "sync.lock.lock"), { recursive: true, force: true });
    expect(await a.json("sync")).toMatchObject({ uploaded: 1 });
    expect(scratchFolders(root)).toEqual([running]);
  }, 60_000);

  it("SIGTERM during the probe removes the probe's own folder before exiting", async () => {
    const root = "/stopped-probe";
    const a = makeInstance("a", { url: proxy.via(dav.url), root, timeoutMs: 30_000 });
    instances.push(a);
    const mark = proxy.mark();
    proxy.inject("stall", { method: "PUT", path: new RegExp(`^${root}/\\${SCRATCH_PREFIX}[0-9a-f]+/roundtrip`) });
    const child = spawn(process.execPath, [SYNCD_BIN, "--config", a.configPath, "sync"], { stdio: "ignore" });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const deadline = Date.now() + 15_000;
    while (!proxy.log.some((r) => r.seq >= mark && r.fault === "stall")) {
      if (Date.now() > deadline) throw new Error("the probe never reached the proxy");
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(scratchFolders(root)).toHaveLength(1);
    const started = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    proxy.stopFaults();
    expect(scratchFolders(root)).toEqual([]);
  }, 60_000);
});
