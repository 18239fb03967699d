/**
 * Stopping the share's requests on shutdown (remote/stop.ts, issue 11), against a server that never
 * answers: before, a stalled request ran to its timeout (webdav.timeoutMs) whatever the caller wanted.
 * A stop aborts requests in flight and refuses new ones (kind "aborted", never retried), cuts a retry
 * back-off short, lets cleanup run briefly, and never interrupts publishing.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRemoteError, RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import { withRetries } from "../../src/remote/retry.js";
import { asCleanup, StopScope, StoppedError, stopRequestsOn, STOP_GRACE_MS, uninterrupted } from "../../src/remote/stop.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";

const TIMEOUT_MS = 20_000;

/** Answers `/ok…` at once, `/slow…` after 600 ms, `/fail…` with 503, and never answers anything else. */
let server: Server;
let url: string;
const stalled = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const path = req.url ?? "";
    if (path.includes("/ok")) return void res.end("ok");
    if (path.includes("/slow")) return void setTimeout(() => res.end("slow"), 600);
    if (path.includes("/fail")) return void res.writeHead(503).end();
    stalled.add(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function plainRemote(): Remote {
  return createWebdavRemote({ url, root: "/syncd", timeoutMs: TIMEOUT_MS });
}

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RemoteError) return err;
    throw err;
  }
  throw new Error("expected a RemoteError");
}

describe("a stop (StopScope)", () => {
  it("aborts requests in flight at once, of every kind, and refuses new ones", async () => {
    const remote = plainRemote();
    const scope = new StopScope();
    const started = Date.now();
    const pending = scope.run(() => [
      remote.get("stall-get"),
      remote.getStream("stall-stream"),
      remote.put("stall-put", Buffer.alloc(1000, 1)),
      remote.list("stall-list"),
      remote.delete("stall-delete"),
    ]);
    await new Promise((r) => setTimeout(r, 200));
    scope.stop();
    const errors = await Promise.all(pending.map(failure));
    expect(Date.now() - started).toBeLessThan(2000); // not the 20 s timeout
    for (const err of errors) {
      expect(err.kind).toBe("aborted");
      expect(err.code).toBe("remote-aborted");
      expect(err.message).toMatch(/^WebDAV \w+ http:\/\/127\.0\.0\.1:\d+\/syncd\/stall-\w+ failed: stopped, because syncd was asked to stop\.$/);
    }
    const late = await failure(scope.run(() => remote.get("ok")));
    expect(late.kind).toBe("aborted");
    await remote.close();
  });

  it("is not retried, and cuts a retry back-off short", async () => {
    const retried: number[] = [];
    // A back-off of ~5 s after the first failure, so that the stop below comes during it.
    const remote = withRetries(plainRemote(), { baseDelayMs: 5000, random: () => 0.99, onRetry: (i) => retried.push(i.attempt) });
    const scope = new StopScope();
    const stalledGet = scope.run(() => remote.get("stall-again"));
    setTimeout(() => scope.stop(), 100);
    expect((await failure(stalledGet)).kind).toBe("aborted");
    expect(retried).toEqual([]);
    retried.length = 0;

    // A 503 is retried after a back-off; a stop during the back-off ends it with kind "aborted".
    const other = new StopScope();
    const started = Date.now();
    const backingOff = other.run(() => remote.get("fail"));
    await new Promise((r) => setTimeout(r, 50));
    other.stop();
    const err = await failure(backingOff);
    expect(err.kind).toBe("aborted");
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/503 Service Unavailable.*; no more attempts after 1 attempt, because syncd was asked to stop\.$/);
    expect(retried).toEqual([1]);
    expect(Date.now() - started).toBeLessThan(2500); // not the ~5 s back-off
    await remote.close();
  });

  it("lets cleanup run after it, each request for at most STOP_GRACE_MS", async () => {
    const remote = plainRemote();
    const scope = new StopScope();
    scope.stop();
    await expect(scope.run(() => asCleanup(() => remote.get("ok")))).resolves.toEqual(Buffer.from("ok"));
    const started = Date.now();
    const err = await failure(scope.run(() => asCleanup(() => remote.delete("stall-cleanup"))));
    expect(err.kind).toBe("aborted");
    expect(Date.now() - started).toBeGreaterThanOrEqual(STOP_GRACE_MS - 50);
    expect(Date.now() - started).toBeLessThan(STOP_GRACE_MS + 1000);
    await remote.close();
  });

  it("never interrupts publishing: a stop during it takes effect when it ends, one before refuses to begin", async () => {
    const remote = plainRemote();
    const scope = new StopScope();
    const steps: string[] = [];
    // A request outside publishing but in the same scope (a lease heartbeat) runs on meanwhile as well.
    let heartbeat: Promise<unknown> = Promise.resolve();
    const publishing = scope.run(() =>
      uninterrupted("publishing", async () => {
        steps.push((await remote.get("slow-1")).toString());
        heartbeat = scope.run(() => remote.get("slow-heartbeat"));
        steps.push((await remote.get("slow-2")).toString());
        return "published";
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    scope.stop();
    await expect(publishing).resolves.toBe("published");
    await expect(heartbeat).resolves.toEqual(Buffer.from("slow"));
    expect(steps).toEqual(["slow", "slow"]);
    // Now the stop has taken effect.
    expect((await failure(scope.run(() => remote.get("ok")))).kind).toBe("aborted");
    await expect(scope.run(() => uninterrupted("publishing", async () => "never"))).rejects.toBeInstanceOf(StoppedError);
    await expect(scope.run(() => uninterrupted("publishing", async () => "never"))).rejects.toThrow(
      /^Stopped before publishing: syncd was asked to stop; nothing was published, the next run continues\.$/,
    );
    await remote.close();
  });

  it("reaches requests made by timers started in its scope, and stopRequestsOn gives an AbortSignal the same power", async () => {
    const remote = plainRemote();
    const scope = new StopScope();
    const fromTimer = scope.run(() => new Promise<Buffer>((resolve, reject) => setTimeout(() => remote.get("stall-timer").then(resolve, reject), 10)));
    await new Promise((r) => setTimeout(r, 100));
    scope.stop();
    expect((await failure(fromTimer)).kind).toBe("aborted");

    const controller = new AbortController();
    const viaSignal = stopRequestsOn(controller.signal, () => remote.get("stall-signal"));
    setTimeout(() => controller.abort(), 100);
    expect((await failure(viaSignal)).kind).toBe("aborted");
    // Nested in a scope that stops, a stopRequestsOn scope stops too.
    const outer = new StopScope();
    const nested = outer.run(() => stopRequestsOn(new AbortController().signal, () => remote.get("stall-nested")));
    setTimeout(() => outer.stop(), 100);
    expect(isRemoteError(await failure(nested), "aborted")).toBe(true);
    // Outside any scope nothing changes: the request runs (here: to its answer).
    await expect(remote.get("ok")).resolves.toEqual(Buffer.from("ok"));
    await remote.close();
  });
});
