/**
 * `syncd daemon` as users and systemd run it: the real binary as a child process. Resolves once it logs
 * "listening" (its stdout is JSON lines), with the lines so far and to come, and its exit code when it ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { SYNCD_BIN } from "./cli.js";

export interface LogLine {
  ts: string;
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Base URL of the API (the share is under `${url}/dav`). */
  url: string;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startDaemonProcess(configPath: string): Promise<DaemonProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SYNCD_BIN, "--config", configPath, "daemon"], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: LogLine[] = [];
    let stderr = "";
    let partial = "";
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = JSON.parse(partial.slice(0, nl)) as LogLine; // every stdout line is one JSON object
        partial = partial.slice(nl + 1);
        lines.push(line);
        if (line.msg === "listening") resolve({ child, url: line.fields?.url as string, lines, stderr: () => stderr, exited });
      }
    });
    void exited.then((code) => reject(new Error(`daemon exited ${code} before listening: ${stderr}`)));
  });
}

export function writeConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(config, null, 2));
}
