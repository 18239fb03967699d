import { mkdtempSync, openSync, closeSync, fstatSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { daemonLogger, formatLine, jsonLogger, type OutputStream } from "../../src/server/log.js";
import { isJournalStream, journalPrefix, parseJournalStream } from "../../src/server/log-journal.js";

const T = new Date("2026-11-30T12:00:00.000Z");

function capture(journal: boolean): OutputStream & { lines: string[] } {
  const lines: string[] = [];
  return { lines, journal, write: (text: string) => lines.push(text) };
}

describe("formatLine", () => {
  it("writes one plain JSON line outside journald", () => {
    const line = formatLine(T, { level: "warn", msg: "conflict", fields: { entryId: "e1" } });
    expect(line).toBe('{"ts":"2026-11-30T12:00:00.000Z","level":"warn","msg":"conflict","fields":{"entryId":"e1"}}\n');
  });

  it.each([
    ["error", "<3>"],
    ["warn", "<4>"],
    ["info", "<6>"],
    ["debug", "<7>"],
  ] as const)("prefixes %s with %s for journald, and the rest is the same JSON", (level, prefix) => {
    const line = formatLine(T, { level, msg: "m" }, true);
    expect(line.startsWith(prefix)).toBe(true);
    expect(journalPrefix(level)).toBe(prefix);
    // What journald stores once it has stripped the prefix: the line jq reads.
    expect(JSON.parse(line.slice(prefix.length))).toEqual({ ts: T.toISOString(), level, msg: "m" });
  });

  it("keeps a record on one line whatever its text holds, and survives fields JSON cannot carry", () => {
    expect(formatLine(T, { level: "error", msg: "a\nb", fields: { stack: "x\n  at y" } }, true).split("\n")).toHaveLength(2);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(JSON.parse(formatLine(T, { level: "info", msg: "m", fields: cyclic }))).toMatchObject({ fields: { unserializable: true } });
  });
});

describe("daemonLogger", () => {
  const made: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const l of made.splice(0)) l.close();
  });

  it("sends debug and info to stdout, warnings and errors to stderr, each with its stream's prefixing", () => {
    const stdout = capture(false);
    const stderr = capture(true);
    const log = daemonLogger({ stdout, stderr, minLevel: "debug", repeats: false, now: () => T.getTime() });
    made.push(log);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(stdout.lines.map((l) => JSON.parse(l).msg)).toEqual(["d", "i"]);
    expect(stderr.lines.map((l) => l.slice(0, 3))).toEqual(["<4>", "<3>"]);
    expect(stderr.lines.map((l) => JSON.parse(l.slice(3)).msg)).toEqual(["w", "e"]);
  });

  it("drops lines below the minimum level before they count as repeats", () => {
    const stdout = capture(false);
    const stderr = capture(false);
    const log = daemonLogger({ stdout, stderr, minLevel: "warn", now: () => T.getTime() });
    made.push(log);
    log.info("lock waiting");
    log.warn("lock waiting");
    expect(stdout.lines).toEqual([]);
    expect(stderr.lines.map((l) => JSON.parse(l).msg)).toEqual(["lock waiting"]);
  });

  it("holds back a repeated message and writes its summary at close()", () => {
    let now = T.getTime();
    const stdout = capture(true);
    const stderr = capture(true);
    const log = daemonLogger({ stdout, stderr, now: () => now });
    made.push(log);
    for (let i = 0; i < 30; i++) {
      log.info("lock waiting", { leftSeconds: 30 - i });
      now += 1000;
    }
    expect(stdout.lines).toHaveLength(1);
    log.close();
    expect(stdout.lines).toHaveLength(2);
    const summary = JSON.parse(stdout.lines[1]?.slice(3) ?? "") as { msg: string; fields: Record<string, unknown> };
    expect(summary.msg).toBe("lock waiting (repeated 29 more times in the last 30 s)");
    expect(summary.fields).toEqual({ leftSeconds: 1, repeated: 29, windowSeconds: 30 });
  });

  it("writes held-back summaries on its timer when the message does not come again", async () => {
    vi.useFakeTimers({ now: T });
    try {
      const stdout = capture(false);
      const log = daemonLogger({ stdout, stderr: capture(false), repeats: { windowMs: 10_000 } });
      made.push(log);
      log.info("lock waiting");
      log.info("lock waiting");
      expect(stdout.lines).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(stdout.lines.map((l) => JSON.parse(l).msg)).toEqual(["lock waiting", "lock waiting (repeated once more in the last 10 s)"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("jsonLogger", () => {
  it("writes every line to its one writer, unprefixed and unlimited", () => {
    const lines: string[] = [];
    const log = jsonLogger((l) => lines.push(l), "info", () => T);
    log.error("x");
    log.error("x");
    expect(lines).toEqual([formatLine(T, { level: "error", msg: "x" }), formatLine(T, { level: "error", msg: "x" })]);
  });
});

describe("journal stream detection", () => {
  it("parses systemd's dev:ino and refuses anything else", () => {
    expect(parseJournalStream("8:123456")).toEqual({ dev: 8n, ino: 123456n });
    expect(parseJournalStream(undefined)).toBeNull();
    expect(parseJournalStream("")).toBeNull();
    expect(parseJournalStream("8:x")).toBeNull();
  });

  it("takes a descriptor for the journal's only when its device and inode match (an inherited variable is not enough)", () => {
    const dir = mkdtempSync(join(tmpdir(), "syncd-journal-"));
    const a = openSync(join(dir, "a"), "w");
    const b = openSync(join(dir, "b"), "w");
    try {
      const s = fstatSync(a, { bigint: true });
      const env = `${s.dev}:${s.ino}`;
      expect(isJournalStream(a, env)).toBe(true);
      expect(isJournalStream(b, env)).toBe(false);
      expect(isJournalStream(a, undefined)).toBe(false);
      expect(isJournalStream(a, `${s.dev}:${s.ino + 1n}`)).toBe(false);
      expect(isJournalStream(a, env, () => null)).toBe(false); // a closed descriptor
    } finally {
      closeSync(a);
      closeSync(b);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
