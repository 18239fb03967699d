/**
 * The event stream of `syncd daemon` over real HTTP: a whole run's events in order, keep-alives,
 * Last-Event-ID replay, conflict events, and a client that stops reading.
 */
import { get, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openPeer, readEvents, startTestDaemon, type SseEvent, type TestDaemon } from "../helpers/daemon.js";
import type { ProgressEvent } from "../../src/sync/events.js";

const PHASES = ["check", "lock", "metadata", "plan", "upload", "download", "publish", "apply"];

/** A `sync.progress` event's data as SSE carries it: the engine's event without its type tag. */
type Progress = Omit<ProgressEvent, "type">;

let td: TestDaemon;

beforeAll(async () => {
  td = await startTestDaemon({ hub: { keepAliveMs: 150 } });
});
afterAll(async () => {
  await td?.close();
});

async function addFiles(prefix: string, n: number, size: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await td.api(`/api/v1/files?name=${prefix}/${i}`, { method: "POST", body: Buffer.alloc(size, i + 1) });
    expect(res.status).toBe(201);
  }
}

const seq = (e: SseEvent) => Number(e.id.split("-")[1]);
const isEnd = (e: SseEvent) => e.event === "sync.completed" || e.event === "sync.failed";

/** Reads a subscription until the end of the next run (a new subscriber first gets the last outcome). */
async function nextRun(res: Response): Promise<SseEvent[]> {
  let started = false;
  const events = await readEvents(res, (e) => {
    if (e.event === "sync.started") started = true;
    return started && isEnd(e);
  });
  return events.slice(events.findIndex((e) => e.event === "sync.started"));
}

describe("GET /api/v1/sse/subscribe", () => {
  it("streams a whole run in order: started, progress phase by phase, completed with the summary", async () => {
    await addFiles("order", 12, 64 * 1024);
    const stream = await td.api("/api/v1/sse/subscribe");
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(stream.headers.get("cache-control")).toMatch(/no-cache/);
    const events = nextRun(stream);
    const summary = await td.json<Record<string, unknown>>("/api/v1/sync", { method: "POST" });
    const got = await events;

    expect(got[0]).toMatchObject({ event: "sync.started", data: { force: false } });
    expect(got.at(-1)).toMatchObject({ event: "sync.completed", data: { summary } });
    for (let i = 1; i < got.length; i++) expect(seq(got[i] as SseEvent)).toBe(seq(got[i - 1] as SseEvent) + 1);

    const progress = got.slice(1, -1).map((e) => {
      expect(e.event).toBe("sync.progress");
      return e.data as Progress;
    });
    // Phases appear in the engine's order, each at least once, and each ends complete.
    const order = progress.map((p) => p.phase).filter((p, i, all) => all[i - 1] !== p);
    expect(order).toEqual(PHASES);
    for (const phase of PHASES) {
      const ps = progress.filter((p) => p.phase === phase);
      for (let i = 1; i < ps.length; i++) {
        expect((ps[i] as Progress).done).toBeGreaterThanOrEqual((ps[i - 1] as Progress).done);
        expect((ps[i] as Progress).bytesDone).toBeGreaterThanOrEqual((ps[i - 1] as Progress).bytesDone);
      }
      const last = ps.at(-1) as Progress;
      expect(last.done).toBe(last.total);
      expect(last.bytesDone).toBe(last.bytesTotal);
    }
    const upload = progress.filter((p) => p.phase === "upload").at(-1) as Progress;
    expect(upload).toMatchObject({ total: 12, bytesTotal: 12 * 64 * 1024, current: null });
    // SPEC §6's fields on every progress event (values while bytes are in flight: daemon-sse-progress.test.ts).
    for (const p of progress) expect(Object.keys(p)).toEqual(expect.arrayContaining(["bytesPerSecond", "etaSeconds", "current"]));
  });

  it("sends keep-alive comments on the configured interval", async () => {
    // Waits for the comments themselves (a condition), not for a fixed time: on a loaded machine a timer may
    // fire late, never early, so only the lower bound of the spacing is asserted; "never sent" is caught by the
    // test's own timeout.
    const comments: number[] = [];
    const abort = new AbortController();
    const subscribed = performance.now();
    const res = await td.api("/api/v1/sse/subscribe", { signal: abort.signal });
    let third!: () => void;
    const gotThree = new Promise<void>((resolve) => (third = resolve));
    const reading = readEvents(res, () => false, {
      onComment: (text) => {
        if (text !== "keep-alive") return;
        comments.push(performance.now());
        if (comments.length === 3) third();
      },
    });
    await gotThree;
    abort.abort();
    await reading.catch(() => {});
    // Every 150 ms here (10 s by default), on the hub's one timer: the third comment cannot come before two
    // whole intervals have passed since the subscription (a burst of comments would).
    expect(comments[2]! - subscribed).toBeGreaterThanOrEqual(290);
  });

  it("a reconnecting client gets exactly what it missed after Last-Event-ID; a new one gets the state", async () => {
    await addFiles("replay", 3, 1024);
    const first = nextRun(await td.api("/api/v1/sse/subscribe"));
    await td.json("/api/v1/sync", { method: "POST" });
    const all = await first;
    expect(all.length).toBeGreaterThan(10);
    const seen = all.slice(0, 3);
    const missed = all.slice(3);
    const replay = await readEvents(
      await td.api("/api/v1/sse/subscribe", { headers: { "last-event-id": (seen.at(-1) as SseEvent).id } }),
      isEnd,
    );
    expect(replay).toEqual(missed);
    // The query form, for clients that cannot set headers.
    const viaQuery = await readEvents(await td.api(`/api/v1/sse/subscribe?lastEventId=${(seen.at(-1) as SseEvent).id}`), isEnd);
    expect(viaQuery).toEqual(missed);
    // No Last-Event-ID: the current state at once (the last outcome, as no run is in progress).
    const late = await readEvents(await td.api("/api/v1/sse/subscribe"), () => true);
    expect(late).toEqual([all.at(-1)]);
  });

  it("a conflict is an event of the run that found it", async () => {
    const peer = await openPeer(td);
    try {
      const { id } = await td.json<{ id: string }>("/api/v1/files?name=c.txt", { method: "POST", body: "c" });
      await td.json("/api/v1/sync", { method: "POST" });
      await peer.engine.sync();
      peer.library.rename(id, "c-peer.txt");
      await peer.engine.sync();
      await td.json(`/api/v1/files/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "c-daemon.txt" }) });
      const events = nextRun(await td.api("/api/v1/sse/subscribe"));
      await td.json("/api/v1/sync", { method: "POST" });
      const conflict = (await events).find((e) => e.event === "conflict");
      expect(conflict?.data).toMatchObject({
        entryId: id,
        fields: ["name"],
        policy: "manual",
        held: true,
        local: { name: "c-daemon.txt" },
        remote: { name: "c-peer.txt" },
      });
    } finally {
      await peer.close();
    }
  });

  it("a client that stops reading is dropped; the run and the other clients do not wait for it", async () => {
    const port = new URL(td.url).port;
    // A raw request whose response is never read: the socket's buffers fill, then the server's queue.
    const stalled = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = get({ host: "127.0.0.1", port, path: "/api/v1/sse/subscribe", headers: { authorization: `Bearer ${td.token}` } }, (res) => {
        res.pause();
        resolve(res);
      });
      req.on("error", reject);
    });
    let started = false;
    const healthy = readEvents(await td.api("/api/v1/sse/subscribe"), (e) => {
      if (e.event === "sync.started") started = true;
      return started && isEnd(e);
    });

    // Far more than the kernel's loopback buffers (a few MB here) plus the per-client backlog (512 KiB):
    // 12 MB of events, published in small bursts so that a client that does read keeps up.
    const EVENTS = 1500;
    const pad = "x".repeat(8 * 1024);
    let publishMs = 0;
    for (let i = 0; i < EVENTS; i++) {
      const t = performance.now();
      td.daemon.hub.publish("sync.progress", { phase: "upload", done: i, total: EVENTS, bytesDone: 0, bytesTotal: 0, pad });
      publishMs += performance.now() - t;
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 1));
    }
    expect(td.daemon.hub.dropped).toBeGreaterThanOrEqual(1);
    // A sync still completes promptly, and the healthy client sees it.
    const run = await td.json<{ skipped: boolean }>("/api/v1/sync", { method: "POST" });
    expect(run.skipped).toBe(true);
    const got = await healthy;
    expect(got.filter((e) => (e.data as { pad?: string }).pad !== undefined)).toHaveLength(EVENTS);
    expect(got.at(-1)?.event).toBe("sync.completed");
    // (The healthy client has hung up too; the server notices on its next tick.)
    await vi.waitFor(() => expect(td.daemon.hub.subscriberCount).toBe(0));
    // The stalled client, reading again, finds its stream cut short.
    let received = 0;
    stalled.on("data", (d: Buffer) => (received += d.length));
    await new Promise<void>((resolve) => {
      stalled.once("close", () => resolve());
      stalled.once("error", () => resolve());
      stalled.resume();
    });
    expect(received).toBeLessThan(EVENTS * pad.length);
    // publish() never waits for a client: 1500 events cost milliseconds of CPU in all.
    expect(publishMs).toBeLessThan(500);
  });

  it("serves many subscribers at once", async () => {
    await addFiles("many", 2, 1024);
    const streams = await Promise.all(Array.from({ length: 20 }, () => td.api("/api/v1/sse/subscribe")));
    const all = Promise.all(streams.map((s) => nextRun(s)));
    await td.json("/api/v1/sync", { method: "POST" });
    const results = await all;
    for (const r of results) expect(r).toEqual(results[0]);
    expect(results[0]?.at(-1)?.event).toBe("sync.completed");
  });
});
