/**
 * Runs the real `syncd` binary as a child process, the way users and systemd do, and builds throwaway
 * instances (config + data dir) pointing at a test share.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const SYNCD_BIN = fileURLToPath(new URL("../../bin/syncd.js", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment that runs a process with its wall clock moved by `offset` (libfaketime, Debian package
 * `faketime`: "+91d", "-1d"): monotonic timers are untouched, as on a machine whose clock is simply wrong.
 */
export const FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
export function skewedClock(offset: string): NodeJS.ProcessEnv {
  return { LD_PRELOAD: FAKETIME_LIB, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: "1" };
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; bin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bin ?? SYNCD_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A command that does not read its input may exit before the pipe takes it: EPIPE says nothing about it
    // (its exit code and output are what tests judge), and must not crash the test process.
    child.stdin.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
    child.stdin.end(opts.input ?? "");
  });
}

export interface TestInstance {
  name: string;
  dir: string;
  configPath: string;
  run(...args: string[]): Promise<CliResult>;
  /** Runs and fails the test with the command's stderr unless it exits 0. */
  ok(...args: string[]): Promise<string>;
  json<T = unknown>(...args: string[]): Promise<T>;
}

export function makeInstance(
  name: string,
  webdav: Record<string, unknown>,
  sync: Record<string, unknown> = {},
  /** bin: another build's bin/syncd.js (an earlier commit's, format-refusal.test.ts). */
  opts: { env?: NodeJS.ProcessEnv; bin?: string } = {},
): TestInstance {
  const dir = mkdtempSync(join(tmpdir(), `syncd-${name}-`));
  const configPath = join(dir, "syncd.json");
  writeFileSync(configPath, JSON.stringify({ instanceName: name, dataDir: "./data", webdav, sync }, null, 2));
  const run = (...args: string[]) => runCli(["--config", configPath, ...args], { env: opts.env, bin: opts.bin });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    if (r.code !== 0) throw new Error(`syncd ${args.join(" ")} (${name}) exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    name,
    dir,
    configPath,
    run,
    ok,
    json: async <T>(...args: string[]) => {
      const r = await run(...args, "--json");
      if (r.code !== 0) throw new Error(`syncd ${args.join(" ")} --json (${name}) exited ${r.code}: ${r.stderr.trim()}`);
      try {
        return JSON.parse(r.stdout) as T;
      } catch {
        throw new Error(`syncd ${args.join(" ")} --json (${name}) exited 0 but printed no JSON: stdout ${JSON.stringify(r.stdout.slice(0, 500))}, stderr ${JSON.stringify(r.stderr.slice(-1500))}`);
      }
    },
  };
}
