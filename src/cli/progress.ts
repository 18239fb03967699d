/**
 * How `syncd sync` shows a run's progress. Always on stderr, so that `--json` output on stdout stays one
 * clean document.
 *  - On a terminal, one line redrawn in place, like `rclone -P`: the phase, a bar, bytes done of the total,
 *    the rate, the time left, files done of the total and the entry in flight, cut to the terminal's width;
 *    while the share's lock is busy, who holds it and a countdown.
 *  - Otherwise (logs, pipes, journald), plain lines: one when a phase with work starts, then one every few
 *    seconds while a transfer runs or the run waits for the lock.
 */
import { formatBytes } from "../bytes.js";
import { formatDuration } from "../duration.js";
import type { ProgressEvent, SyncEvent, SyncPhase } from "../sync/events.js";
import { describeLockWait } from "../sync/lock-events.js";

export interface ProgressReporter {
  onEvent(e: SyncEvent): void;
  /** Clears the terminal's line and stops any timer: call when the run is over. */
  stop(): void;
}

export interface ReporterOptions {
  /** Milliseconds; default performance.now. */
  now?: () => number;
  /** Calls `fn` every `ms` until cancelled (the terminal's countdown); default setInterval, unref'd. */
  every?: (ms: number, fn: () => void) => () => void;
  /** Without a terminal, how often a running transfer or lock wait prints a line. */
  lineIntervalMs?: number;
}

/** Without a terminal: a line every 5 s while something runs (rclone's `--stats` default is 1 min; a run is shorter). */
export const LINE_INTERVAL_MS = 5000;

export function progressReporter(stream: NodeJS.WriteStream = process.stderr, opts: ReporterOptions = {}): ProgressReporter {
  const now = opts.now ?? (() => performance.now());
  return stream.isTTY ? terminalReporter(stream, now, opts.every ?? everyUnref) : lineReporter(stream, now, opts.lineIntervalMs ?? LINE_INTERVAL_MS);
}

function everyUnref(ms: number, fn: () => void): () => void {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
}

function lineReporter(stream: NodeJS.WritableStream, now: () => number, intervalMs: number): ProgressReporter {
  let phase: SyncPhase | null = null;
  let lastLine = -Infinity;
  let waitShown = false;
  const print = (line: string) => {
    stream.write(`${line}\n`);
    lastLine = now();
  };
  return {
    onEvent: (e) => {
      if (e.type === "log") {
        if (e.level === "warn") stream.write(`warning: ${e.message}\n`);
        return;
      }
      if (e.type !== "sync.progress") return;
      if (e.phase !== phase) {
        phase = e.phase;
        waitShown = false;
        const start = describePhaseStart(e);
        if (start) print(start);
      }
      if (e.lock) {
        // The first sign of a wait at once, then every few seconds.
        if (now() - lastLine >= intervalMs || !waitShown) print(describeLockWait(e.lock));
        waitShown = true;
      } else if (isTransfer(e.phase) && e.done < e.total && now() - lastLine >= intervalMs) {
        print(describeTransfer(e));
      }
    },
    stop: () => {},
  };
}

function terminalReporter(stream: NodeJS.WriteStream, now: () => number, every: NonNullable<ReporterOptions["every"]>): ProgressReporter {
  let last: { event: ProgressEvent; at: number } | null = null;
  let drawn = false;
  let cancelTick: (() => void) | null = null;
  const width = () => Math.max(20, (stream.columns ?? 80) - 1);
  const clear = () => {
    if (drawn) stream.write("\r\x1b[K");
    drawn = false;
  };
  const draw = () => {
    if (!last) return;
    stream.write(`\r${statusLine(last.event, width(), (now() - last.at) / 1000)}\x1b[K`);
    drawn = true;
  };
  return {
    onEvent: (e) => {
      if (e.type === "log") {
        if (e.level !== "warn") return;
        // Above the status line, which is drawn again below it.
        clear();
        stream.write(`warning: ${e.message}\n`);
        draw();
        return;
      }
      if (e.type !== "sync.progress") return;
      last = { event: e, at: now() };
      // A lock wait counts down between the lease's events (one every ~2 s): redrawn every second.
      if (e.lock && !cancelTick) cancelTick = every(1000, draw);
      if (!e.lock && cancelTick) {
        cancelTick();
        cancelTick = null;
      }
      draw();
    },
    stop: () => {
      cancelTick?.();
      cancelTick = null;
      clear();
    },
  };
}

const PHASE_LABELS: Record<SyncPhase, string> = {
  check: "checking the share",
  lock: "taking the share's lock",
  metadata: "reading the share's metadata",
  plan: "planning",
  upload: "uploading",
  download: "downloading",
  publish: "publishing",
  apply: "updating the local library",
};

function isTransfer(phase: SyncPhase): boolean {
  return phase === "upload" || phase === "download";
}

/**
 * The line that announces a phase, or null for a phase with nothing to do (no "uploading 0 files"). In a run
 * of several batches the transfer phases count on from the batches before (TransferTally): the work of this
 * one is what is left of the total.
 */
export function describePhaseStart(e: ProgressEvent): string | null {
  const label = PHASE_LABELS[e.phase];
  const files = e.total - e.done;
  if (isTransfer(e.phase)) return files > 0 ? `${label} ${count(files, "file", "files")} (${formatBytes(e.bytesTotal - e.bytesDone)})` : null;
  if (e.phase === "apply") return e.total > 0 ? `${label} (${count(e.total, "entry", "entries")})` : null;
  return label;
}

/** "uploading: 12.3 MiB of 27.4 MiB (45 %), 2.1 MiB/s, about 7 s left, 3 of 10 files done". */
export function describeTransfer(e: ProgressEvent): string {
  const parts = [`${formatBytes(e.bytesDone)} of ${formatBytes(e.bytesTotal)} (${percent(e)} %)`];
  if (e.bytesPerSecond !== null) parts.push(`${formatBytes(e.bytesPerSecond)}/s`);
  if (e.etaSeconds !== null) parts.push(`about ${formatDuration(e.etaSeconds)} left`);
  parts.push(`${e.done} of ${count(e.total, "file", "files")} done`);
  return `${PHASE_LABELS[e.phase]}: ${parts.join(", ")}`;
}

/** The terminal's status line for an event received `elapsed` seconds ago, at most `width` characters. */
export function statusLine(e: ProgressEvent, width: number, elapsed = 0): string {
  if (e.lock) return cut(describeLockWait(e.lock, e.lock.leftSeconds - elapsed), width);
  const label = capitalize(PHASE_LABELS[e.phase]);
  if (!isTransfer(e.phase)) return cut(e.total > 1 ? `${label} ${e.done}/${e.total}` : `${label}…`, width);
  const figures = [
    `${formatBytes(e.bytesDone)}/${formatBytes(e.bytesTotal)}`,
    e.bytesPerSecond === null ? "-- /s" : `${formatBytes(e.bytesPerSecond)}/s`,
    `ETA ${e.etaSeconds === null ? "--" : formatDuration(e.etaSeconds)}`,
    `${e.done}/${e.total} files`,
  ].join(" ");
  const withBar = `${label} ${bar(e, 10)} ${percent(e)}% ${figures}`;
  if (!e.current) return cut(withBar, width);
  // The entry's name matters more than the bar: the bar goes when the name would not fit whole beside it.
  const fixed = withBar.length + 3 + e.current.length <= width ? withBar : `${label} ${percent(e)}% ${figures}`;
  if (fixed.length + 3 + 8 > width) return cut(fixed, width);
  return `${fixed} · ${cutStart(e.current, width - fixed.length - 3)}`;
}

function bar(e: ProgressEvent, cells: number): string {
  const filled = Math.min(cells, Math.floor((percent(e) / 100) * cells));
  return `[${"#".repeat(filled)}${"-".repeat(cells - filled)}]`;
}

function percent(e: ProgressEvent): number {
  const frac = e.bytesTotal > 0 ? e.bytesDone / e.bytesTotal : e.total > 0 ? e.done / e.total : 1;
  return Math.min(100, Math.floor(frac * 100));
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The start of `s` in `width` characters, an ellipsis marking a cut. */
function cut(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

/** The end of `s` in `width` characters: of a long path, the file's name is what tells it apart. */
function cutStart(s: string, width: number): string {
  return s.length <= width ? s : `…${s.slice(s.length - Math.max(0, width - 1))}`;
}
