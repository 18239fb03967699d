/**
 * Progress by bytes against a real WebDAV server (webdav-server on 127.0.0.1) behind a slow link (the
 * benchmarks' shaping proxy): while ONE large file is uploaded, then downloaded by another instance, the
 * engine reports bytes strictly between nothing and all of it, naming the entry and a rate. No timing is
 * asserted: a slower machine only gives more events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startShapingProxy, type ShapingProxy } from "../../bench/lib/shaping-proxy.mjs";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import type { ProgressEvent, SyncEvent } from "../../src/sync/events.js";

const SIZE = 16 * 1024 * 1024;
let server: DavServer;
let proxy: ShapingProxy;
const instances: EngineInstance[] = [];

beforeAll(async () => {
  server = await startDavServer();
  // ~8 MB/s each way: a 16 MiB file takes about 2 s, long enough for several events at 4 a second, and far
  // more than what socket buffers take in at once before the link drains them (an upload counts bytes as
  // the request takes them, a few MB ahead of the wire here).
  proxy = await startShapingProxy({ target: server.url, upMbit: 64, downMbit: 64, rttMs: 0, handshake: false });
});
afterAll(async () => {
  for (const i of instances) await i.close();
  await proxy?.close();
  await server?.close();
});

const progressOf = (events: SyncEvent[], phase: "upload" | "download") =>
  events.filter((e): e is ProgressEvent => e.type === "sync.progress" && e.phase === phase);

/** The events of a transfer phase that show the file part-way, and checks that hold for all of them. */
function inFlight(events: ProgressEvent[], name: string): ProgressEvent[] {
  for (let i = 1; i < events.length; i++) expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
  expect(events.at(-1)).toMatchObject({ done: 1, total: 1, bytesDone: SIZE, bytesTotal: SIZE, current: null });
  const partial = events.filter((e) => e.bytesDone > 0 && e.bytesDone < SIZE);
  for (const e of partial) expect(e).toMatchObject({ done: 0, total: 1, bytesTotal: SIZE, current: name });
  return partial;
}

describe("transfer progress over a slow link", () => {
  it("advances while one large file is uploaded, then while it is downloaded elsewhere", async () => {
    const a = await makeEngineInstance("up", { url: proxy.url });
    const b = await makeEngineInstance("down", { url: proxy.url });
    instances.push(a, b);
    await a.add("videos/holiday.mp4", "x".repeat(SIZE));
    await a.engine.sync();
    const up = inFlight(progressOf(a.events, "upload"), "videos/holiday.mp4");
    expect(up.length).toBeGreaterThanOrEqual(3);
    const rated = up.filter((e) => e.bytesPerSecond !== null);
    expect(rated.length).toBeGreaterThanOrEqual(1);
    for (const e of rated) {
      expect(e.bytesPerSecond).toBeGreaterThan(0);
      expect(e.etaSeconds).not.toBeNull();
    }

    await b.engine.sync();
    const down = inFlight(progressOf(b.events, "download"), "videos/holiday.mp4");
    expect(down.length).toBeGreaterThanOrEqual(3);
    expect(down.some((e) => e.bytesPerSecond !== null && e.bytesPerSecond > 0 && e.etaSeconds !== null)).toBe(true);
    // Nothing to send the other way: those phases stay empty.
    expect(progressOf(a.events, "download").every((e) => e.total === 0)).toBe(true);
    expect(progressOf(b.events, "upload").every((e) => e.total === 0)).toBe(true);
    console.log(`transfer progress: ${up.length} upload and ${down.length} download events part-way through one ${SIZE / 1024 / 1024} MiB file`);
  });

  it("counts a run's transfers on across its batches: files and bytes done never fall back to 0", async () => {
    // Directly to the server: only the order of the events matters here.
    const a = await makeEngineInstance("batches-up", { url: server.url, root: "/batches" }, { batchSize: 3 });
    const b = await makeEngineInstance("batches-down", { url: server.url, root: "/batches" }, { batchSize: 3 });
    instances.push(a, b);
    for (let i = 0; i < 10; i++) await a.add(`doc-${i}.txt`, `content ${i} `.repeat(i + 1));
    const bytes = Array.from({ length: 10 }, (_, i) => `content ${i} `.repeat(i + 1).length).reduce((x, y) => x + y, 0);
    await a.engine.sync({ force: true });
    await b.engine.sync({ force: true });
    for (const [inst, phase] of [[a, "upload"], [b, "download"]] as const) {
      const events = progressOf(inst.events, phase);
      // Several batches, each with its own phase: the phase starts again, but from where the last batch ended.
      const starts = inst.events.filter((e, i) => e.type === "sync.progress" && e.phase === phase && !(inst.events[i - 1]?.type === "sync.progress" && (inst.events[i - 1] as ProgressEvent).phase === phase));
      expect(starts.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < events.length; i++) {
        expect(events[i]!.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
        expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
        expect(events[i]!.total).toBeGreaterThanOrEqual(events[i - 1]!.total);
      }
      expect(events.at(-1)).toMatchObject({ done: 10, total: 10, bytesDone: bytes, bytesTotal: bytes });
    }
  });
});
