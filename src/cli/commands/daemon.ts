/**
 * `syncd daemon` (SPEC §5, §6): HTTP API, dashboard, embedded share and periodic sync until SIGTERM or
 * SIGINT, then a graceful shutdown and exit 0. Logs are JSON lines (server/log.ts): debug and info on stdout,
 * warnings and errors on stderr, with journald's priority prefixes under systemd; the level is `info` unless
 * SYNCD_LOG_LEVEL says debug, warn or error. On a terminal, one plain line says where the dashboard is.
 */
import type { Command } from "commander";
import { loadConfig, resolveConfigPath } from "../../config/load.js";
import { errorMessage } from "../../errors.js";
import { StopScope } from "../../remote/stop.js";
import { localDiskError } from "../../store/disk-errors.js";
import { isLogLevel, daemonLogger } from "../../server/log.js";
import { isJournalStream } from "../../server/log-journal.js";
import type { GlobalOptions } from "../context.js";
import { announceDashboard } from "../daemon-banner.js";

/** After a clean shutdown, anything still holding the event loop (a stray socket) gets this long. */
const EXIT_GRACE_MS = 3000;

export function registerDaemonCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("daemon")
    .description("serve the HTTP API and dashboard (and the embedded share) and sync periodically until stopped")
    .action(async () => {
      const configPath = resolveConfigPath(globals().config);
      const config = loadConfig(configPath);
      const level = process.env.SYNCD_LOG_LEVEL;
      const journal = process.env.JOURNAL_STREAM;
      const log = daemonLogger({
        stdout: { write: (line) => process.stdout.write(line), journal: isJournalStream(1, journal) },
        stderr: { write: (line) => process.stderr.write(line), journal: isJournalStream(2, journal) },
        minLevel: isLogLevel(level) ? level : "info",
      });
      // Loaded here, not at the top: every other command starts faster without the server modules.
      const [{ startDaemon }, { containShareFault }] = await Promise.all([
        import("../../server/daemon.js"),
        import("../../remote/share-faults.js"),
      ]);
      // A bug that escapes every handler leaves the process in an unknown state: log it and exit 1, so
      // that systemd (Restart=on-failure) starts a clean one. The share stays safe: the lease expires.
      // The one exception: a fault of webdav-server while it handled one request of the embedded share
      // (share-faults.ts) breaks that request only; it is logged and that request ends, the daemon goes on.
      process.on("uncaughtException", (err) => {
        if (containShareFault(err)) return;
        log.error("uncaught exception", { error: errorMessage(err), stack: err.stack });
        log.close();
        process.exit(1);
      });
      process.on("unhandledRejection", (reason) => log.error("unhandled rejection", { error: errorMessage(reason) }));

      // Every request the daemon makes to the share (scheduled runs, runs the API starts) is in this scope.
      const requests = new StopScope();
      const daemon = await requests.run(() => startDaemon({ config, log })).catch((err: unknown) => {
        throw localDiskError(err, config.dataDir) ?? err; // a data directory it cannot even open: say why
      });
      announceDashboard(process.stdout, { url: daemon.url, token: config.server.token !== undefined, configPath });
      // `on`, not `once`: proper-lockfile's signal-exit kills the process on a signal when it finds no other
      // listener, and a `once` listener is removed before the others run (with the engine loaded on demand,
      // api/instance.ts, signal-exit's listener comes after this one).
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.on("SIGTERM", () => resolve("SIGTERM"));
        process.on("SIGINT", () => resolve("SIGINT"));
      });
      log.info("signal received", { signal });
      // A second signal while shutting down means "now": the share's lease then expires on its own.
      const again = (sig: NodeJS.Signals) => {
        log.warn("second signal: exiting without waiting for the run to stop", { signal: sig });
        log.close();
        process.exit(1);
      };
      process.once("SIGTERM", again);
      process.once("SIGINT", again);
      // close() first tells the run in progress to stop (so that it reports "aborted"); then its requests in
      // flight end now, not at their timeout (a publish in progress finishes first): the run stops at once,
      // releases its lock claim, and close() does not wait on a stalled server.
      const closed = daemon.close();
      requests.stop();
      await closed;
      log.close(); // the summaries of repeats still held back
      setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
    });
}
