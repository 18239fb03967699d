/**
 * `syncd daemon` as users and systemd run it: the real binary as a child process, on its embedded share.
 * A second instance (the CLI) syncs through the daemon's /dav; SIGTERM arrives in the middle of a large
 * upload; the daemon exits 0 without publishing half a run or leaving its lock, and the next run completes.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFailed } from "vitest";
import { isClaimName } from "../../src/remote/lease.js";
import { runCli } from "../helpers/cli.js";
import { readEvents } from "../helpers/daemon.js";
import { startDaemonProcess, writeConfig } from "../helpers/daemon-process.js";

const TOKEN = "process-test-token";

const root = mkdtempSync(join(tmpdir(), "syncd-daemon-proc-"));
const running: ChildProcess[] = [];

afterAll(async () => {
  for (const child of running) if (child.exitCode === null) child.kill("SIGKILL");
  await rm(root, { recursive: true, force: true });
});

describe("syncd daemon (child process, embedded share)", () => {
  it("serves its share to another instance, stops cleanly on SIGTERM mid-sync, and the next run completes", async () => {
    const hubDir = join(root, "hub");
    const peerDir = join(root, "peer");
    mkdirSync(hubDir);
    mkdirSync(peerDir);
    const hubConfig = join(hubDir, "syncd.json");
    const peerConfig = join(peerDir, "syncd.json");
    writeConfig(hubConfig, {
      instanceName: "hub",
      dataDir: "./data",
      sync: { intervalSeconds: 3600, concurrency: 2 },
      server: { host: "127.0.0.1", port: 0, token: TOKEN },
    });
    const peerAt = (url: string) =>
      writeConfig(peerConfig, { instanceName: "peer", dataDir: "./data", webdav: { url: `${url}/dav`, root: "/syncd", username: "peer", password: TOKEN } });
    const cli = async (config: string, ...args: string[]) => {
      const r = await runCli(["--config", config, ...args]);
      if (r.code !== 0) throw new Error(`syncd ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };

    // 1. The daemon on its embedded share; the peer syncs to it through /dav.
    let daemon = await startDaemonProcess(hubConfig);
    running.push(daemon.child);
    onTestFailed(() => {
      console.log(`daemon log:\n${daemon.lines.map((l) => JSON.stringify(l)).join("\n")}\nstderr:\n${daemon.stderr()}`);
    });
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${daemon.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) } });
    peerAt(daemon.url);
    writeFileSync(join(peerDir, "a.txt"), "from the peer");
    await cli(peerConfig, "add", join(peerDir, "a.txt"), "--name", "peer/a.txt");
    // (The daemon's own first run may have created the share a moment before: the version is not fixed.)
    expect(JSON.parse(await cli(peerConfig, "sync", "--json"))).toMatchObject({ uploaded: 1 });
    // The daemon's start-up run may be in progress, having read the share before the peer published: the
    // answer still covers what was on the share before the request (scheduler.ts, a run after the joined one).
    const pulled = (await (await api("/api/v1/sync", { method: "POST" })).json()) as { downloaded: number };
    expect(pulled.downloaded).toBe(1);
    const files = (await (await api("/api/v1/files")).json()) as Array<{ id: string; name: string }>;
    expect(files.map((f) => f.name)).toEqual(["peer/a.txt"]);
    expect(await (await api(`/api/v1/files/${files[0]?.id}/content`)).text()).toBe("from the peer");

    // 2. A large change set (imported by the CLI beside the running daemon), synced; SIGTERM mid-upload.
    const bulk = join(root, "bulk");
    mkdirSync(bulk);
    const N = 200;
    for (let i = 0; i < N; i++) {
      const content = Buffer.alloc(32 * 1024, i % 251);
      content.writeUInt32BE(i); // distinct contents: one data file per entry
      writeFileSync(join(bulk, `f${i}.bin`), content);
    }
    await cli(hubConfig, "import", bulk);
    const share = join(hubDir, "data", "share", "syncd");
    const shareVersion = () => Number(readFileSync(join(share, "version.txt"), "utf8").split("\n")[0]);
    const before = shareVersion();
    const abort = new AbortController();
    const stream = await api("/api/v1/sse/subscribe", { signal: abort.signal });
    const midUpload = readEvents(stream, (e) => e.event === "sync.progress" && (e.data as { phase: string; done: number }).phase === "upload" && (e.data as { done: number }).done > 0);
    const run = api("/api/v1/sync", { method: "POST" }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } }),
      (err: unknown) => ({ status: 0, body: { error: { code: String(err) } } }),
    );
    const seen = await midUpload;
    const progress = seen.at(-1)?.data as { done: number; total: number };
    expect(progress.total).toBe(N);
    expect(progress.done).toBeLessThan(N);
    daemon.child.kill("SIGTERM");
    const code = await daemon.exited;
    abort.abort();
    expect(code, daemon.stderr()).toBe(0);
    expect(daemon.stderr()).toBe("");
    // The request that started the run was told why it ended.
    expect(await run).toMatchObject({ status: 503, body: { error: { code: "aborted" } } });
    const msgs = daemon.lines.map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(["signal received", "shutting down", "stopped"]));
    // A warning (the run was stopped), on stderr as a JSON line like every other.
    expect(daemon.lines.find((l) => l.msg === "sync failed")).toMatchObject({ stream: "stderr", level: "warn", fields: { code: "aborted" } });
    // Nothing half-done on the share: still version 1, and no lock claim left behind.
    expect(shareVersion()).toBe(before);
    expect(readdirSync(join(share, "version.txt.lock")).filter(isClaimName)).toEqual([]);
    // Logs are JSON lines without secrets.
    expect(JSON.stringify(daemon.lines)).not.toContain(TOKEN);

    // 3. Restarted, the next run completes, and the peer gets everything.
    daemon = await startDaemonProcess(hubConfig);
    running.push(daemon.child);
    peerAt(daemon.url);
    // Its own start-up run may have begun (or, on a slow machine, even finished) the upload before this
    // request: the answer covers the state before the request, so what counts is the share once it comes.
    const done = (await (await api("/api/v1/sync", { method: "POST" })).json()) as { skipped: boolean; uploaded: number; version: number };
    expect(done).toMatchObject({ version: before + 1 });
    expect(shareVersion()).toBe(before + 1); // all N in one publish: the interrupted run left nothing half-done
    const peerRun = JSON.parse(await cli(peerConfig, "sync", "--json")) as { downloaded: number };
    expect(peerRun.downloaded).toBe(N);
    const status = (await (await api("/api/v1/sync/status")).json()) as { unsynced: number; syncNeeded: boolean };
    expect(status).toMatchObject({ unsynced: 0, syncNeeded: false });

    // SIGINT (Ctrl-C) is a clean stop too.
    daemon.child.kill("SIGINT");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("refuses to start on a port in use, with one sentence and exit code 1", async () => {
    const dir = join(root, "busy");
    mkdirSync(dir);
    const first = join(dir, "a.json");
    writeConfig(first, { instanceName: "a", dataDir: "./a", server: { port: 0, token: TOKEN }, sync: { intervalSeconds: 3600 } });
    const daemon = await startDaemonProcess(first);
    running.push(daemon.child);
    const port = Number(new URL(daemon.url).port);
    const second = join(dir, "b.json");
    writeConfig(second, { instanceName: "b", dataDir: "./b", server: { port, token: TOKEN } });
    const r = await runCli(["--config", second, "daemon"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/port is already in use/);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  });
});
