/** The transfer rate and time left (src/sync/rate.ts) on a hand-driven clock. */
import { describe, expect, it } from "vitest";
import { etaSeconds, MIN_SPAN_MS, TransferRate, WINDOW_MS } from "../../src/sync/rate.js";

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe("TransferRate", () => {
  it("is unknown before any byte and until bytes have moved for a second", () => {
    const c = clock();
    const rate = new TransferRate(c.now);
    expect(rate.bytesPerSecond()).toBeNull();
    rate.add(64 * 1024);
    c.advance(MIN_SPAN_MS - 1);
    expect(rate.bytesPerSecond()).toBeNull();
    c.advance(1);
    expect(rate.bytesPerSecond()).toBe(64 * 1024);
  });

  it("averages a steady stream of chunks to its rate", () => {
    const c = clock();
    const rate = new TransferRate(c.now);
    // 1 MB/s in 50 ms chunks of 50 kB, for 4 s.
    for (let i = 0; i < 80; i++) {
      rate.add(50_000);
      c.advance(50);
    }
    expect(rate.bytesPerSecond()).toBeCloseTo(1_000_000, -3);
  });

  it("follows a link that slows down, within the window, and falls to 0 when nothing moves", () => {
    const c = clock();
    const rate = new TransferRate(c.now);
    for (let i = 0; i < 100; i++) {
      rate.add(100_000); // 1 MB/s for 10 s
      c.advance(100);
    }
    expect(rate.bytesPerSecond()).toBeCloseTo(1_000_000, -3);
    for (let i = 0; i < (WINDOW_MS + 1000) / 100; i++) {
      rate.add(10_000); // then 100 kB/s
      c.advance(100);
    }
    expect(rate.bytesPerSecond()).toBeCloseTo(100_000, -3);
    c.advance(WINDOW_MS + 200);
    expect(rate.bytesPerSecond()).toBe(0);
  });

  it("ignores empty chunks", () => {
    const c = clock();
    const rate = new TransferRate(c.now);
    rate.add(0);
    c.advance(5000);
    expect(rate.bytesPerSecond()).toBeNull();
  });
});

describe("etaSeconds", () => {
  it("is the remaining bytes over the rate, rounded up, and unknown without a rate", () => {
    expect(etaSeconds(10_000_000, 1_000_000)).toBe(10);
    expect(etaSeconds(10_000_001, 1_000_000)).toBe(11);
    expect(etaSeconds(0, 1_000_000)).toBe(0);
    expect(etaSeconds(5, null)).toBeNull();
    expect(etaSeconds(5, 0)).toBeNull();
  });
});
