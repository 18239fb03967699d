import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ClockWarning, HybridClock, compareHlc, formatHlc, parseHlc } from "../../src/sync/hlc.js";

/** A wall clock that returns the given readings in turn, then repeats the last. */
function readings(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] as number;
}

function ticks(clock: HybridClock, n: number): string[] {
  return Array.from({ length: n }, () => clock.tick());
}

function expectStrictlyIncreasing(stamps: string[]): void {
  for (let i = 1; i < stamps.length; i++) expect(compareHlc(stamps[i - 1] as string, stamps[i] as string)).toBe(-1);
}

describe("HybridClock", () => {
  it("never goes back while the wall clock stutters and regresses", () => {
    const clock = new HybridClock("node1", null, readings(1000, 1000, 1000, 990, 500, 1001, 1001, 2, 5000, 4999));
    const stamps = ticks(clock, 12);
    expectStrictlyIncreasing(stamps);
    expect(parseHlc(stamps[0] as string)).toEqual({ wall: 1000, counter: 0, node: "node1" });
    expect(parseHlc(stamps[4] as string)).toEqual({ wall: 1000, counter: 4, node: "node1" }); // 500: counter moves on
    expect(parseHlc(stamps[5] as string)).toEqual({ wall: 1001, counter: 0, node: "node1" });
    expect(parseHlc(stamps[11] as string)?.wall).toBe(5000);
  });

  it("borrows the next millisecond when the counter is exhausted", () => {
    const last = formatHlc({ wall: 100, counter: 999_998, node: "n" });
    const clock = new HybridClock("n", last, () => 100);
    expect(parseHlc(clock.tick())).toEqual({ wall: 100, counter: 999_999, node: "n" });
    expect(parseHlc(clock.tick())).toEqual({ wall: 101, counter: 0, node: "n" });
  });

  it("resumes after its last stamp when restarted with an earlier wall clock", () => {
    const before = new HybridClock("n", null, () => 10_000);
    const last = before.tick();
    const after = new HybridClock("n", last, () => 1);
    expect(after.tick() > last).toBe(true);
  });

  it("receive() moves the clock forward so that the next local stamp sorts after the remote one", () => {
    const clock = new HybridClock("local", null, () => 1000);
    clock.tick();
    const remote = formatHlc({ wall: 1500, counter: 7, node: "remote" });
    clock.receive(remote);
    expect(parseHlc(clock.current())).toEqual({ wall: 1500, counter: 7, node: "local" });
    const next = clock.tick();
    expect(compareHlc(remote, next)).toBe(-1);

    const older = formatHlc({ wall: 10, counter: 0, node: "remote" });
    clock.receive(older); // an older stamp changes nothing
    expect(clock.current()).toBe(formatHlc({ wall: 1500, counter: 8, node: "local" }));
    clock.receive("garbage"); // neither does something that is not a stamp
    expect(clock.current()).toBe(formatHlc({ wall: 1500, counter: 8, node: "local" }));
  });

  it("clamps a stamp beyond the drift bound and warns, naming the instance", () => {
    const warnings: ClockWarning[] = [];
    const clock = new HybridClock("local", null, () => 1000, 5000, (w) => warnings.push(w));
    clock.receive(formatHlc({ wall: 61_000, counter: 3, node: "fast-box" }));
    expect(warnings).toEqual([{ kind: "drift", node: "fast-box", aheadMs: 60_000 }]);
    expect(parseHlc(clock.current())).toEqual({ wall: 6000, counter: 0, node: "local" });

    clock.receive(formatHlc({ wall: 5000, counter: 0, node: "ok-box" })); // within the bound: followed, no warning
    expect(warnings).toHaveLength(1);
  });

  it("breaks ties between instances by node id", () => {
    const a = formatHlc({ wall: 5, counter: 1, node: "01AAA" });
    const b = formatHlc({ wall: 5, counter: 1, node: "01BBB" });
    expect(compareHlc(a, b)).toBe(-1);
    expect(compareHlc(b, a)).toBe(1);
    expect(compareHlc(a, a)).toBe(0);
    expect([b, a].sort()).toEqual([a, b]);
  });

  it("string order is clock order (wall, then counter, then node)", () => {
    const stamp = fc.record({
      wall: fc.integer({ min: 0, max: 10 ** 15 - 1 }),
      counter: fc.integer({ min: 0, max: 999_999 }),
      node: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
    });
    const order = (x: { wall: number; counter: number; node: string }, y: typeof x) =>
      x.wall !== y.wall ? Math.sign(x.wall - y.wall) : x.counter !== y.counter ? Math.sign(x.counter - y.counter) : x.node < y.node ? -1 : x.node > y.node ? 1 : 0;
    fc.assert(
      fc.property(stamp, stamp, (x, y) => {
        expect(parseHlc(formatHlc(x))).toEqual(x);
        expect(compareHlc(formatHlc(x), formatHlc(y))).toBe(order(x, y));
      }),
      { numRuns: 2000 },
    );
  });
});
