/**
 * `syncd daemon` (SPEC §5, §6): HTTP API, dashboard, embedded share and periodic sync until SIGTERM or
 * SIGINT, then a graceful shutdown and exit 0. Logs are JSON lines on stdout (server/log.ts); the level is
 * `info` unless SYNCD_LOG_LEVEL says debug, warn or error.
 */
import type { Command } from "commander";
import { loadConfig, resolveConfigPath } from "../../config/load.js";
import { errorMessage } from "../../errors.js";
import { isLogLevel, jsonLogger } from "../../server/log.js";
import type { GlobalOptions } from "../context.js";

/** After a clean shutdown, anything still holding the event loop (a stray socket) gets this long. */
const EXIT_GRACE_MS = 3000;

export function registerDaemonCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("daemon")
    .description("serve the HTTP API and dashboard (and the embedded share) and sync periodically until stopped")
    .action(async () => {
      const config = loadConfig(resolveConfigPath(globals().config));
      const level = process.env.SYNCD_LOG_LEVEL;
      const log = jsonLogger((line) => process.stdout.write(line), isLogLevel(level) ? level : "info");
      // A bug that escapes every handler leaves the process in an unknown state: log it and exit 1, so
      // that systemd (Restart=on-failure) starts a clean one. The share stays safe: the lease expires.
      process.on("uncaughtException", (err) => {
        log.error("uncaught exception", { error: errorMessage(err), stack: err.stack });
        process.exit(1);
      });
      process.on("unhandledRejection", (reason) => log.error("unhandled rejection", { error: errorMessage(reason) }));

      // Loaded here, not at the top: every other command starts faster without the server modules.
      const { startDaemon } = await import("../../server/daemon.js");
      const daemon = await startDaemon({ config, log });
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
      });
      log.info("signal received", { signal });
      // A second signal while shutting down means "now": the share's lease then expires on its own.
      const again = (sig: NodeJS.Signals) => {
        log.warn("second signal: exiting without waiting for the run to stop", { signal: sig });
        process.exit(1);
      };
      process.once("SIGTERM", again);
      process.once("SIGINT", again);
      await daemon.close();
      setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
    });
}
