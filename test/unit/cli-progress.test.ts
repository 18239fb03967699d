/**
 * What `syncd sync` prints on stderr (src/cli/progress.ts): on a terminal, one status line redrawn in place;
 * otherwise plain lines. Fake streams and a hand-driven clock and timer.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { describePhaseStart, progressReporter, statusLine } from "../../src/cli/progress.js";
import { itemProgress, type LockWait, type ProgressEvent } from "../../src/sync/events.js";
import { describeLockWait, LockWaitReporter } from "../../src/sync/lock-events.js";
import type { SyncEvent } from "../../src/sync/events.js";

const MiB = 1024 * 1024;

function fakeStream(tty: boolean, columns = 100) {
  const stream = Object.assign(new PassThrough(), { isTTY: tty, columns }) as unknown as NodeJS.WriteStream & PassThrough;
  let out = "";
  stream.on("data", (d: Buffer) => (out += d.toString()));
  return { stream, out: () => out };
}

function harness(tty: boolean, columns = 100) {
  const { stream, out } = fakeStream(tty, columns);
  let t = 0;
  const ticks: Array<() => void> = [];
  const reporter = progressReporter(stream, {
    now: () => t,
    every: (_ms, fn) => {
      ticks.push(fn);
      return () => void ticks.splice(ticks.indexOf(fn), 1);
    },
  });
  return { reporter, out, advance: (ms: number) => void (t += ms), tick: () => ticks.forEach((fn) => fn()), ticks };
}

function transfer(phase: "upload" | "download", p: Partial<ProgressEvent>): ProgressEvent {
  return { ...itemProgress(phase, 0, 3, 0, 30 * MiB), ...p };
}

const holder = { instance: "laptop", host: "a", pid: 4242, since: "2026-11-30T14:00:00.000Z" };
const wait = (leftSeconds: number, waitedSeconds = 0): ProgressEvent => ({ ...itemProgress("lock", 0, 1), lock: { holder, leftSeconds, waitedSeconds } });

describe("without a terminal", () => {
  it("prints a line when a phase with work starts, none for transfers with nothing to move", () => {
    const h = harness(false);
    h.reporter.onEvent(itemProgress("plan", 0, 1));
    h.reporter.onEvent(transfer("upload", { total: 0, bytesTotal: 0 }));
    h.reporter.onEvent(transfer("download", { total: 2, bytesTotal: 3 * MiB }));
    h.reporter.onEvent(itemProgress("apply", 0, 0));
    h.reporter.stop();
    expect(h.out()).toBe("planning\ndownloading 2 files (3.0 MiB)\n");
    expect(h.out()).not.toContain("0 files");
  });

  it("prints one line every 5 s while a transfer runs, with bytes, percent, rate, time left and files", () => {
    const h = harness(false);
    h.reporter.onEvent(transfer("upload", {}));
    for (let i = 1; i <= 48; i++) {
      h.advance(250); // four events a second, for 12 s
      h.reporter.onEvent(transfer("upload", { bytesDone: i * 512 * 1024, bytesPerSecond: 2 * MiB, etaSeconds: 15 - i / 4, done: Math.floor(i / 20) }));
    }
    const lines = h.out().trim().split("\n");
    expect(lines[0]).toBe("uploading 3 files (30 MiB)");
    expect(lines.slice(1)).toEqual([
      "uploading: 10 MiB of 30 MiB (33 %), 2.0 MiB/s, about 10 s left, 1 of 3 files done",
      "uploading: 20 MiB of 30 MiB (66 %), 2.0 MiB/s, about 5 s left, 2 of 3 files done",
    ]);
  });

  it("shows a lock wait at once, with the holder and the time left, then every few seconds", () => {
    const h = harness(false);
    h.reporter.onEvent(itemProgress("lock", 0, 1));
    for (let left = 30; left >= 18; left -= 1) {
      h.reporter.onEvent(wait(left, 30 - left));
      h.advance(1000);
    }
    const lines = h.out().trim().split("\n");
    expect(lines).toEqual([
      "taking the share's lock",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 30 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 25 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 20 s more.",
    ]);
  });

  it("prints warnings as sentences, and never info logs", () => {
    const h = harness(false);
    h.reporter.onEvent({ type: "log", level: "warn", message: "Something to know." });
    h.reporter.onEvent({ type: "log", level: "info", message: "Took the share's lock." });
    expect(h.out()).toBe("warning: Something to know.\n");
  });
});

describe("on a terminal", () => {
  it("redraws one line like rclone -P: bar, bytes, rate, ETA, files and the entry, within the width", () => {
    const h = harness(true, 100);
    h.reporter.onEvent(transfer("upload", { bytesDone: 12 * MiB, bytesPerSecond: 2 * MiB, etaSeconds: 9, done: 1, current: "photos/2024/holiday.jpg" }));
    const line = h.out();
    expect(line.startsWith("\r")).toBe(true);
    expect(line.endsWith("\x1b[K")).toBe(true);
    const text = line.slice(1, -3);
    expect(text).toMatch(/^Uploading (\[#{4}-{6}\] )?40% /);
    expect(text).toContain("12 MiB/30 MiB");
    expect(text).toContain("2.0 MiB/s");
    expect(text).toContain("ETA 9 s");
    expect(text).toContain("1/3 files");
    expect(text).toContain("photos/2024/holiday.jpg");
    expect(text.length).toBeLessThanOrEqual(99);
    expect(h.out()).not.toContain("\n");
    h.reporter.stop();
    expect(h.out().endsWith("\r\x1b[K")).toBe(true); // the line is cleared for the summary
  });

  it("cuts a long entry name from its start, to the terminal's width", () => {
    const long = `${"very-long-folder/".repeat(10)}the-file.bin`;
    const line = statusLine(transfer("download", { bytesDone: MiB, current: long }), 90);
    expect(line.length).toBe(90);
    expect(line).toMatch(/ · …[^ ]*the-file\.bin$/);
    expect(line).toContain("-- /s");
    expect(line).toContain("ETA --");
    expect(statusLine(transfer("download", { current: long }), 30).length).toBeLessThanOrEqual(30);
    // A short name leaves room for the bar.
    expect(statusLine(transfer("download", { bytesDone: 15 * MiB, current: "a.txt" }), 90)).toMatch(/^Downloading \[#####-----\] 50% .* · a\.txt$/);
  });

  it("counts a lock wait down every second between the lease's events", () => {
    const h = harness(true);
    h.reporter.onEvent(wait(23));
    expect(h.ticks).toHaveLength(1);
    h.advance(1000);
    h.tick();
    h.advance(1000);
    h.tick();
    const shown = h.out().split("\r").filter(Boolean).map((l) => l.replace("\x1b[K", ""));
    expect(shown).toEqual([
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 23 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 22 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 21 s more.",
    ]);
    h.reporter.onEvent(itemProgress("metadata", 0, 1)); // the lock is taken: the countdown stops
    expect(h.ticks).toHaveLength(0);
    h.reporter.stop();
  });

  it("prints a warning above the status line and draws the line again", () => {
    const h = harness(true);
    h.reporter.onEvent(itemProgress("plan", 0, 1));
    h.reporter.onEvent({ type: "log", level: "warn", message: "Something to know." });
    expect(h.out()).toBe("\rPlanning…\x1b[K\r\x1b[Kwarning: Something to know.\n\rPlanning…\x1b[K");
  });
});

describe("phase lines", () => {
  it("tell the work of this batch when a run's transfers count on from earlier batches", () => {
    expect(describePhaseStart(transfer("upload", { done: 5000, total: 5000, bytesDone: 9 * MiB, bytesTotal: 9 * MiB }))).toBeNull();
    expect(describePhaseStart(transfer("upload", { done: 5000, total: 5003, bytesDone: 9 * MiB, bytesTotal: 10 * MiB }))).toBe("uploading 3 files (1.0 MiB)");
    expect(describePhaseStart(transfer("download", { done: 0, total: 1, bytesTotal: 5 }))).toBe("downloading 1 file (5 B)");
  });
});

describe("lock events as sentences", () => {
  function reporter() {
    const events: SyncEvent[] = [];
    let t = 0;
    const r = new LockWaitReporter((e) => events.push(e), () => t);
    return { r, events, advance: (ms: number) => void (t += ms) };
  }

  it("a wait is progress of phase lock with who holds the lock, and a log sentence now and then", () => {
    const { r, events, advance } = reporter();
    const claim = { instance: "laptop", host: "a", pid: 4242, acquiredAt: "2026-11-30T14:00:00.000Z" };
    for (let i = 0; i < 12; i++) {
      r.report({ type: "waiting", holder: claim, waitedMs: i * 2000, leftMs: 30_000 - i * 2000 });
      advance(2000);
    }
    const progress = events.filter((e): e is ProgressEvent => e.type === "sync.progress");
    expect(progress).toHaveLength(12);
    expect(progress[3]).toMatchObject({ phase: "lock", lock: { holder, waitedSeconds: 6, leftSeconds: 24 } });
    const logs = events.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.message : ""));
    // Once when the wait starts, then every 10 s: not at every look at the lock.
    expect(logs).toEqual([
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 30 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 20 s more.",
      "Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 10 s more.",
    ]);
  });

  it("no event is told with an internal code", () => {
    const { r, events } = reporter();
    r.report({ type: "expired-claim-removed", detail: "x.json", holder: { instance: "nas", host: "b", pid: 7, acquiredAt: "?" }, lastWritten: new Date("2026-11-30T14:00:00Z") });
    r.report({ type: "heartbeat-failed", detail: "the server answered 503" });
    r.report({ type: "acquired", waitedMs: 12_300 });
    r.report({ type: "waiting", holder: null, waitedMs: 0, leftMs: 5000 });
    const messages = events.flatMap((e) => (e.type === "log" ? [e.message] : []));
    expect(messages).toEqual([
      "Took over the share's lock from nas (pid 7 on host b), which had not renewed it since 2026-11-30T14:00:00.000Z: it has probably stopped. What it left half-uploaded is cleaned up.",
      "Could not renew the share's lock (the server answered 503); syncd tries again, and the run stops before its next write to the share if the lock runs out first.",
      "Took the share's lock after waiting 13 s.",
      "Waiting for the share's lock, held by another instance — up to 5 s more.",
    ]);
    for (const m of messages) expect(m).not.toMatch(/expired-claim-removed|heartbeat-failed|lock waiting/);
  });

  it("describes a long wait in minutes", () => {
    const lock: LockWait = { holder, waitedSeconds: 0, leftSeconds: 125 };
    expect(describeLockWait(lock)).toBe("Waiting for the share's lock, held by laptop (pid 4242 on host a) — up to 2 min 05 s more.");
  });
});
