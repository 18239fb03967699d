/**
 * `syncd daemon` put together: library, HTTP server (API, dashboard, and the embedded share when
 * webdav.url is absent), sync engine, scheduler and event hub. startDaemon() returns once it listens;
 * close() is the graceful shutdown: no new runs, abort the current one at its next safe point (the engine
 * never stops mid-publish, and releases the share's lock), end event streams, close the server, then the
 * share client and the library.
 *
 * With the embedded share, the daemon syncs to it through its own `/dav` URL, the same WebDAV path every
 * other instance takes, so the share is exercised exactly as others see it.
 */
import { join } from "node:path";
import { openInstance } from "../api/instance.js";
import type { Config } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { redactUrl } from "../remote/errors.js";
import { createShareHandler } from "../remote/embedded-share.js";
import { openRemote, retrying } from "../remote/open.js";
import type { Remote } from "../remote/remote.js";
import { createWebdavRemote } from "../remote/webdav-remote.js";
import type { Library } from "../store/library.js";
import { resolveConflict } from "../store/resolve.js";
import { probeLocation } from "../remote/probe.js";
import { shareContent } from "../sync/share-content.js";
import { createApp } from "./app.js";
import { davAuthorized, isLoopbackAddress } from "./auth.js";
import { EventHub, type EventHubOptions } from "./event-hub.js";
import { DAV_PATH, startHttpServer, type RunningServer } from "./http-server.js";
import type { Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { daemonInvite } from "./routes/instances.js";
import type { ResolveFn } from "./routes/sync.js";
import { Scheduler, type SchedulerOptions } from "./scheduler.js";
import { syncEventSink } from "./sync-events.js";

export interface DaemonOptions {
  config: Config;
  log: Logger;
  hub?: EventHubOptions;
  scheduler?: Partial<Omit<SchedulerOptions, "run" | "intervalMs" | "onRunEnd">>;
  resolveConflict?: ResolveFn;
}

export interface Daemon {
  /** Base URL of the API and dashboard. */
  url: string;
  port: number;
  /** The embedded share's URL when this daemon serves one (webdav.url absent), else null. */
  shareUrl: string | null;
  library: Library;
  scheduler: Scheduler;
  hub: EventHub;
  close(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, log } = opts;
  const { host, port, token } = config.server;
  const embedded = config.webdav.url === undefined;
  const hub = new EventHub(opts.hub);
  const metrics = new Metrics();
  // The engine syncs through our own /dav, which needs the server's port: the share is settled once the server
  // listens, and runs or requests that arrive a moment before wait for it.
  let shareReady!: (remote: Remote) => void;
  let shareFailed!: (err: unknown) => void;
  const share = new Promise<Remote>((resolve, reject) => {
    shareReady = resolve;
    shareFailed = reject;
  });
  share.catch(() => {}); // a failed start is reported by startDaemon itself
  // The same API applications use (SPEC §7): the library now, the share and the engine once they exist.
  const instance = await openInstance(config, {
    onClockWarning: (w) => log.warn("clock ahead", { instance: w.node, aheadMs: w.aheadMs }),
    onEvent: syncEventSink(hub, log),
    share,
    shareKey: (remote) => probeLocation(config, remote),
  }).catch((err: unknown) => {
    hub.close();
    throw err;
  });
  const { library } = instance;
  let http: RunningServer | null = null;
  const scheduler = new Scheduler({
    ...opts.scheduler,
    intervalMs: config.sync.intervalSeconds * 1000,
    run: (o) => instance.sync(o),
    onRunEnd: (record) => metrics.recordRun(record),
  });

  try {
    const loopbackOnly = token === undefined && isLoopbackAddress(host);
    if (token === undefined && !loopbackOnly) {
      log.warn("no server.token while listening beyond loopback: the API and the share are open to the network", { host });
    }
    const app = createApp({
      library,
      status: () => instance.status(),
      scheduler,
      hub,
      metrics,
      resolveConflict: opts.resolveConflict ?? resolveConflict,
      log,
      token,
      loopbackOnly,
      tombstoneRetentionDays: config.sync.tombstoneRetentionDays,
      invite: () => daemonInvite(config, http?.port ?? 0),
      // The share the engine syncs with, once it exists.
      restoreContent: shareContent(() => instance.share()),
    });
    const dav = embedded
      ? await createShareHandler({
          dir: join(config.dataDir, "share"),
          mountPath: DAV_PATH,
          authorize: (req) => davAuthorized(req.headers.authorization, token),
          onFault: (err, req) =>
            log.error("share request failed inside webdav-server", {
              method: req.method,
              path: (req.url ?? "").split("?")[0],
              error: errorMessage(err),
              stack: err instanceof Error ? err.stack : undefined,
            }),
        })
      : undefined;
    http = await startHttpServer({ host, port, fetch: app.fetch, dav, loopbackOnly });
    const url = `http://${bracket(host)}:${http.port}`;
    const shareUrl = embedded ? `${url}${DAV_PATH}` : null;

    const remote = embedded
      ? retrying(
          createWebdavRemote({
            url: `http://${bracket(connectHost(host))}:${http.port}${DAV_PATH}`,
            root: config.webdav.root,
            // Any user name will do (see auth.ts); this one shows up nowhere but in our own requests.
            ...(token === undefined ? {} : { username: "syncd", password: token }),
            timeoutMs: config.webdav.timeoutMs,
          }),
          config,
        )
      : await openRemote(config);
    shareReady(remote);
    scheduler.start();
    log.info("listening", {
      url,
      instance: config.instanceName,
      share: shareUrl ?? redactUrl(config.webdav.url as string),
      embeddedShare: embedded,
      root: config.webdav.root,
      intervalSeconds: config.sync.intervalSeconds,
      auth: token !== undefined,
    });

    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        log.info("shutting down", { running: scheduler.status().running });
        await scheduler.stop();
        hub.close();
        await http?.close();
        await instance.close(); // the share's client, then the library
        log.info("stopped");
      })());
    return { url, port: http.port, shareUrl, library, scheduler, hub, close };
  } catch (err) {
    shareFailed(err); // releases requests (and a run) waiting for the share
    await scheduler.stop();
    hub.close();
    await http?.close(0);
    await instance.close();
    throw err;
  }
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Where this machine reaches its own server: a wildcard bind is reached on loopback. */
function connectHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host.replace(/^\[|\]$/g, "");
}
