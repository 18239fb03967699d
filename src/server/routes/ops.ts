/** Liveness, readiness, metrics and the dashboard page. */
import { Hono } from "hono";
import { countOpenConflicts } from "../../store/conflicts.js";
import type { AppEnv } from "../app.js";
import { DASHBOARD_CSP, DASHBOARD_HTML } from "../dashboard.js";
import { readiness } from "../readiness.js";

export function opsRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  // Liveness only: no library or share access, so a slow share never makes systemd or a probe restart us.
  r.get("/healthz", (c) => c.json({ status: "ok" }));

  // Readiness (readiness.ts): 503 while syncs fail. Behind the token (app.ts): the reason names the share.
  r.get("/readyz", (c) => {
    const r = readiness(c.get("deps").scheduler.status());
    c.header("Cache-Control", "no-store");
    return c.json(r.body, r.ready ? 200 : 503);
  });

  r.get("/metrics", (c) => {
    const { library, scheduler, hub, metrics } = c.get("deps");
    // Kept by triggers (store/migrations.ts v5): a scrape never scans the library.
    const counts = library.counts();
    const status = scheduler.status();
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(
      metrics.render({
        liveEntries: counts.live,
        deletedEntries: counts.tombstones,
        unsynced: library.pendingCount(),
        conflicts: countOpenConflicts(library.db),
        running: status.running,
        consecutiveFailures: status.consecutiveFailures,
        sseSubscribers: hub.subscriberCount,
        sseDropped: hub.dropped,
      }),
    );
  });

  // The page itself holds no data (every figure comes from the API with the token), so it is served
  // without one: a browser cannot send a Bearer header when it navigates.
  r.get("/", (c) => {
    c.header("Content-Security-Policy", DASHBOARD_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-cache");
    return c.html(DASHBOARD_HTML);
  });
  return r;
}
