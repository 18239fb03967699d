/**
 * Keeps a message that repeats from flooding the log (the daemon once logged the same lock wait 31 times
 * in 30 s). Generic: a message is its level and its text (not its fields, which vary: a countdown, a
 * path). Within a window that starts at its first line, a message passes `burst` times (errors more
 * often than the rest, so that a second, different failure in fields is still seen), then is counted
 * instead of written. When the window ends, one summary line says how many were held back: written when
 * the message next comes, or by flush() (the daemon calls it on a timer and at shutdown), whichever is
 * first. Debug lines are never limited: whoever turns debug on wants every line.
 */
import type { LogLevel } from "./log.js";

export interface RepeatLimitOptions {
  /** Default 30 s. */
  windowMs?: number;
  /** Lines per window of one warn, info message; default 1. */
  burst?: number;
  /** Lines per window of one error message; default 5. */
  errorBurst?: number;
  now?: () => number;
}

export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

interface Window {
  level: LogLevel;
  msg: string;
  startedAt: number;
  passed: number;
  suppressed: number;
  lastFields: Record<string, unknown> | undefined;
}

export class RepeatLimiter {
  private readonly windowMs: number;
  private readonly burst: number;
  private readonly errorBurst: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();

  constructor(o: RepeatLimitOptions = {}) {
    this.windowMs = o.windowMs ?? 30_000;
    this.burst = o.burst ?? 1;
    this.errorBurst = o.errorBurst ?? 5;
    this.now = o.now ?? Date.now;
  }

  /** What to write for this line: nothing, the line, or a summary of earlier ones and then the line. */
  admit(record: LogRecord): LogRecord[] {
    if (record.level === "debug") return [record];
    const key = `${record.level}\u0000${record.msg}`;
    const now = this.now();
    const w = this.windows.get(key);
    if (w && now - w.startedAt < this.windowMs) {
      if (w.passed < (record.level === "error" ? this.errorBurst : this.burst)) {
        w.passed++;
        return [record];
      }
      w.suppressed++;
      w.lastFields = record.fields;
      return [];
    }
    const out = w ? summaryOf(w, now) : [];
    this.windows.set(key, { level: record.level, msg: record.msg, startedAt: now, passed: 1, suppressed: 0, lastFields: undefined });
    return [...out, record];
  }

  /** Summaries of the windows that have ended; forgets them (so the map holds only recent messages). */
  flush(opts: { all?: boolean } = {}): LogRecord[] {
    const now = this.now();
    const out: LogRecord[] = [];
    for (const [key, w] of this.windows) {
      if (!opts.all && now - w.startedAt < this.windowMs) continue;
      out.push(...summaryOf(w, now));
      this.windows.delete(key);
    }
    return out;
  }
}

function summaryOf(w: Window, now: number): LogRecord[] {
  if (w.suppressed === 0) return [];
  const seconds = Math.max(1, Math.round((now - w.startedAt) / 1000));
  const times = w.suppressed === 1 ? "once more" : `${w.suppressed} more times`;
  return [
    {
      level: w.level,
      msg: `${w.msg} (repeated ${times} in the last ${seconds} s)`,
      // The latest occurrence's details: the one a reader most likely wants.
      fields: { ...w.lastFields, repeated: w.suppressed, windowSeconds: seconds },
    },
  ];
}
