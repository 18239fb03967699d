/**
 * `syncd init` and `syncd invite` (SPEC §4, §5), end to end with the real binary: init writes a random
 * server.token in a file readable by its owner only; the daemon started on that file syncs to its own
 * share with it (the README's first command); `invite` prints what a second machine runs, the secret
 * never in a command line; following it word for word, the second machine syncs with the first.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFailed } from "vitest";
import { runCli, SYNCD_BIN } from "../helpers/cli.js";
import { startDaemonProcess, writeConfig, type DaemonProcess } from "../helpers/daemon-process.js";

const root = mkdtempSync(join(tmpdir(), "syncd-invite-"));
let daemon: DaemonProcess | undefined;

afterAll(async () => {
  if (daemon?.child.exitCode === null) {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
  }
  await rm(root, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A command line as the user would paste it into a shell, with `syncd` being this checkout's binary. */
function shell(line: string, cwd: string, input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile("/bin/sh", ["-c", line], { cwd, env: { ...process.env, SYNCD_CONFIG: "", PATH: `${join(root, "bin")}:${process.env.PATH}` } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    // A command that does not read its input may exit before the pipe takes it: EPIPE then says nothing about
    // the command (its exit code and output are what the test judges), and must not crash the test process.
    child.stdin?.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
    child.stdin?.end(input);
  });
}

describe("init and invite", () => {
  it("a second machine joins by following the invitation, the token never in a command line", async () => {
    onTestFailed(() => console.log(daemon?.lines.map((l) => JSON.stringify(l)).join("\n")));
    const first = join(root, "first");
    const second = join(root, "second");
    for (const d of [first, second, join(root, "bin")]) await shell(`mkdir -p '${d}'`, root);
    writeFileSync(join(root, "bin", "syncd"), `#!/bin/sh\nexec "${process.execPath}" "${SYNCD_BIN}" "$@"\n`, { mode: 0o755 });

    // 1. init: a random token, in a file only its owner can read.
    expect((await shell("syncd init --name first", first)).code).toBe(0);
    const configPath = join(first, "syncd.json");
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    const written = JSON.parse(readFileSync(configPath, "utf8")) as { server: { token: string } };
    const token = written.server.token;
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect((await shell("syncd init --name other --config other.json", first)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(first, "other.json"), "utf8")).server.token).not.toBe(token);

    // 2. The README's daemon on that file (a free port instead of 8384): it syncs to its own share with the token.
    const port = await freePort();
    writeConfig(configPath, { ...written, server: { ...written.server, port }, sync: { intervalSeconds: 3600 } });
    daemon = await startDaemonProcess(configPath);
    const api = (path: string, init: RequestInit = {}) => fetch(`${daemon!.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });
    expect((await fetch(`${daemon.url}/api/v1/files`)).status).toBe(401); // the API needs the token
    const upload = await api("/api/v1/files?name=from-first.txt", { method: "POST", body: "hello" });
    expect(upload.status).toBe(201);
    const run = await api("/api/v1/sync", { method: "POST" });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ uploaded: 1 });

    // 3. The invitation: the token only on its own labelled line, never in a command to run.
    const text = await runCli(["--config", configPath, "invite"]);
    expect(text.code, text.stderr).toBe(0);
    const invite = await runCli(["--config", configPath, "invite", "--json"]);
    const json = JSON.parse(invite.stdout) as { url: string; root: string; user: string; passwordFile: string; saveSecret: string; init: string; token: string; warnings: string[] };
    expect(json).toMatchObject({ url: `http://127.0.0.1:${port}/dav`, root: "/syncd", token });
    expect(json.init).toBe(`syncd init --url http://127.0.0.1:${port}/dav --root /syncd --user ${json.user} --password-file ${json.passwordFile}`);
    expect(json.saveSecret).not.toContain(token);
    expect(json.init).not.toContain(token);
    // Listening on loopback only: said plainly, since other machines cannot reach it.
    expect(json.warnings.join(" ")).toMatch(/127\.0\.0\.1 only/);
    const lines = text.stdout.split("\n");
    expect(lines.filter((l) => l.includes(token))).toEqual([`  ${token}`]);
    expect(lines[lines.indexOf(`  ${token}`) - 1]).toMatch(/^token \(secret/);
    expect(text.stdout).toContain(json.init);
    expect(text.stdout).toContain(json.saveSecret);

    // 4. On the "second machine" (another folder here, as loopback is where the first one listens).
    const saved = await shell(json.saveSecret, second, `${token}\n`);
    expect(saved.code, saved.stderr).toBe(0);
    expect(statSync(join(second, json.passwordFile)).mode & 0o777).toBe(0o600);
    const init = await shell(json.init, second);
    expect(init.code, init.stderr).toBe(0);
    const sync = await shell("syncd sync --json", second);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ downloaded: 1 });
    const ls = JSON.parse((await shell("syncd ls --json", second)).stdout) as Array<{ name: string }>;
    expect(ls.map((e) => e.name)).toEqual(["from-first.txt"]);
  }, 60_000);

  it("refuses when there is no embedded share to join, or no token to protect it", async () => {
    const dir = join(root, "refusals");
    await shell(`mkdir -p '${dir}'`, root);
    const external = join(dir, "external.json");
    writeConfig(external, { webdav: { url: "https://me:pw@cloud.example/dav" }, server: { token: "t" } });
    const a = await runCli(["--config", external, "invite"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/syncs to https:\/\/cloud\.example\/dav, not to an embedded share/);
    expect(a.stderr).not.toContain("pw");
    const open = join(dir, "open.json");
    writeConfig(open, { server: { host: "0.0.0.0", port: 8384 } });
    const b = await runCli(["--config", open, "invite"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/has no server\.token/);
  });
});
