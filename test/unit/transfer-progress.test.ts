/** Progress of transfers by bytes in flight (src/sync/transfer-progress.ts), on a hand-driven clock. */
import { describe, expect, it } from "vitest";
import type { ProgressEvent, SyncEvent } from "../../src/sync/events.js";
import { TransferProgress, TransferTally } from "../../src/sync/transfer-progress.js";

function setup(files: Array<{ hash: string; size: number }>, tally?: TransferTally) {
  let t = 0;
  const events: ProgressEvent[] = [];
  const emit = (e: SyncEvent) => {
    if (e.type === "sync.progress") events.push(e);
  };
  const names: Record<string, string> = { a: "big.iso", b: "notes.txt", c: "photo.jpg" };
  const progress = new TransferProgress(emit, "upload", files, { tally, nameOf: (h) => names[h] ?? null, now: () => t });
  return { progress, events, advance: (ms: number) => void (t += ms) };
}

const MB = 1_000_000;

describe("TransferProgress", () => {
  it("advances bytesDone while a file is in flight, about four times a second, with rate, ETA and the entry's name", () => {
    const { progress, events, advance } = setup([{ hash: "a", size: 10 * MB }]);
    expect(events).toEqual([
      { type: "sync.progress", phase: "upload", done: 0, total: 1, bytesDone: 0, bytesTotal: 10 * MB, bytesPerSecond: null, etaSeconds: null, current: null },
    ]);
    const file = progress.begin({ hash: "a", size: 10 * MB });
    // 1 MB/s in 64 kB chunks every 64 ms, for 5 s.
    for (let i = 0; i < 78; i++) {
      advance(64);
      file.moved(64_000);
    }
    const during = events.slice(1);
    // Throttled: one event per 250 ms or so, not one per chunk.
    expect(during.length).toBeGreaterThanOrEqual(15);
    expect(during.length).toBeLessThanOrEqual(22);
    for (const e of during) {
      expect(e.bytesDone).toBeGreaterThan(0);
      expect(e.bytesDone).toBeLessThan(10 * MB);
      expect(e.current).toBe("big.iso");
      expect(e.done).toBe(0);
    }
    for (let i = 1; i < during.length; i++) expect(during[i]!.bytesDone).toBeGreaterThan(during[i - 1]!.bytesDone);
    expect(during[0]!.bytesPerSecond).toBeNull(); // too early to tell
    const last = during.at(-1)!;
    expect(last.bytesPerSecond).toBeGreaterThan(0.9 * MB);
    expect(last.bytesPerSecond).toBeLessThan(1.1 * MB);
    expect(last.etaSeconds).toBeGreaterThanOrEqual(4);
    expect(last.etaSeconds).toBeLessThanOrEqual(6);
    file.end();
    expect(events.at(-1)).toMatchObject({ done: 1, total: 1, bytesDone: 10 * MB, bytesPerSecond: null, etaSeconds: null, current: null });
  });

  it("a retried file never moves the bar backwards, and counts once", () => {
    const { progress, events, advance } = setup([{ hash: "a", size: 4 * MB }]);
    const file = progress.begin({ hash: "a", size: 4 * MB });
    file.restart();
    for (let i = 0; i < 10; i++) {
      advance(300);
      file.moved(300_000);
    }
    file.restart(); // the body is sent again from its start
    for (let i = 0; i < 14; i++) {
      advance(300);
      file.moved(300_000);
    }
    const shown = events.slice(1).map((e) => e.bytesDone);
    for (let i = 1; i < shown.length; i++) expect(shown[i]!).toBeGreaterThanOrEqual(shown[i - 1]!);
    expect(Math.max(...shown)).toBeLessThanOrEqual(4 * MB);
    file.end();
    expect(events.at(-1)).toMatchObject({ done: 1, bytesDone: 4 * MB });
  });

  it("names the file in flight longest; a file dealt with at once (already held, refused) counts at its size", () => {
    const { progress, events, advance } = setup([
      { hash: "a", size: 1000 },
      { hash: "b", size: 500 },
      { hash: "c", size: 300 },
    ]);
    const a = progress.begin({ hash: "a", size: 1000 });
    const b = progress.begin({ hash: "b", size: 500 });
    advance(300);
    b.moved(100);
    expect(events.at(-1)).toMatchObject({ current: "big.iso", bytesDone: 100 });
    a.end();
    advance(300);
    b.moved(100);
    expect(events.at(-1)).toMatchObject({ current: "notes.txt", done: 1, bytesDone: 1200 });
    b.end();
    progress.begin({ hash: "c", size: 300 }).end();
    expect(events.at(-1)).toMatchObject({ done: 3, total: 3, bytesDone: 1800, bytesTotal: 1800, current: null });
  });

  it("counts on across the batches of a run: files and bytes done never fall back", () => {
    const tally = new TransferTally();
    const first = setup([{ hash: "a", size: 100 }], tally);
    first.progress.begin({ hash: "a", size: 100 }).end();
    const second = setup(
      [
        { hash: "b", size: 50 },
        { hash: "c", size: 50 },
      ],
      tally,
    );
    expect(second.events[0]).toMatchObject({ done: 1, total: 3, bytesDone: 100, bytesTotal: 200 });
    second.progress.begin({ hash: "b", size: 50 }).end();
    second.progress.begin({ hash: "c", size: 50 }).end();
    expect(second.events.at(-1)).toMatchObject({ done: 3, total: 3, bytesDone: 200, bytesTotal: 200 });
  });
});
