/**
 * The daemon's log: one JSON object per line on stdout, which journald stores as is and `jq` reads back.
 * `{ts, level, msg, fields?}`; fields are plain data. Nothing secret goes in: no configuration, no
 * tokens, no query strings (SSE may carry `?token=`), and URLs pass through redactUrl first.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && Object.hasOwn(RANK, value);
}

export function jsonLogger(write: (line: string) => void, minLevel: LogLevel = "info", now: () => Date = () => new Date()): Logger {
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < RANK[minLevel]) return;
    const record: Record<string, unknown> = { ts: now().toISOString(), level, msg };
    if (fields && Object.keys(fields).length > 0) record.fields = fields;
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      // A cycle or a BigInt in fields must not take the daemon down with it.
      line = JSON.stringify({ ts: record.ts, level, msg, fields: { unserializable: true } });
    }
    write(`${line}\n`);
  };
  return {
    log,
    debug: (msg, fields) => log("debug", msg, fields),
    info: (msg, fields) => log("info", msg, fields),
    warn: (msg, fields) => log("warn", msg, fields),
    error: (msg, fields) => log("error", msg, fields),
  };
}

/** For tests and embedders that do not want output. */
export const silentLogger: Logger = jsonLogger(() => {}, "error");
