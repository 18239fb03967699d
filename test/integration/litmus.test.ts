/**
 * litmus (the WebDAV server test suite) against the daemon's embedded share, on the real `syncd daemon`
 * process: the basic, copymove and http groups pass; props and locks may fail tests (webdav-server
 * mishandles PROPPATCH, and the share offers no locks: litmus skips the locking tests of a class 1
 * server), but no group may stop the daemon, and it still syncs afterwards (issue 11; litmus' props group
 * used to kill it at test 6). Without litmus the test is skipped locally, but fails under CI=true
 * (.ci/run installs it).
 */
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { startDaemonProcess, writeConfig, type DaemonProcess } from "../helpers/daemon-process.js";
import { LITMUS, LITMUS_GROUPS, litmusAvailable, runLitmus, type LitmusResult } from "../helpers/litmus.js";

const available = litmusAvailable();
const inCi = process.env.CI === "true";
if (!available && !inCi) {
  console.warn(`litmus.test.ts skipped: ${LITMUS} not found (apt-get install -y litmus); under CI=true this fails instead.`);
}

const TOKEN = "litmus-token";
const MUST_PASS = new Set(["basic", "copymove", "http"]);

describe.skipIf(!available && !inCi)("litmus against the embedded share", () => {
  const dir = mkdtempSync(join(tmpdir(), "syncd-litmus-"));
  let daemon: DaemonProcess;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${daemon.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    if (!available) throw new Error(`CI=true but ${LITMUS} is missing: the litmus test must run in CI (apt-get install -y litmus).`);
    const config = join(dir, "syncd.json");
    writeConfig(config, { instanceName: "litmus", dataDir: "./data", sync: { intervalSeconds: 3600 }, server: { host: "127.0.0.1", port: 0, token: TOKEN } });
    daemon = await startDaemonProcess(config);
    expect((await api("/api/v1/sync", { method: "POST" })).status).toBe(200);
    // litmus creates its own collection below the URL it is given: a folder beside the library's.
    expect((await api("/dav/litmus-run/", { method: "MKCOL" })).status).toBe(201);
  });

  afterAll(async () => {
    if (daemon?.child.exitCode === null) {
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("passes basic, copymove and http; no group stops the daemon; it syncs afterwards", async () => {
    onTestFailed(() => console.log(daemon.lines.slice(-20).map((l) => JSON.stringify(l)).join("\n")));
    const results: LitmusResult[] = [];
    for (const group of LITMUS_GROUPS) {
      const result = await runLitmus(group, `${daemon.url}/dav/litmus-run/`, "litmus", TOKEN, dir);
      results.push(result);
      expect(daemon.child.exitCode, `the daemon exited during litmus' ${group} group:\n${result.output}\n${daemon.stderr()}`).toBeNull();
      expect((await api("/healthz")).status, group).toBe(200);
      expect(result.run, `litmus printed no summary for ${group}:\n${result.output}`).not.toBeNull();
      if (MUST_PASS.has(group)) expect(result.failures, `${group}:\n${result.output}`).toEqual([]);
    }
    console.log(`litmus: ${results.map((r) => `${r.group} ${r.passed}/${r.run} passed${r.skipped ? `, ${r.skipped} skipped` : ""}`).join("; ")}`);
    expect(daemon.lines.filter((l) => l.msg === "uncaught exception")).toEqual([]);
    const sync = await api("/api/v1/sync", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ force: true }) });
    expect(sync.status).toBe(200);
  }, 180_000);
});
