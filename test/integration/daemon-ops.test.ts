/**
 * `syncd daemon` as an operator meets it (issue 14), the real binary as a child process:
 * - under journald: each line starts with its priority (<3> error … <7> debug) on the journal's stream, so
 *   that `journalctl -p err` finds errors; elsewhere plain JSON lines, warnings and errors on stderr;
 * - on a terminal: one plain line with the dashboard's URL and where the token is (never the token);
 * - GET /readyz: 503 with a reason until a sync succeeds and while syncs fail, 200 otherwise.
 * (journald itself is not in a container: a file stands in for its stream, as $JOURNAL_STREAM names it.)
 */
import { spawn } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFailed, vi } from "vitest";
import { SYNCD_BIN } from "../helpers/cli.js";
import { startDaemonProcess, writeConfig, type DaemonProcess } from "../helpers/daemon-process.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";
import { spawnInTerminal } from "../helpers/terminal.js";

const TOKEN = "ops-test-token";
const root = mkdtempSync(join(tmpdir(), "syncd-daemon-ops-"));
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await rm(root, { recursive: true, force: true });
});

/**
 * The config file of an instance named `name`, in a folder of its own under `root`: its data there, its
 * server on a free port of 127.0.0.1 with TOKEN, hourly runs (only the start-up run happens), and `more`.
 */
function instanceConfig(name: string, more: { webdav?: object; sync?: object } = {}): { dir: string; config: string } {
  const dir = join(root, name);
  mkdirSync(dir);
  const config = join(dir, "syncd.json");
  const server = { host: "127.0.0.1", port: 0, token: TOKEN };
  // Without webdav (undefined is left out of the JSON): the embedded share.
  writeConfig(config, { instanceName: name, dataDir: "./data", webdav: more.webdav, sync: { intervalSeconds: 3600, ...more.sync }, server });
  return { dir, config };
}

/** A share nobody answers on: the port of a server that was just closed. */
async function deadShareUrl(): Promise<string> {
  const dav = await startDavServer();
  await dav.close();
  return `${dav.url}/dav`;
}

describe("syncd daemon for operators", () => {
  it("under journald, starts every line with its priority, and journald's line is still JSON", async () => {
    const { dir, config } = instanceConfig("journal", {
      webdav: { url: await deadShareUrl(), root: "/syncd", timeoutMs: 1000 },
      sync: { lockTtlSeconds: 6 },
    });
    // As under systemd: stdout and stderr are one stream (here a file), named by $JOURNAL_STREAM.
    const logFile = join(dir, "journal.log");
    const fd = openSync(logFile, "a");
    const st = fstatSync(fd, { bigint: true });
    const child = spawn(process.execPath, [SYNCD_BIN, "--config", config, "daemon"], {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}`, SYNCD_LOG_LEVEL: "debug" },
    });
    closeSync(fd);
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    cleanups.push(() => child.exitCode === null && child.kill("SIGKILL"));
    const text = () => readFileSync(logFile, "utf8");
    onTestFailed(() => console.log(text()));

    // The start-up run fails: the share does not answer.
    await vi.waitFor(() => expect(text()).toContain('"msg":"sync failed"'), { timeout: 25_000, interval: 100 });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);

    const lines = text().trimEnd().split("\n");
    const priority = { error: "3", warn: "4", info: "6", debug: "7" } as Record<string, string>;
    const records = lines.map((line) => {
      const m = /^<(\d)>(\{.*\})$/.exec(line);
      expect(m, line).not.toBeNull();
      // What journald keeps once it has taken the prefix off: the JSON line `journalctl -o cat | jq` reads.
      const record = JSON.parse(m?.[2] ?? "") as { level: string; msg: string; fields?: Record<string, unknown> };
      expect(m?.[1], line).toBe(priority[record.level]);
      return record;
    });
    const at = (msg: string) => records.find((r) => r.msg === msg);
    expect(at("listening")?.level).toBe("info");
    expect(at("sync started")?.level).toBe("debug");
    expect(at("sync failed")).toMatchObject({ level: "error", fields: { message: expect.stringMatching(/\S/) } });
    expect(text()).not.toContain(TOKEN);
  }, 40_000);

  it("on a terminal, prints where the dashboard is and where its token is kept, never the token; Ctrl-C stops it", async () => {
    const { config } = instanceConfig("tty");
    // A pseudo-terminal as its stdout (and stdin: a ^C there is SIGINT).
    const child = spawnInTerminal([process.execPath, SYNCD_BIN, "--config", config, "daemon"]);
    cleanups.push(() => child.exitCode === null && child.kill("SIGKILL"));
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    onTestFailed(() => console.log(out));

    await vi.waitFor(() => expect(out).toMatch(/syncd is running/), { timeout: 20_000, interval: 100 });
    const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
    expect(url).toBeDefined();
    const banner = out.split(/\r?\n/).find((l) => l.startsWith("syncd is running"));
    expect(banner).toBe(
      `syncd is running: the dashboard is at ${url}/. It asks once for the token: "server.token" in ${config} (or open ${url}/#token=<that token>). Stop it with Ctrl-C.`,
    );
    expect(out).not.toContain(TOKEN);
    child.stdin.write("\x03");
    expect(await exited).toBe(0);
    expect(out).toContain('"msg":"stopped"');
  }, 40_000);

  describe("GET /readyz", () => {
    let dav: DavServer;
    let proxy: FaultProxy;
    let daemon: DaemonProcess;

    it("is 503 with the reason until a sync succeeds and while syncs fail, 200 otherwise; it needs the token", async () => {
      dav = await startDavServer();
      cleanups.push(() => dav.close());
      proxy = await startFaultProxy({ target: dav.url, maxFaults: 100_000 });
      cleanups.push(() => proxy.close());
      const down = () => proxy.setRandom({ rate: 1, kinds: ["drop-before"] }); // the share does not answer
      down();
      const { config } = instanceConfig("ready", {
        webdav: { url: proxy.via(`${dav.url}/`), root: "/syncd", timeoutMs: 2000 },
        sync: { lockTtlSeconds: 6 },
      });
      // $JOURNAL_STREAM inherited, but the output is not that stream (a pipe): plain JSON lines.
      daemon = await startDaemonProcess(config, { env: { JOURNAL_STREAM: "1:1" } });
      cleanups.push(() => daemon.child.exitCode === null && daemon.child.kill("SIGKILL"));
      onTestFailed(() => console.log(daemon.lines.map((l) => JSON.stringify(l)).join("\n")));
      const api = (path: string, init: RequestInit = {}) => fetch(`${daemon.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } });
      const ready = async () => {
        const res = await api("/readyz");
        return { status: res.status, body: (await res.json()) as { status: string; reason?: string; lastSyncAt?: string } };
      };
      const sync = async () => {
        const res = await api("/api/v1/sync", { method: "POST" });
        return { status: res.status, body: (await res.json()) as { error?: { message: string } } };
      };

      expect((await fetch(`${daemon.url}/readyz`)).status).toBe(401);
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);

      // 1. No sync has succeeded yet (the first may be running, or have failed already: the share is down).
      const first = await ready();
      expect(first.status).toBe(503);
      expect(first.body.status).toBe("not-ready");
      expect(first.body.reason).toMatch(/^(No sync has run yet|The first sync since the daemon started is still running|The last sync failed: )/);

      // 2. The share answers: after a successful sync, ready.
      proxy.stopFaults();
      expect((await sync()).status).toBe(200);
      const ok = await ready();
      expect(ok).toMatchObject({ status: 200, body: { status: "ready" } });
      expect(Date.parse(ok.body.lastSyncAt ?? "")).not.toBeNaN();
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);

      // 3. The share stops answering: the sync fails, and /readyz says so with the failure's sentence.
      down();
      const failed = await sync();
      expect(failed.status).toBeGreaterThanOrEqual(500);
      const notReady = await ready();
      expect(notReady.status).toBe(503);
      expect(notReady.body.reason).toMatch(/^The last (\d+ )?syncs? failed: /);
      expect(notReady.body.reason).toContain(failed.body.error?.message);
      // Liveness is not readiness: the process is fine.
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);

      // 4. Back: ready again.
      proxy.stopFaults();
      expect((await sync()).status).toBe(200);
      expect(await ready()).toMatchObject({ status: 200, body: { status: "ready" } });

      // The failures were logged as errors on stderr, plain JSON (not the journal's stream), the rest on stdout.
      expect(daemon.lines.find((l) => l.msg === "sync failed")).toMatchObject({ stream: "stderr", level: "error" });
      expect(daemon.lines.find((l) => l.msg === "listening")).toMatchObject({ stream: "stdout", level: "info" });
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
      expect(daemon.stderr()).toBe("");
    }, 60_000);
  });
});
