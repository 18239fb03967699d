/**
 * journald's priorities for the daemon's log lines. Under systemd, stdout and stderr are a stream socket to
 * journald, which stores every line at one priority unless the line starts with an sd-daemon(3) prefix such
 * as `<3>`: journald then strips it and stores the line at that priority (SyslogLevelPrefix=yes, systemd's
 * default, set explicitly in systemd/syncd.service), so `journalctl -p err` and `-p warning` find our
 * errors and warnings while `journalctl -o cat` still shows plain JSON lines.
 *
 * The prefix is written only on a stream that is the journal's: systemd puts the socket's device and inode
 * in $JOURNAL_STREAM, and a stream is the journal's when its own fstat() matches (sd_journal_stream_fd(3)
 * and systemd.exec(5) say to compare, since a child of a service inherits the variable with its output
 * redirected elsewhere). Anywhere else (a terminal, a pipe, a file) the lines stay plain JSON.
 */
import { fstatSync } from "node:fs";
import type { LogLevel } from "./log.js";

/** syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export function journalPrefix(level: LogLevel): string {
  return `<${PRIORITY[level]}>`;
}

/** "dev:ino" as systemd writes it (decimal), or null when absent or malformed. */
export function parseJournalStream(value: string | undefined): { dev: bigint; ino: bigint } | null {
  const match = value ? /^(\d+):(\d+)$/.exec(value.trim()) : null;
  if (!match?.[1] || !match[2]) return null;
  return { dev: BigInt(match[1]), ino: BigInt(match[2]) };
}

export type StatFd = (fd: number) => { dev: bigint; ino: bigint } | null;

const statFd: StatFd = (fd) => {
  try {
    const s = fstatSync(fd, { bigint: true });
    return { dev: s.dev, ino: s.ino };
  } catch {
    return null; // a closed descriptor is not the journal
  }
};

/** Whether file descriptor `fd` is the journal stream named by $JOURNAL_STREAM (`env`). */
export function isJournalStream(fd: number, env: string | undefined, stat: StatFd = statFd): boolean {
  const expected = parseJournalStream(env);
  if (!expected) return false;
  const actual = stat(fd);
  return actual !== null && actual.dev === expected.dev && actual.ino === expected.ino;
}
