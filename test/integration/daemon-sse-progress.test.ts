/**
 * SSE `sync.progress` of a real `syncd daemon` (in-process) whose share is a real WebDAV server behind a slow
 * link (the benchmarks' shaping proxy): during ONE large file's upload, several events arrive with bytesDone
 * strictly between 0 and the file's size, naming the entry, with a rate (SPEC §6). No timing is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startShapingProxy, type ShapingProxy } from "../../bench/lib/shaping-proxy.mjs";
import { readEvents, startTestDaemon, type SseEvent, type TestDaemon } from "../helpers/daemon.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import type { ProgressEvent } from "../../src/sync/events.js";

const SIZE = 16 * 1024 * 1024;
let server: DavServer;
let proxy: ShapingProxy;
let td: TestDaemon;

beforeAll(async () => {
  server = await startDavServer();
  // ~8 MB/s up: the file takes about 2 s, far more than socket buffers take in at once.
  proxy = await startShapingProxy({ target: server.url, upMbit: 64, downMbit: 0, rttMs: 0, handshake: false });
  td = await startTestDaemon({ webdav: { url: proxy.url } });
});
afterAll(async () => {
  await td?.close();
  await proxy?.close();
  await server?.close();
});

/** A `sync.progress` event's data as SSE carries it: the engine's event without its type tag. */
type Progress = Omit<ProgressEvent, "type">;

describe("SSE progress while one large file is in flight", () => {
  it("reports bytes part-way, the entry and a rate, over the event stream", async () => {
    const added = await td.api("/api/v1/files?name=backups/disk.img", { method: "POST", body: Buffer.alloc(SIZE, 7) });
    expect(added.status).toBe(201);
    let started = false;
    const events = readEvents(await td.api("/api/v1/sse/subscribe"), (e) => {
      if (e.event === "sync.started") started = true;
      return started && (e.event === "sync.completed" || e.event === "sync.failed");
    });
    const summary = await td.json<{ uploaded: number; bytesUp: number }>("/api/v1/sync", { method: "POST" });
    expect(summary).toMatchObject({ uploaded: 1, bytesUp: SIZE });
    const got = await events;
    const progress = got.filter((e: SseEvent) => e.event === "sync.progress").map((e) => e.data as Progress);
    // Every event carries SPEC §6's fields.
    for (const p of progress) expect(Object.keys(p)).toEqual(expect.arrayContaining(["bytesPerSecond", "etaSeconds", "current"]));
    const upload = progress.filter((p) => p.phase === "upload");
    const partial = upload.filter((p) => p.bytesDone > 0 && p.bytesDone < SIZE);
    expect(partial.length).toBeGreaterThanOrEqual(3);
    for (const p of partial) expect(p).toMatchObject({ done: 0, total: 1, bytesTotal: SIZE, current: "backups/disk.img" });
    for (let i = 1; i < upload.length; i++) expect(upload[i]!.bytesDone).toBeGreaterThanOrEqual(upload[i - 1]!.bytesDone);
    const rated = partial.filter((p) => p.bytesPerSecond !== null);
    expect(rated.length).toBeGreaterThanOrEqual(1);
    for (const p of rated) {
      expect(p.bytesPerSecond).toBeGreaterThan(0);
      expect(p.etaSeconds).toEqual(expect.any(Number));
    }
    expect(upload.at(-1)).toMatchObject({ done: 1, bytesDone: SIZE, current: null });
  });
});
