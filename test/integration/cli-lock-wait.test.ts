/**
 * `syncd sync` (the real binary, without a terminal) while another instance holds the share's lock: it tells
 * who holds it, from their claim, and how long it will wait at most, less and less; once the lock comes
 * free the run goes on. The wait ends when the test removes the claim, after it has seen what it checks.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it, onTestFinished } from "vitest";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import type { Remote } from "../../src/remote/remote.js";
import { makeInstance, SYNCD_BIN, type TestInstance } from "../helpers/cli.js";
import { spawnInTerminal } from "../helpers/terminal.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

let server: DavServer;
let remote: Remote;
const root = "/held";
const claim = { token: "t", instance: "laptop", host: "a", pid: 4242, ttlMs: 120_000, acquiredAt: new Date().toISOString() };
let inst: TestInstance;

beforeAll(async () => {
  server = await startDavServer();
  remote = createWebdavRemote({ url: server.url, root, timeoutMs: 5000 });
});
afterAll(async () => {
  await remote?.close();
  await server?.close();
});

const WAITING = /^Waiting for the share's lock, held by laptop \(pid 4242 on host a\) — up to (?:(\d+) min )?(\d+) s more\.$/;

it("a sync waiting for a lock held by another instance shows the holder and a decreasing time left", async () => {
  await remote.mkdir("");
  await remote.mkdir("version.txt.lock");
  await remote.put("version.txt.lock/t.json", Buffer.from(JSON.stringify(claim)));
  inst = makeInstance("waiter", { url: server.url, root }, { lockWaitSeconds: 60 });
  await inst.ok("add", SYNCD_BIN, "--name", "a.js");

  const child = spawn(process.execPath, [SYNCD_BIN, "--config", inst.configPath, "sync"], { stdio: ["ignore", "pipe", "pipe"] });
  onTestFinished(() => void child.kill());
  let stderr = "";
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  // Until two countdown lines have been printed: then the holder lets go.
  const left = await new Promise<number[]>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      const seen = stderr.split("\n").flatMap((line) => {
        const m = WAITING.exec(line);
        return m ? [Number(m[1] ?? 0) * 60 + Number(m[2])] : [];
      });
      if (seen.length >= 2) resolve(seen);
    });
    void exited.then(() => reject(new Error(`syncd sync ended before waiting: ${stderr}`)));
  });
  expect(left[0]).toBeLessThanOrEqual(60);
  expect(left[1]).toBeLessThan(left[0]!);
  await remote.delete("version.txt.lock/t.json");
  expect(await exited).toBe(0);
  expect(stdout).toMatch(/^synced: version 1, 1 uploaded/);
  expect(stderr).not.toMatch(/lock waiting|expired-claim-removed/);
});

it("on a terminal, the wait counts down every second on one line", async () => {
  // The same instance (its share already probed), with something new to sync, in a pseudo-terminal (script(1)).
  await inst.ok("add", SYNCD_BIN, "--name", "b.js");
  await remote.put("version.txt.lock/t.json", Buffer.from(JSON.stringify(claim)));
  // 120 columns: room for the whole sentence.
  const child = spawnInTerminal([process.execPath, SYNCD_BIN, "--config", inst.configPath, "sync"], { columns: 120 });
  onTestFinished(() => void child.kill());
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const left = await new Promise<number[]>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      // Each redraw starts with a carriage return and ends by clearing the rest of the line.
      const seen = out.split("\r").flatMap((frame) => {
        const m = WAITING.exec(frame.replace(/\x1b\[K.*$/s, ""));
        return m ? [Number(m[1] ?? 0) * 60 + Number(m[2])] : [];
      });
      if (new Set(seen).size >= 3) resolve(seen);
    });
    void exited.then(() => reject(new Error(`syncd sync ended before waiting: ${out}`)));
  });
  const distinct = [...new Set(left)];
  for (let i = 1; i < distinct.length; i++) expect(distinct[i]).toBeLessThan(distinct[i - 1]!);
  expect(out).not.toMatch(/\n.*Waiting for the share's lock/); // redrawn in place, not line after line
  await remote.delete("version.txt.lock/t.json");
  expect(await exited).toBe(0);
  expect(out).toMatch(/synced: version 2, 1 uploaded/);
});
