import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Scheduler, type SchedulerOptions } from "../../src/server/scheduler.js";
import { SyncdError } from "../../src/errors.js";
import { emptySummary, type SyncSummary } from "../../src/sync/events.js";

/** A run the test finishes by hand (or that ends when aborted, like the engine); records every call. */
function fakeRuns() {
  const calls: Array<{ force: boolean; signal: AbortSignal; resolve: (s: SyncSummary) => void; reject: (e: unknown) => void }> = [];
  const run: SchedulerOptions["run"] = ({ force, signal }) =>
    new Promise<SyncSummary>((resolve, reject) => {
      calls.push({ force, signal, resolve, reject });
      signal.addEventListener("abort", () => reject(new SyncdError("aborted", "stopped")));
    });
  return { calls, run };
}

const summary = (version: number): SyncSummary => ({ ...emptySummary(), version });
const flush = () => vi.advanceTimersByTimeAsync(0);

describe("Scheduler", () => {
  let scheduler: Scheduler;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(async () => {
    await scheduler?.stop();
    vi.useRealTimers();
  });

  function make(over: Partial<SchedulerOptions> & Pick<SchedulerOptions, "run">): Scheduler {
    scheduler = new Scheduler({ intervalMs: 60_000, random: () => 0.5, startDelayMs: 1000, ...over });
    return scheduler;
  }

  it("runs after the start delay, then every interval (with jitter), reporting the next run", async () => {
    const { calls, run } = fakeRuns();
    let r = 0.5;
    make({ run, random: () => r, jitter: 0.1 });
    scheduler.start();
    expect(scheduler.status().nextRunReason).toBe("startup");
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1);
    expect(scheduler.status()).toMatchObject({ running: true, current: { trigger: "startup" }, nextRunAt: null });
    r = 1; // +10 %
    calls[0]?.resolve(summary(1));
    await flush();
    const status = scheduler.status();
    expect(status.lastRun).toMatchObject({ ok: true, trigger: "startup", summary: { version: 1 } });
    expect(status.nextRunReason).toBe("interval");
    expect(Date.parse(status.nextRunAt as string) - Date.now()).toBe(66_000);
    await vi.advanceTimersByTimeAsync(65_999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect(scheduler.status().current?.trigger).toBe("interval");
  });

  it("a request during a run waits for it and for one more run, shared by every request made during it; the answer counts both", async () => {
    const { calls, run } = fakeRuns();
    make({ run });
    const a = scheduler.trigger();
    const b = scheduler.trigger();
    const c = scheduler.trigger({ force: false });
    expect(calls).toHaveLength(1);
    calls[0]?.resolve({ ...summary(7), downloaded: 2, bytesDown: 20, durationMs: 5 });
    expect(await a).toMatchObject({ version: 7, downloaded: 2 });
    await flush();
    expect(calls.map((x) => x.force)).toEqual([false, false]);
    calls[1]?.resolve({ ...summary(8), downloaded: 1, bytesDown: 3, durationMs: 1 });
    const both = { ...summary(8), downloaded: 3, bytesDown: 23, durationMs: 6 };
    expect(await Promise.all([b, c])).toEqual([both, both]);
    expect(scheduler.status().recentRuns).toHaveLength(2);
    // After it ended, a new trigger is a new run.
    const d = scheduler.trigger();
    expect(calls).toHaveLength(3);
    calls[2]?.resolve(summary(9));
    expect(await d).toEqual(summary(9));
  });

  it("a request sees what a peer published before it, even while a run that read the share earlier is in progress", async () => {
    // The share as the runs read it: each run reads it when it starts and downloads what it has not seen.
    let shareVersion = 1;
    let localVersion = 1;
    const pending: Array<() => void> = [];
    make({
      run: () =>
        new Promise<SyncSummary>((resolve) => {
          const seen = shareVersion;
          pending.push(() => {
            const downloaded = seen - localVersion;
            localVersion = seen;
            resolve({ ...summary(seen), skipped: downloaded === 0, downloaded });
          });
        }),
    });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(1000); // the start-up run: it has read version 1
    expect(pending).toHaveLength(1);
    shareVersion = 2; // a peer publishes
    const request = scheduler.trigger(); // then asks this daemon to sync
    pending[0]?.();
    await flush();
    pending[1]?.();
    expect(await request).toMatchObject({ version: 2, downloaded: 1, skipped: false });
  });

  it("the scheduler's own triggers join the run in progress", async () => {
    const { calls, run } = fakeRuns();
    make({ run, debounceMs: 10 });
    const manual = scheduler.trigger();
    const interval = scheduler.trigger({ reason: "interval" });
    expect(calls).toHaveLength(1);
    calls[0]?.resolve(summary(1));
    expect(await interval).toEqual(summary(1));
    expect(await manual).toEqual(summary(1));
    await flush();
    expect(calls).toHaveLength(1);
  });

  it("a request during a run that fails gets the run after it; a failure of that one is its answer", async () => {
    const { calls, run } = fakeRuns();
    make({ run });
    const a = scheduler.trigger();
    const b = scheduler.trigger();
    const c = scheduler.trigger();
    calls[0]?.reject(new SyncdError("remote-network", "down"));
    await expect(a).rejects.toThrow("down");
    await flush();
    expect(calls).toHaveLength(2);
    calls[1]?.resolve(summary(2));
    expect(await b).toEqual(summary(2));
    const d = scheduler.trigger();
    const e = scheduler.trigger();
    expect(await c).toEqual(summary(2));
    calls[2]?.reject(new SyncdError("remote-network", "down again"));
    await flush();
    calls[3]?.reject(new SyncdError("remote-network", "still down"));
    await expect(d).rejects.toThrow("down again");
    await expect(e).rejects.toThrow("still down");
  });

  it("a forced request during a run makes the run after it forced; requests during that one get another after it", async () => {
    const { calls, run } = fakeRuns();
    make({ run });
    const plain = scheduler.trigger();
    const f1 = scheduler.trigger({ force: true });
    const plainDuring = scheduler.trigger();
    const f2 = scheduler.trigger({ force: true });
    expect(calls.map((c) => c.force)).toEqual([false]);
    calls[0]?.resolve(summary(1));
    await flush();
    expect(calls.map((c) => c.force)).toEqual([false, true]);
    const plain2 = scheduler.trigger();
    calls[1]?.resolve(summary(2));
    expect(await plain).toEqual(summary(1));
    const both = { ...summary(2), skipped: false };
    expect(await Promise.all([f1, plainDuring, f2])).toEqual([both, both, both]);
    await flush();
    expect(calls.map((c) => c.force)).toEqual([false, true, false]);
    calls[2]?.resolve(summary(3));
    expect(await plain2).toEqual(summary(3));
  });

  it("debounces writes: one run after the last write, but no later than debounceMaxMs after the first", async () => {
    const { calls, run } = fakeRuns();
    make({ run, debounceMs: 2000, debounceMaxMs: 5000 });
    scheduler.notifyWrite();
    await vi.advanceTimersByTimeAsync(1500);
    scheduler.notifyWrite();
    await vi.advanceTimersByTimeAsync(1500);
    expect(calls).toHaveLength(0); // the second write pushed it back
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(1);
    expect(scheduler.status().current?.trigger).toBe("write");
    calls[0]?.resolve(summary(1));
    await flush();

    // A steady stream of writes every second: the run still happens at debounceMaxMs.
    for (let i = 0; i < 5; i++) {
      scheduler.notifyWrite();
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(calls).toHaveLength(2);
  });

  it("a write during a run asks for another run after it", async () => {
    const { calls, run } = fakeRuns();
    make({ run, debounceMs: 2000 });
    void scheduler.trigger();
    scheduler.notifyWrite();
    calls[0]?.resolve(summary(1));
    await flush();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toHaveLength(2);
    expect(scheduler.status().current?.trigger).toBe("write");
  });

  it("backs off exponentially after failures, up to the cap, and returns to the interval after a success", async () => {
    const { calls, run } = fakeRuns();
    make({ run, jitter: 0, backoffBaseMs: 1000, backoffMaxMs: 5000 });
    void scheduler.trigger().catch(() => {});
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      calls[i]?.reject(new SyncdError("remote-network", `down ${i}`));
      await flush();
      const st = scheduler.status();
      expect(st.nextRunReason).toBe("retry");
      expect(st.consecutiveFailures).toBe(i + 1);
      expect(st.lastError).toMatchObject({ code: "remote-network", message: `down ${i}` });
      const delay = Date.parse(st.nextRunAt as string) - Date.now();
      delays.push(delay);
      await vi.advanceTimersByTimeAsync(delay);
      expect(calls).toHaveLength(i + 2);
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000]);
    // Writes wait for the backoff rather than hammering a share that is down.
    calls[5]?.reject(new SyncdError("remote-network", "still down"));
    await flush();
    scheduler.notifyWrite();
    await vi.advanceTimersByTimeAsync(2500);
    expect(calls).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(2500);
    expect(calls).toHaveLength(7);
    calls[6]?.resolve(summary(3));
    await flush();
    const st = scheduler.status();
    expect(st).toMatchObject({ consecutiveFailures: 0, lastError: null, nextRunReason: "interval" });
    expect(Date.parse(st.nextRunAt as string) - Date.now()).toBe(60_000);
  });

  it("stop() aborts the run in progress, waits for it, and refuses new runs", async () => {
    const { calls, run } = fakeRuns();
    make({ run });
    scheduler.start();
    const manual = scheduler.trigger();
    expect(calls).toHaveLength(1);
    const signal = calls[0]?.signal as AbortSignal;
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    expect(signal.aborted).toBe(true);
    await stopping;
    expect(stopped).toBe(true);
    await expect(manual).rejects.toThrow("stopped");
    await expect(scheduler.trigger()).rejects.toMatchObject({ code: "shutting-down" });
    scheduler.notifyWrite();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toHaveLength(1);
    expect(scheduler.status().nextRunAt).toBeNull();
  });

  it("keeps a bounded history, newest first, and tells observers about every run", async () => {
    const seen: boolean[] = [];
    let n = 0;
    make({ run: async () => (++n % 2 ? summary(n) : Promise.reject(new Error("boom"))), history: 3, onRunEnd: (r) => seen.push(r.ok) });
    for (let i = 0; i < 5; i++) await scheduler.trigger().catch(() => {});
    expect(seen).toEqual([true, false, true, false, true]);
    const runs = scheduler.status().recentRuns;
    expect(runs).toHaveLength(3);
    expect(runs[0]).toMatchObject({ ok: true, summary: { version: 5 } });
    expect(runs[1]).toMatchObject({ ok: false, error: { code: "internal", message: "boom" } });
  });
});
