/**
 * Server-Sent Events fan-out (SPEC §6 `/api/v1/sse/subscribe`).
 *
 * publish() is synchronous and never waits for a subscriber: the engine calls it from inside a run, so a
 * slow or stalled client must cost the run nothing. Each subscriber is a web ReadableStream whose queue is
 * measured in bytes; @hono/node-server only pulls from it as fast as the socket drains, so a queue that
 * grows past `maxBacklogBytes` means the client is not keeping up, and it is dropped (the stream errors,
 * the connection closes). The browser's EventSource then reconnects with Last-Event-ID and gets what it
 * missed from the replay buffer, or the current state when that is gone. Memory is bounded by
 * subscribers × backlog + the replay buffer.
 *
 * Event ids are `<boot>-<n>`: `n` counts events of this process, `boot` tells a Last-Event-ID from an
 * earlier process (whose numbers mean nothing here) from one of ours.
 */
import { SyncdError } from "../errors.js";

export interface EventHubOptions {
  /** Events kept for Last-Event-ID replay; default 500. */
  replayEvents?: number;
  /** Bytes kept for replay; default 256 KiB. Must stay below maxBacklogBytes so a full replay fits. */
  replayBytes?: number;
  /** A subscriber whose unsent data would exceed this is dropped; default 512 KiB. */
  maxBacklogBytes?: number;
  /** Comment line sent to every subscriber this often; default 10 s (SPEC: at least every 15 s). */
  keepAliveMs?: number;
  /** Default 64; more get 503. */
  maxSubscribers?: number;
  /** `retry:` sent to clients (EventSource reconnection delay); default 2 s. */
  retryMs?: number;
}

interface StoredEvent {
  seq: number;
  type: string;
  frame: Uint8Array;
}

export class TooManySubscribersError extends SyncdError {
  constructor(max: number) {
    super("too-many-subscribers", `This daemon already serves ${max} event streams; close one and try again.`);
  }
}

const encoder = new TextEncoder();

class Subscriber {
  closed = false;

  constructor(
    private readonly controller: ReadableStreamDefaultController<Uint8Array>,
    private readonly onDrop: (s: Subscriber) => void,
    private readonly disconnect: (() => void) | undefined,
  ) {}

  /** False when the subscriber was dropped (now or before). */
  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    const room = this.controller.desiredSize ?? 0;
    if (room < frame.byteLength) {
      this.closed = true;
      this.onDrop(this);
      // Cutting the connection cancels the stream, which frees its queue. Erroring the stream would do
      // the same, but the HTTP adapter reports stream errors on stderr as if they were faults.
      if (this.disconnect) this.disconnect();
      else this.controller.error(new Error("slow event-stream consumer dropped"));
      return false;
    }
    this.controller.enqueue(frame);
    return true;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.controller.close();
    } catch {
      // Already errored or cancelled by the client.
    }
  }
}

export class EventHub {
  readonly boot = Date.now().toString(36);
  private readonly o: Required<EventHubOptions>;
  private seq = 0;
  private readonly buffer: StoredEvent[] = [];
  private bufferBytes = 0;
  private readonly subscribers = new Set<Subscriber>();
  /** What a late subscriber needs to know: the run in progress (start + latest progress), else the last outcome. */
  private running: { started: StoredEvent; progress: StoredEvent | null } | null = null;
  private lastOutcome: StoredEvent | null = null;
  private readonly keepAlive: NodeJS.Timeout;
  private closed = false;
  /** Subscribers dropped for being too slow, since start. */
  dropped = 0;

  constructor(options: EventHubOptions = {}) {
    this.o = {
      replayEvents: 500,
      replayBytes: 256 * 1024,
      maxBacklogBytes: 512 * 1024,
      keepAliveMs: 10_000,
      maxSubscribers: 64,
      retryMs: 2000,
      ...options,
    };
    const ping = encoder.encode(": keep-alive\n\n");
    this.keepAlive = setInterval(() => {
      for (const s of this.subscribers) s.send(ping);
    }, this.o.keepAliveMs);
    this.keepAlive.unref();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  publish(type: string, data: unknown): void {
    if (this.closed) return;
    const seq = ++this.seq;
    const frame = encoder.encode(`id: ${this.boot}-${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    const event: StoredEvent = { seq, type, frame };
    this.remember(event);
    for (const s of this.subscribers) s.send(frame);
  }

  /**
   * A new event stream. With a Last-Event-ID of this process still covered by the buffer: the events after
   * it. Otherwise (none, unknown, too old): the current state, as the events that describe it.
   * `disconnect` closes the client's connection; it is how a subscriber that fell behind is dropped.
   */
  subscribe(lastEventId: string | null, opts: { disconnect?: () => void } = {}): ReadableStream<Uint8Array> {
    if (this.closed) throw new SyncdError("shutting-down", "The daemon is shutting down.");
    if (this.subscribers.size >= this.o.maxSubscribers) throw new TooManySubscribersError(this.o.maxSubscribers);
    let subscriber: Subscriber | null = null;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          const s = new Subscriber(
            controller,
            (dropped) => {
              this.subscribers.delete(dropped);
              this.dropped++;
            },
            opts.disconnect,
          );
          subscriber = s;
          this.subscribers.add(s);
          // Something at once, so that the response's headers go out now and not with the first event.
          s.send(encoder.encode(`retry: ${this.o.retryMs}\n: connected\n\n`));
          for (const e of this.catchUp(lastEventId)) s.send(e.frame);
        },
        cancel: () => {
          // The client went away.
          if (subscriber) {
            subscriber.closed = true;
            this.subscribers.delete(subscriber);
          }
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: this.o.maxBacklogBytes }),
    );
  }

  /** Ends every stream (daemon shutdown); later publishes are ignored. */
  close(): void {
    this.closed = true;
    clearInterval(this.keepAlive);
    for (const s of this.subscribers) s.end();
    this.subscribers.clear();
  }

  private catchUp(lastEventId: string | null): StoredEvent[] {
    const seq = this.parseId(lastEventId);
    if (seq !== null) {
      const oldest = this.buffer[0]?.seq ?? this.seq + 1;
      if (seq >= oldest - 1 && seq <= this.seq) return this.buffer.filter((e) => e.seq > seq);
    }
    if (this.running) return this.running.progress ? [this.running.started, this.running.progress] : [this.running.started];
    return this.lastOutcome ? [this.lastOutcome] : [];
  }

  private parseId(id: string | null): number | null {
    const match = id ? /^([0-9a-z]+)-(\d{1,15})$/.exec(id.trim()) : null;
    if (!match || match[1] !== this.boot) return null;
    return Number(match[2]);
  }

  private remember(event: StoredEvent): void {
    this.buffer.push(event);
    this.bufferBytes += event.frame.byteLength;
    while (this.buffer.length > this.o.replayEvents || (this.bufferBytes > this.o.replayBytes && this.buffer.length > 1)) {
      this.bufferBytes -= (this.buffer.shift() as StoredEvent).frame.byteLength;
    }
    if (event.type === "sync.started") this.running = { started: event, progress: null };
    else if (event.type === "sync.progress" && this.running) this.running.progress = event;
    else if (event.type === "sync.completed" || event.type === "sync.failed") {
      this.running = null;
      this.lastOutcome = event;
    }
  }
}
