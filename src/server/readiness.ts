/**
 * `GET /readyz` (SPEC §6): whether this daemon's library is being kept in sync, for a supervisor or a load
 * balancer. Ready when the latest run succeeded (a run that found nothing to do counts: it reached the
 * share); not ready while the latest run failed or before any run has succeeded, with a sentence saying why.
 * `/healthz` stays liveness only: a failing share must not make systemd or a probe restart the process.
 */
import type { SchedulerStatus } from "./scheduler.js";

export type Readiness =
  | { ready: true; body: { status: "ready"; lastSyncAt: string } }
  | { ready: false; body: { status: "not-ready"; reason: string; lastFailureAt?: string } };

export function readiness(s: Pick<SchedulerStatus, "lastRun" | "running" | "consecutiveFailures">): Readiness {
  const last = s.lastRun;
  if (last?.ok) return { ready: true, body: { status: "ready", lastSyncAt: last.finishedAt } };
  if (!last) {
    const reason = s.running ? "The first sync since the daemon started is still running." : "No sync has run yet since the daemon started.";
    return { ready: false, body: { status: "not-ready", reason } };
  }
  const n = s.consecutiveFailures;
  const runs = n > 1 ? `The last ${n} syncs failed` : "The last sync failed";
  const message = last.error?.message ?? "for an unknown reason.";
  return { ready: false, body: { status: "not-ready", reason: `${runs}: ${message}`, lastFailureAt: last.finishedAt } };
}
