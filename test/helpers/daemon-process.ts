/**
 * `syncd daemon` as users and systemd run it: the real binary as a child process. Resolves once it logs
 * "listening", with the log lines so far and to come, and its exit code when it ends. The log is JSON
 * lines: debug and info on stdout, warnings and errors on stderr (server/log.ts); every stdout line must be
 * one, and whatever else reaches stderr (a Node warning, a crash's trace, a startup failure's sentence) is
 * kept apart as `stderr()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { SYNCD_BIN } from "./cli.js";

export interface LogLine {
  ts: string;
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
  /** Which stream it came on (set by this helper). */
  stream: "stdout" | "stderr";
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Base URL of the API (the share is under `${url}/dav`). */
  url: string;
  lines: LogLine[];
  /** What reached stderr that is not a log line. */
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startDaemonProcess(configPath: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<DaemonProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SYNCD_BIN, "--config", configPath, "daemon"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    const lines: LogLine[] = [];
    let stderr = "";
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const onLine = (stream: LogLine["stream"], text: string) => {
      const line = logLine(text);
      if (!line) {
        if (stream === "stdout") throw new Error(`a stdout line of the daemon is not a JSON log line: ${text}`);
        stderr += `${text}\n`;
        return;
      }
      lines.push({ ...line, stream });
      if (line.msg === "listening") resolve({ child, url: line.fields?.url as string, lines, stderr: () => stderr, exited });
    };
    splitLines(child.stdout, (text) => onLine("stdout", text));
    splitLines(child.stderr, (text) => onLine("stderr", text));
    void exited.then((code) => reject(new Error(`daemon exited ${code} before listening: ${stderr}`)));
  });
}

function splitLines(stream: NodeJS.ReadableStream | null, onLine: (text: string) => void): void {
  let partial = "";
  stream?.on("data", (d: Buffer) => {
    partial += d.toString();
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      onLine(text);
    }
  });
}

/** The record of a JSON log line (no journald prefix: this is not the journal's stream), or null. */
export function logLine(text: string): Omit<LogLine, "stream"> | null {
  if (!text.startsWith("{")) return null;
  try {
    const v = JSON.parse(text) as Omit<LogLine, "stream">;
    return typeof v.msg === "string" && typeof v.level === "string" && typeof v.ts === "string" ? v : null;
  } catch {
    return null;
  }
}

export function writeConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(config, null, 2));
}
