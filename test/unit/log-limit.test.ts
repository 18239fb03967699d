import { describe, expect, it } from "vitest";
import { RepeatLimiter, type LogRecord } from "../../src/server/log-limit.js";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}
const msgs = (records: LogRecord[]) => records.map((r) => r.msg);

describe("RepeatLimiter", () => {
  it("passes a message once per window, holds back its repeats, and summarises them when it next passes", () => {
    const c = clock();
    const limiter = new RepeatLimiter({ windowMs: 30_000, now: c.now });
    const out: LogRecord[] = [];
    for (let i = 0; i < 31; i++) {
      out.push(...limiter.admit({ level: "info", msg: "lock waiting", fields: { i } }));
      c.advance(1000);
    }
    // 0 s … 29 s: the first passes, 29 held back; at 30 s the window is over: summary, then the line.
    expect(msgs(out)).toEqual(["lock waiting", "lock waiting (repeated 29 more times in the last 30 s)", "lock waiting"]);
    expect(out[1]).toEqual({ level: "info", msg: "lock waiting (repeated 29 more times in the last 30 s)", fields: { i: 29, repeated: 29, windowSeconds: 30 } });
    expect(out[2]?.fields).toEqual({ i: 30 });
  });

  it("tells messages apart by level and text, not by fields", () => {
    const c = clock();
    const limiter = new RepeatLimiter({ now: c.now });
    expect(limiter.admit({ level: "info", msg: "a", fields: { n: 1 } })).toHaveLength(1);
    expect(limiter.admit({ level: "info", msg: "a", fields: { n: 2 } })).toHaveLength(0);
    expect(limiter.admit({ level: "warn", msg: "a" })).toHaveLength(1);
    expect(limiter.admit({ level: "info", msg: "b" })).toHaveLength(1);
  });

  it("lets an error through several times per window before holding it back", () => {
    const c = clock();
    const limiter = new RepeatLimiter({ now: c.now, errorBurst: 3 });
    const passed = Array.from({ length: 5 }, () => limiter.admit({ level: "error", msg: "sync failed" }).length);
    expect(passed).toEqual([1, 1, 1, 0, 0]);
    c.advance(30_000);
    // The next window: the summary of the two held back, then the error itself.
    expect(msgs(limiter.admit({ level: "error", msg: "sync failed" }))).toEqual(["sync failed (repeated 2 more times in the last 30 s)", "sync failed"]);
  });

  it("never limits debug lines", () => {
    const limiter = new RepeatLimiter({ now: () => 0 });
    expect(Array.from({ length: 10 }, () => limiter.admit({ level: "debug", msg: "request" }).length)).toEqual(Array(10).fill(1));
  });

  it("flush() summarises only the windows that have ended, and forgets them", () => {
    const c = clock();
    const limiter = new RepeatLimiter({ windowMs: 10_000, now: c.now });
    limiter.admit({ level: "warn", msg: "old" });
    limiter.admit({ level: "warn", msg: "old" });
    c.advance(6000);
    limiter.admit({ level: "warn", msg: "new" });
    limiter.admit({ level: "warn", msg: "new" });
    c.advance(5000);
    expect(msgs(limiter.flush())).toEqual(["old (repeated once more in the last 11 s)"]);
    expect(limiter.flush()).toEqual([]); // "old" is forgotten: nothing twice
    // "old" starts a new window at once; "new" is still held back.
    expect(limiter.admit({ level: "warn", msg: "old" })).toHaveLength(1);
    expect(limiter.admit({ level: "warn", msg: "new" })).toHaveLength(0);
    expect(msgs(limiter.flush({ all: true }))).toEqual(["new (repeated 2 more times in the last 5 s)"]);
  });

  it("writes no summary for a message that was never held back", () => {
    const c = clock();
    const limiter = new RepeatLimiter({ now: c.now });
    limiter.admit({ level: "info", msg: "listening" });
    c.advance(60_000);
    expect(limiter.flush()).toEqual([]);
    expect(msgs(limiter.admit({ level: "info", msg: "listening" }))).toEqual(["listening"]);
  });
});
