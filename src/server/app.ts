/**
 * The daemon's HTTP API (SPEC §6) as a Hono app. It holds no state of its own: everything comes in as
 * AppDeps, so tests build it over a real library with a stub engine or scheduler as they need.
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { ContentFetcher, Library } from "../store/library.js";
import type { SyncStatusReport } from "../sync/events.js";
import { bearerToken, isLoopbackHostHeader, sameOrigin, tokenMatches } from "./auth.js";
import type { EventHub } from "./event-hub.js";
import { ApiError, errorBody, errorResponse } from "./http-errors.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { changesRoutes } from "./routes/changes.js";
import { eventRoutes } from "./routes/events.js";
import { fileRoutes } from "./routes/files.js";
import { instanceRoutes, type InviteFn } from "./routes/instances.js";
import { opsRoutes } from "./routes/ops.js";
import { syncRoutes, type ResolveFn } from "./routes/sync.js";
import type { Scheduler } from "./scheduler.js";

export interface AppDeps {
  library: Library;
  /** `syncd status --json` (the engine reads version.txt for it). */
  status: () => Promise<SyncStatusReport>;
  scheduler: Pick<Scheduler, "trigger" | "notifyWrite" | "status">;
  hub: EventHub;
  metrics: Metrics;
  resolveConflict: ResolveFn;
  log: Logger;
  /** server.token; undefined: no authentication. */
  token?: string;
  /** Refuse requests whose Host is not a loopback name (no token, loopback bind: see auth.ts). */
  loopbackOnly?: boolean;
  tombstoneRetentionDays: number;
  /** Where a restore finds content the local store released on deletion: the daemon's share. */
  restoreContent?: ContentFetcher;
  /** What `syncd invite` prints, for GET /api/v1/invite (the route leaves the secret out). */
  invite?: InviteFn;
}

export type AppEnv = { Variables: { deps: AppDeps } };

const SSE_PATH = "/api/v1/sse/subscribe";

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => c.json(errorBody("not-found", `No route ${c.req.method} ${c.req.path}.`), 404));

  app.use("*", async (c, next) => {
    const started = Date.now();
    c.set("deps", deps);
    if (deps.loopbackOnly && !isLoopbackHostHeader(c.req.header("host"))) {
      throw new ApiError(403, "forbidden-host", "This daemon answers only to localhost names (set server.token to serve other names).");
    }
    await next();
    // The path only: a query string may hold the token.
    deps.log.debug("request", { method: c.req.method, path: c.req.path, status: c.res.status, ms: Date.now() - started });
  });

  // Cross-site writes: a browser always sends Origin on them; it must be this daemon's own.
  app.use("*", async (c, next) => {
    const origin = c.req.header("origin");
    if (origin && c.req.method !== "GET" && c.req.method !== "HEAD" && !sameOrigin(origin, c.req.header("host"))) {
      throw new ApiError(403, "cross-origin", "Cross-origin requests are not accepted.");
    }
    await next();
  });

  const requireToken: MiddlewareHandler<AppEnv> = async (c, next) => {
    const token = deps.token;
    if (token !== undefined) {
      const given = bearerToken(c.req.header("authorization")) ?? (c.req.path === SSE_PATH ? (c.req.query("token") ?? null) : null);
      if (!tokenMatches(given, token)) {
        throw new ApiError(401, "unauthorized", "This daemon needs Authorization: Bearer <server.token>.", {
          "WWW-Authenticate": 'Bearer realm="syncd"',
        });
      }
    }
    await next();
  };
  app.use("/api/*", requireToken);
  app.use("/metrics", requireToken);
  app.use("/readyz", requireToken); // SPEC §6: only /healthz goes without the token

  app.route("/", opsRoutes());
  app.route("/api/v1/sync", syncRoutes());
  app.route("/api/v1/files", fileRoutes());
  app.route("/api/v1/changes", changesRoutes());
  app.route("/api/v1/sse", eventRoutes());
  app.route("/api/v1", instanceRoutes());
  return app;
}
