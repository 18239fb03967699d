import { describe, expect, it } from "vitest";
import { readiness } from "../../src/server/readiness.js";
import type { RunRecord } from "../../src/server/scheduler.js";
import { emptySummary } from "../../src/sync/events.js";

const run = (ok: boolean, finishedAt = "2026-11-30T12:00:00.000Z"): RunRecord => ({
  trigger: "interval",
  force: false,
  startedAt: finishedAt,
  finishedAt,
  durationMs: 10,
  ok,
  summary: ok ? { ...emptySummary(), skipped: true } : null,
  error: ok ? null : { code: "remote-unreachable", message: "The share at http://127.0.0.1:9/dav did not answer (connection refused)." },
});

describe("readiness", () => {
  it("is not ready before any run, saying whether the first one is under way", () => {
    expect(readiness({ lastRun: null, running: false, consecutiveFailures: 0 })).toEqual({
      ready: false,
      body: { status: "not-ready", reason: "No sync has run yet since the daemon started." },
    });
    expect(readiness({ lastRun: null, running: true, consecutiveFailures: 0 }).body).toEqual({
      status: "not-ready",
      reason: "The first sync since the daemon started is still running.",
    });
  });

  it("is ready when the latest run succeeded, a run that found nothing to do included, even while another runs", () => {
    expect(readiness({ lastRun: run(true), running: true, consecutiveFailures: 0 })).toEqual({
      ready: true,
      body: { status: "ready", lastSyncAt: "2026-11-30T12:00:00.000Z" },
    });
  });

  it("is not ready while the latest run failed, with its error and how many failed in a row", () => {
    expect(readiness({ lastRun: run(false), running: false, consecutiveFailures: 1 }).body).toEqual({
      status: "not-ready",
      reason: "The last sync failed: The share at http://127.0.0.1:9/dav did not answer (connection refused).",
      lastFailureAt: "2026-11-30T12:00:00.000Z",
    });
    expect(readiness({ lastRun: run(false), running: true, consecutiveFailures: 4 }).body).toMatchObject({
      reason: expect.stringMatching(/^The last 4 syncs failed: The share at/),
    });
  });
});
