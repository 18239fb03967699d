import { afterEach, describe, expect, it } from "vitest";
import { EventHub } from "../../src/server/event-hub.js";

interface Frame {
  id?: string;
  event?: string;
  data?: unknown;
  comment?: string;
  retry?: number;
}

/** Reads a stream as SSE frames (blank-line separated). */
function frames(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const queue: Frame[] = [];
  async function next(): Promise<Frame> {
    while (queue.length === 0) {
      const { done, value } = await reader.read();
      if (done) throw new Error("stream ended");
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const f: Frame = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) f.comment = line.slice(1).trim();
          else if (line.startsWith("id: ")) f.id = line.slice(4);
          else if (line.startsWith("event: ")) f.event = line.slice(7);
          else if (line.startsWith("data: ")) f.data = JSON.parse(line.slice(6));
          else if (line.startsWith("retry: ")) f.retry = Number(line.slice(7));
        }
        queue.push(f);
      }
    }
    return queue.shift() as Frame;
  }
  /** The next n frames that are events (skipping the greeting and keep-alives). */
  async function events(n: number): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) {
      const f = await next();
      if (f.event) out.push(f);
    }
    return out;
  }
  return { next, events, reader };
}

describe("EventHub", () => {
  let hub: EventHub;
  afterEach(() => hub?.close());

  it("greets with a retry hint, then sends each event with an id", async () => {
    hub = new EventHub();
    const s = frames(hub.subscribe(null));
    expect(await s.next()).toMatchObject({ retry: 2000, comment: "connected" });
    hub.publish("sync.started", { force: false });
    hub.publish("sync.progress", { phase: "check", done: 0, total: 1, bytesDone: 0, bytesTotal: 0 });
    const [a, b] = await s.events(2);
    expect(a).toMatchObject({ event: "sync.started", data: { force: false } });
    expect(b).toMatchObject({ event: "sync.progress", data: { phase: "check" } });
    expect(a?.id).toMatch(new RegExp(`^${hub.boot}-\\d+$`));
    expect(Number(b?.id?.split("-")[1])).toBe(Number(a?.id?.split("-")[1]) + 1);
  });

  it("replays what a client missed after its Last-Event-ID", async () => {
    hub = new EventHub();
    for (let i = 1; i <= 5; i++) hub.publish("sync.progress", { done: i });
    const s = frames(hub.subscribe(`${hub.boot}-2`));
    expect((await s.events(3)).map((f) => (f.data as { done: number }).done)).toEqual([3, 4, 5]);
    hub.publish("sync.progress", { done: 6 });
    expect((await s.events(1))[0]?.data).toEqual({ done: 6 });
  });

  it("gives a late subscriber the current state: the run in progress, or the last outcome", async () => {
    hub = new EventHub();
    hub.publish("sync.started", { force: false });
    for (let i = 1; i <= 3; i++) hub.publish("sync.progress", { phase: "upload", done: i, total: 10 });
    const during = frames(hub.subscribe(null));
    const now = await during.events(2);
    expect(now.map((f) => f.event)).toEqual(["sync.started", "sync.progress"]);
    expect(now[1]?.data).toMatchObject({ done: 3 });
    hub.publish("sync.completed", { summary: { version: 4 } });
    // A Last-Event-ID from another process (or garbage) is the same as none.
    for (const id of [null, "0abc-3", "nonsense"]) {
      const after = frames(hub.subscribe(id));
      expect((await after.events(1)).map((f) => f.event)).toEqual(["sync.completed"]);
    }
  });

  it("falls back to the current state when the Last-Event-ID is older than the replay buffer", async () => {
    hub = new EventHub({ replayEvents: 3 });
    hub.publish("sync.started", { force: true });
    for (let i = 1; i <= 6; i++) hub.publish("sync.progress", { done: i });
    hub.publish("sync.failed", { error: { code: "x", message: "y" } });
    const s = frames(hub.subscribe(`${hub.boot}-1`));
    const [first] = await s.events(1);
    expect(first?.event).toBe("sync.failed");
    // Still within the buffer: exact replay.
    const t = frames(hub.subscribe(`${hub.boot}-6`));
    expect((await t.events(2)).map((f) => f.event)).toEqual(["sync.progress", "sync.failed"]);
  });

  it("bounds the replay buffer by bytes too", async () => {
    hub = new EventHub({ replayEvents: 1000, replayBytes: 2000, maxBacklogBytes: 10_000 });
    for (let i = 0; i < 100; i++) hub.publish("sync.progress", { pad: "x".repeat(100), i });
    const s = frames(hub.subscribe(`${hub.boot}-50`)); // gone from the buffer: state only
    hub.publish("sync.progress", { last: true });
    const got = await s.events(1);
    expect(got[0]?.data).toEqual({ last: true });
  });

  it("sends keep-alive comments on its interval", async () => {
    hub = new EventHub({ keepAliveMs: 30 });
    const s = frames(hub.subscribe(null));
    await s.next(); // greeting
    const started = Date.now();
    expect(await s.next()).toEqual({ comment: "keep-alive" });
    expect(await s.next()).toEqual({ comment: "keep-alive" });
    // Two comments need at least one whole interval between them; "never" is the test's timeout.
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("drops a subscriber that does not read, without slowing publish or the others", async () => {
    hub = new EventHub({ maxBacklogBytes: 64 * 1024, replayBytes: 32 * 1024 });
    const slow = hub.subscribe(null); // never read
    const fast = frames(hub.subscribe(null));
    expect(hub.subscriberCount).toBe(2);
    const payload = { phase: "upload", pad: "x".repeat(900) };
    // publish() never waits for a reader: it returns synchronously (no promise to await), so a reader that
    // never reads cannot hold it up; what that reader costs is bounded by its backlog, and it is dropped.
    // (Its wall time is not asserted: on a loaded machine any 20 ms bound fails now and then.)
    const received: Promise<Frame[]> = fast.events(500);
    for (let i = 0; i < 500; i++) {
      expect(hub.publish("sync.progress", { ...payload, i })).toBeUndefined();
      if (i % 20 === 0) await new Promise((r) => setImmediate(r)); // let the fast reader read
    }
    expect((await received).length).toBe(500);
    expect(hub.subscriberCount).toBe(1);
    expect(hub.dropped).toBe(1);
    await expect(slow.getReader().read()).rejects.toThrow(/slow/);
  });

  it("refuses subscribers beyond the limit and forgets cancelled ones", async () => {
    hub = new EventHub({ maxSubscribers: 2 });
    const a = hub.subscribe(null);
    hub.subscribe(null);
    expect(() => hub.subscribe(null)).toThrow(expect.objectContaining({ code: "too-many-subscribers" }));
    await a.cancel();
    expect(hub.subscriberCount).toBe(1);
    hub.subscribe(null);
  });

  it("close() ends every stream", async () => {
    hub = new EventHub();
    const s = frames(hub.subscribe(null));
    await s.next();
    hub.close();
    await expect(s.next()).rejects.toThrow("stream ended");
    expect(() => hub.subscribe(null)).toThrow(expect.objectContaining({ code: "shutting-down" }));
  });
});
