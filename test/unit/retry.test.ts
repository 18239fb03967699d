/**
 * retry.ts with a scripted fake Remote and a fake clock: which failures are retried and which are not,
 * the backoff (full jitter, doubling, capped), Retry-After, the budget, and the idempotency rules of
 * delete and move.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { RemoteError, type RemoteErrorKind } from "../../src/remote/errors.js";
import { retrying } from "../../src/remote/open.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "../../src/remote/remote.js";
import { withRetries, type RetryInfo, type RetryOptions } from "../../src/remote/retry.js";

const LOCATION = "http://127.0.0.1:1/syncd";

function fail(kind: RemoteErrorKind, method: string, path: string, extra: { status?: number; retryAfterMs?: number } = {}): RemoteError {
  const reason = extra.status ? `${extra.status} Something.` : "connection reset by the server.";
  return new RemoteError(kind, method, `${LOCATION}/${path}`, reason, extra);
}

type Step = RemoteError | Error | "ok";

/**
 * A Remote whose every method plays a script of outcomes, one per call (then "ok"), and records the
 * calls. `files` backs stat/get/move/delete when a step is "ok".
 */
class FakeRemote implements Remote {
  readonly location = LOCATION;
  readonly calls: Array<{ op: string; path: string; to?: string }> = [];
  readonly files = new Map<string, Buffer>();
  readonly opened: number[] = [];
  private readonly scripts = new Map<string, Step[]>();

  script(op: string, ...steps: Step[]): this {
    this.scripts.set(op, steps);
    return this;
  }

  private next(op: string, path: string, to?: string): void {
    this.calls.push(to === undefined ? { op, path } : { op, path, to });
    const step = this.scripts.get(op)?.shift() ?? "ok";
    if (step !== "ok") throw step;
  }

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  async get(path: string): Promise<Buffer> {
    this.next("get", path);
    const data = this.files.get(path);
    if (!data) throw fail("not-found", "GET", path, { status: 404 });
    return data;
  }
  async getStream(path: string): Promise<Readable> {
    return Readable.from([await this.get(path)]);
  }
  async put(path: string, body: Buffer | StreamBody): Promise<void> {
    let bytes: Buffer;
    if (Buffer.isBuffer(body)) bytes = body;
    else {
      const chunks: Buffer[] = [];
      for await (const c of body.open()) chunks.push(c as Buffer);
      bytes = Buffer.concat(chunks);
      this.opened.push(bytes.length);
    }
    this.next("put", path);
    this.files.set(path, bytes);
  }
  async delete(path: string): Promise<void> {
    this.next("delete", path);
    if (!this.files.delete(path)) throw fail("not-found", "DELETE", path, { status: 404 });
  }
  async move(from: string, to: string): Promise<void> {
    this.next("move", from, to);
    const data = this.files.get(from);
    if (!data) throw fail("not-found", "MOVE", from, { status: 404 });
    this.files.delete(from);
    this.files.set(to, data);
  }
  async mkdir(path: string): Promise<void> {
    this.next("mkdir", path);
  }
  async stat(path: string): Promise<RemoteStat | null> {
    this.next("stat", path);
    const data = this.files.get(path);
    return data ? { path, name: path, type: "file", size: data.length, mtime: new Date(0), etag: null } : null;
  }
  async list(dir: string): Promise<Listing> {
    this.next("list", dir);
    return { entries: [], serverDate: null };
  }
  async size(path: string): Promise<number | null> {
    this.next("size", path);
    return this.files.get(path)?.length ?? null;
  }
  async sizes(dir: string): Promise<Map<string, number>> {
    this.next("sizes", dir);
    return new Map();
  }
  async close(): Promise<void> {}
}

/** A fake clock: sleep advances it, and every sleep is recorded. */
function clock(random = () => 0.5) {
  let t = 0;
  const sleeps: number[] = [];
  const retries: RetryInfo[] = [];
  const opts: RetryOptions = {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    random,
    onRetry: (info) => retries.push(info),
  };
  return { opts, sleeps, retries, advance: (ms: number) => (t += ms) };
}

const network = (path = "x") => fail("network", "GET", path);

describe("what is retried", () => {
  it.each([
    ["network", undefined],
    ["timeout", undefined],
    ["server", 500],
    ["server", 502],
    ["server", 503],
    ["rate-limited", 429],
    ["locked", 423],
  ] as const)("a %s failure (%s) is retried and the call succeeds", async (kind, status) => {
    const fake = new FakeRemote().script("list", fail(kind, "PROPFIND", "d", status ? { status } : {}), fail(kind, "PROPFIND", "d", status ? { status } : {}));
    const c = clock();
    const remote = withRetries(fake, c.opts);
    await expect(remote.list("d")).resolves.toEqual({ entries: [], serverDate: null });
    expect(fake.count("list")).toBe(3);
    expect(c.retries.map((r) => [r.op, r.path, r.attempt])).toEqual([
      ["list", "d", 1],
      ["list", "d", 2],
    ]);
  });

  it.each([
    ["auth", 401],
    ["auth", 403],
    ["not-found", 404],
    ["conflict", 409],
    ["precondition", 412],
    ["insufficient-storage", 507],
    ["server", 501],
    ["protocol", 400],
  ] as const)("a %s failure (%i) is thrown at once, unchanged", async (kind, status) => {
    const err = fail(kind, "PUT", "a/b", { status });
    const fake = new FakeRemote().script("put", err);
    const c = clock();
    await expect(withRetries(fake, c.opts).put("a/b", Buffer.from("x"))).rejects.toBe(err);
    expect(fake.count("put")).toBe(1);
    expect(c.sleeps).toEqual([]);
  });

  it.each(["ENOTFOUND", "CERT_HAS_EXPIRED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_TLS_CERT_ALTNAME_INVALID", "DEPTH_ZERO_SELF_SIGNED_CERT"])(
    "a network failure about the configuration (%s) is not retried",
    async (code) => {
      const cause = Object.assign(new Error(`request failed, reason: ${code}`), { code });
      const err = new RemoteError("network", "GET", `${LOCATION}/version.txt`, `network error ${code}.`, { cause });
      const fake = new FakeRemote().script("get", err);
      await expect(withRetries(fake, clock().opts).get("version.txt")).rejects.toBe(err);
      expect(fake.count("get")).toBe(1);
    },
  );

  it.each(["ECONNREFUSED", "ECONNRESET", "EAI_AGAIN", "EPIPE", "UND_ERR_SOCKET"])("a network failure of the moment (%s) is retried", async (code) => {
    const cause = Object.assign(new Error(`request failed, reason: ${code}`), { code });
    const fake = new FakeRemote().script("list", new RemoteError("network", "PROPFIND", `${LOCATION}/d`, "connection refused.", { cause }));
    await withRetries(fake, clock().opts).list("d");
    expect(fake.count("list")).toBe(2);
  });

  it("an error that is not a RemoteError (a local failure) is never retried", async () => {
    const err = new Error("EACCES: cannot read the local file");
    const fake = new FakeRemote().script("put", err);
    await expect(withRetries(fake, clock().opts).put("a", Buffer.from("x"))).rejects.toBe(err);
    expect(fake.count("put")).toBe(1);
  });

  it("a stream body is reopened for every attempt", async () => {
    const fake = new FakeRemote().script("put", network(), network());
    let opens = 0;
    const body: StreamBody = {
      size: 3,
      open: () => {
        opens++;
        return Readable.from([Buffer.from("abc")]);
      },
    };
    await withRetries(fake, clock().opts).put("ab/abc", body);
    expect(opens).toBe(3);
    expect(fake.opened).toEqual([3, 3, 3]);
    expect(fake.files.get("ab/abc")?.toString()).toBe("abc");
  });

  it("getStream is retried until a stream is handed out", async () => {
    const fake = new FakeRemote().script("get", network("v"), fail("server", "GET", "v", { status: 502 }));
    fake.files.set("v", Buffer.from("7"));
    const stream = await withRetries(fake, clock().opts).getStream("v");
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("7");
    expect(fake.count("get")).toBe(3);
  });

  it("a non-retryable failure after retries keeps its kind and says how many attempts were made", async () => {
    const fake = new FakeRemote().script("get", network("v"), fail("not-found", "GET", "v", { status: 404 }));
    const err = (await withRetries(fake, clock().opts).get("v").catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.kind).toBe("not-found");
    expect(err.status).toBe(404);
    expect(err.message).toMatch(/^WebDAV GET http:\/\/127\.0\.0\.1:1\/syncd\/v failed: 404 Something; after 2 attempts in \d+\.\d s\.$/);
  });
});

describe("backoff", () => {
  it("full jitter over a doubling window, capped by maxDelayMs", async () => {
    const draws = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    const fake = new FakeRemote().script("stat", network(), network(), network(), network(), network(), network());
    const c = clock(() => draws.shift() ?? 0.5);
    const remote = withRetries(fake, { ...c.opts, attempts: 7, baseDelayMs: 100, maxDelayMs: 1000, budgetMs: 60_000 });
    await remote.stat("x");
    // Windows 100, 200, 400, 800, 1000, 1000; half of each.
    expect(c.sleeps).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it("the jitter spans the whole window (from 0 to just under it)", async () => {
    const draws = [0, 0.999];
    const fake = new FakeRemote().script("stat", network(), network());
    const c = clock(() => draws.shift() ?? 0);
    await withRetries(fake, { ...c.opts, baseDelayMs: 1000 }).stat("x");
    expect(c.sleeps).toEqual([0, 1998]);
  });

  it("honours Retry-After on 429 and 503, even beyond maxDelayMs", async () => {
    const fake = new FakeRemote().script(
      "get",
      fail("rate-limited", "GET", "v", { status: 429, retryAfterMs: 3000 }),
      fail("server", "GET", "v", { status: 503, retryAfterMs: 2000 }),
    );
    fake.files.set("v", Buffer.from("1"));
    const c = clock();
    await withRetries(fake, { ...c.opts, maxDelayMs: 500 }).get("v");
    expect(c.sleeps).toEqual([3000, 2000]);
  });

  it("gives up after `attempts`, with the last error and how many attempts were made", async () => {
    const fake = new FakeRemote().script("get", network("v"), network("v"), fail("server", "GET", "v", { status: 500 }));
    const c = clock();
    const err = (await withRetries(fake, { ...c.opts, attempts: 3 }).get("v").catch((e: unknown) => e)) as RemoteError;
    expect(fake.count("get")).toBe(3);
    expect(err.kind).toBe("server");
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/failed: 500 Something; gave up after 3 attempts in \d+\.\d s\.$/);
    expect((err.cause as RemoteError).message).toMatch(/failed: 500 Something\.$/);
  });

  it("stops when the next attempt would start after the budget", async () => {
    const steps = Array.from({ length: 20 }, () => network("v"));
    const fake = new FakeRemote().script("get", ...steps);
    const c = clock(() => 0.999);
    const remote = withRetries(fake, { ...c.opts, attempts: 50, baseDelayMs: 1000, maxDelayMs: 1000, budgetMs: 3500 });
    const err = (await remote.get("v").catch((e: unknown) => e)) as RemoteError;
    // Sleeps of 999 ms: attempts start at 0, 999, 1998, 2997; a fifth would start at 3996 > 3500.
    expect(fake.count("get")).toBe(4);
    expect(err.message).toMatch(/gave up after 4 attempts in 3\.0 s\.$/);
  });

  it("time spent in the attempts themselves counts against the budget", async () => {
    const fake = new FakeRemote();
    const c = clock(() => 0);
    let calls = 0;
    fake.get = async () => {
      calls++;
      c.advance(2000); // each attempt times out after 2 s
      throw fail("timeout", "GET", "v");
    };
    await expect(withRetries(fake, { ...c.opts, attempts: 10, budgetMs: 5000 }).get("v")).rejects.toThrow(/gave up after 3 attempts in 6\.0 s/);
    expect(calls).toBe(3);
  });

  it("a Retry-After beyond the budget fails at once and says so", async () => {
    const fake = new FakeRemote().script("put", fail("server", "PUT", "a", { status: 503, retryAfterMs: 120_000 }));
    const c = clock();
    const err = (await withRetries(fake, { ...c.opts, budgetMs: 10_000 }).put("a", Buffer.from("")).catch((e: unknown) => e)) as RemoteError;
    expect(fake.count("put")).toBe(1);
    expect(c.sleeps).toEqual([]);
    expect(err.message).toMatch(/503 Something; gave up after 1 attempt \(the server asked to wait 120\.0 s, more than the 10\.0 s left of the 10\.0 s retry budget\)\.$/);
    expect(err.retryAfterMs).toBe(120_000);
  });

  it("attempts: 1 disables retries and leaves errors untouched", async () => {
    const err = network("v");
    const fake = new FakeRemote().script("get", err);
    await expect(withRetries(fake, { ...clock().opts, attempts: 1 }).get("v")).rejects.toBe(err);
  });
});

describe("delete", () => {
  it("not-found on the first attempt is thrown (the caller asked about a file that was already gone)", async () => {
    const fake = new FakeRemote();
    await expect(withRetries(fake, clock().opts).delete("gone")).rejects.toMatchObject({ kind: "not-found" });
  });

  it("not-found on a retry counts as success: the lost-answer attempt had deleted it", async () => {
    const fake = new FakeRemote();
    fake.files.set("claim", Buffer.from("x"));
    // The first DELETE reaches the server and deletes, but its answer is lost.
    const real = fake.delete.bind(fake);
    let first = true;
    fake.delete = async (path) => {
      await real(path);
      if (first) {
        first = false;
        throw fail("network", "DELETE", path);
      }
    };
    await expect(withRetries(fake, clock().opts).delete("claim")).resolves.toBeUndefined();
    expect(fake.files.has("claim")).toBe(false);
  });
});

describe("move", () => {
  function movedThenLost(fake: FakeRemote, error: RemoteError): void {
    const real = fake.move.bind(fake);
    let first = true;
    fake.move = async (from, to) => {
      await real(from, to);
      if (first) {
        first = false;
        throw error;
      }
    };
  }

  it("a move that happened but lost its answer: the retry finds no source, the destination is there → success", async () => {
    const fake = new FakeRemote();
    fake.files.set("metadata.db.tmp-t", Buffer.from("new"));
    fake.files.set("metadata.db", Buffer.from("old"));
    movedThenLost(fake, fail("network", "MOVE", "metadata.db.tmp-t"));
    await withRetries(fake, clock().opts).move("metadata.db.tmp-t", "metadata.db");
    expect(fake.files.get("metadata.db")?.toString()).toBe("new");
    // The retry looks before it leaps: source gone, destination there, no second MOVE.
    expect(fake.calls).toEqual([
      { op: "move", path: "metadata.db.tmp-t", to: "metadata.db" },
      { op: "stat", path: "metadata.db.tmp-t" },
      { op: "stat", path: "metadata.db" },
    ]);
  });

  it("after a 502 from a gateway that did the move, too", async () => {
    const fake = new FakeRemote();
    fake.files.set("tmp", Buffer.from("new"));
    movedThenLost(fake, fail("server", "MOVE", "tmp", { status: 502 }));
    await withRetries(fake, clock().opts).move("tmp", "dest");
    expect(fake.files.get("dest")?.toString()).toBe("new");
  });

  it("never sends a MOVE for a missing source (webdav-server would delete the destination): both gone → not-found", async () => {
    const fake = new FakeRemote().script("move", network("tmp"));
    fake.files.set("tmp", Buffer.from("x"));
    const real = fake.stat.bind(fake);
    fake.stat = async (path) => {
      fake.files.delete("tmp"); // someone removed the source after the failed attempt
      return real(path);
    };
    const err = (await withRetries(fake, clock().opts).move("tmp", "dest").catch((e: unknown) => e)) as RemoteError;
    expect(err.kind).toBe("not-found");
    expect(err.message).toMatch(/MOVE .*tmp failed: its source and its destination are both gone after an attempt that failed \(connection reset by the server\); after 2 attempts/);
    expect(fake.count("move")).toBe(1);
  });

  it("a failure that did not happen is simply retried", async () => {
    const fake = new FakeRemote().script("move", fail("server", "MOVE", "tmp", { status: 503 }));
    fake.files.set("tmp", Buffer.from("new"));
    await withRetries(fake, clock().opts).move("tmp", "dest");
    expect(fake.files.get("dest")?.toString()).toBe("new");
    expect(fake.count("move")).toBe(2);
  });

  it("4xx answers and 423 are not retried for a move", async () => {
    for (const [kind, status] of [["conflict", 409], ["locked", 423], ["precondition", 412], ["auth", 403]] as const) {
      const fake = new FakeRemote().script("move", fail(kind, "MOVE", "tmp", { status }));
      fake.files.set("tmp", Buffer.from("x"));
      await expect(withRetries(fake, clock().opts).move("tmp", "dest")).rejects.toMatchObject({ kind, status });
      expect(fake.count("move")).toBe(1);
    }
  });
});

describe("openRemote's wrapper", () => {
  it("keeps every attempt of a write within the lease's reserve (a third of its TTL)", async () => {
    const steps = Array.from({ length: 100 }, () => network("v"));
    const fake = new FakeRemote().script("put", ...steps);
    const started = performance.now();
    const remote = retrying(fake, { sync: { lockTtlSeconds: 5 } });
    const err = (await remote.put("v", Buffer.from("1")).catch((e: unknown) => e)) as Error;
    const took = performance.now() - started;
    expect(err.message).toMatch(/gave up after \d+ attempts/);
    // 5 s TTL: no attempt starts after 1.67 s.
    expect(took).toBeLessThan(1667 + 300);
    expect(fake.count("put")).toBeGreaterThan(1);
  });
});
