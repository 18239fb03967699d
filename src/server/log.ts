/**
 * The daemon's log: one JSON object per line, which journald stores as is and `jq` reads back.
 * `{ts, level, msg, fields?}`; fields are plain data. Nothing secret goes in: no configuration, no
 * tokens, no query strings (SSE may carry `?token=`), and URLs pass through redactUrl first.
 *
 * daemonLogger() is what `syncd daemon` writes with: debug and info lines on stdout, warnings and errors on
 * stderr (where diagnostics belong: `syncd daemon 2>errors.log`, or a terminal that shows them apart);
 * on a stream that is journald's, each line starts with its priority (log-journal.ts); a message that
 * repeats is rate-limited (log-limit.ts).
 */
import { journalPrefix } from "./log-journal.js";
import { RepeatLimiter, type LogRecord, type RepeatLimitOptions } from "./log-limit.js";

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

/** One line, newline included: JSON, after the journal priority prefix when `journal` is true. */
export function formatLine(ts: Date, record: LogRecord, journal = false): string {
  const { level, msg, fields } = record;
  const out: Record<string, unknown> = { ts: ts.toISOString(), level, msg };
  if (fields && Object.keys(fields).length > 0) out.fields = fields;
  let line: string;
  try {
    line = JSON.stringify(out);
  } catch {
    // A cycle or a BigInt in fields must not take the daemon down with it.
    line = JSON.stringify({ ts: out.ts, level, msg, fields: { unserializable: true } });
  }
  // JSON.stringify escapes newlines inside strings: one record is always one line (one journal entry).
  return `${journal ? journalPrefix(level) : ""}${line}\n`;
}

function loggerOf(log: Logger["log"]): Logger {
  return {
    log,
    debug: (msg, fields) => log("debug", msg, fields),
    info: (msg, fields) => log("info", msg, fields),
    warn: (msg, fields) => log("warn", msg, fields),
    error: (msg, fields) => log("error", msg, fields),
  };
}

/** Every line to one writer, plain JSON, no rate limit: for tests and embedders. */
export function jsonLogger(write: (line: string) => void, minLevel: LogLevel = "info", now: () => Date = () => new Date()): Logger {
  return loggerOf((level, msg, fields) => {
    if (RANK[level] < RANK[minLevel]) return;
    write(formatLine(now(), { level, msg, fields }));
  });
}

export interface OutputStream {
  write(text: string): unknown;
  /** The stream is journald's (log-journal.ts isJournalStream): its lines carry the priority prefix. */
  journal: boolean;
}

export interface DaemonLoggerOptions {
  /** Debug and info lines. */
  stdout: OutputStream;
  /** Warnings and errors. */
  stderr: OutputStream;
  minLevel?: LogLevel;
  /** false: no rate limit. */
  repeats?: RepeatLimitOptions | false;
  /** How often summaries of held-back repeats are written when the message does not come again; default the window. */
  flushEveryMs?: number;
  now?: () => number;
}

export interface DaemonLogger extends Logger {
  /** Writes the summaries of repeats still held back and stops the flush timer (at shutdown). */
  close(): void;
}

export function daemonLogger(o: DaemonLoggerOptions): DaemonLogger {
  const minLevel = o.minLevel ?? "info";
  const now = o.now ?? Date.now;
  const limiter = o.repeats === false ? null : new RepeatLimiter({ now, ...o.repeats });
  const write = (record: LogRecord) => {
    const stream = RANK[record.level] >= RANK.warn ? o.stderr : o.stdout;
    stream.write(formatLine(new Date(now()), record, stream.journal));
  };
  const writeAll = (records: LogRecord[]) => {
    for (const r of records) write(r);
  };
  const logger = loggerOf((level, msg, fields) => {
    if (RANK[level] < RANK[minLevel]) return;
    const record = { level, msg, fields };
    if (limiter) writeAll(limiter.admit(record));
    else write(record);
  });
  const every = o.flushEveryMs ?? (o.repeats ? o.repeats.windowMs : undefined) ?? 30_000;
  const timer = limiter ? setInterval(() => writeAll(limiter.flush()), every) : null;
  timer?.unref(); // the log never keeps the process alive
  return {
    ...logger,
    close: () => {
      if (timer) clearInterval(timer);
      if (limiter) writeAll(limiter.flush({ all: true }));
    },
  };
}

/** For tests and embedders that do not want output. */
export const silentLogger: Logger = jsonLogger(() => {}, "error");
