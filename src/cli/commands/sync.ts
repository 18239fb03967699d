/** Commands that talk to the share: sync, status. */
import type { Command } from "commander";
import { withContext, type GlobalOptions } from "../context.js";
import { printJson } from "../output.js";
import { formatBytes, progressReporter } from "../progress.js";
import type { SyncSummary } from "../../sync/events.js";

type Globals = () => GlobalOptions;

export function registerSyncCommands(program: Command, globals: Globals): void {
  program
    .command("sync")
    .description("run one sync with the share")
    .option("--force", "skip the up-to-date check and override the safety guards")
    .option("--json", "print the summary as JSON")
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const progress = progressReporter();
        const engine = await ctx.engine(progress.onEvent);
        let summary: SyncSummary;
        try {
          summary = await engine.sync({ force: opts.force ?? false });
        } finally {
          progress.stop();
        }
        if (opts.json) printJson(summary);
        else process.stdout.write(`${describeSummary(summary)}\n`);
      });
    });

  program
    .command("status")
    .description("what is waiting to sync")
    .option("--json", "print the status as JSON")
    .action(async (opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const status = await (await ctx.engine()).status();
        if (opts.json) return printJson(status);
        const needed = status.syncNeeded === null ? "unknown (share unreachable)" : status.syncNeeded ? "yes" : "no";
        process.stdout.write(
          [
            `unsynced changes: ${status.unsynced}`,
            `local version:    ${status.localVersion ?? "never synced"}`,
            `remote version:   ${status.remoteVersion ?? "unknown"}`,
            `sync needed:      ${needed}`,
            `last sync:        ${status.lastSyncAt ?? "never"}`,
            `open conflicts:   ${status.conflicts}`,
            ...(status.lastError ? [`last error:       ${status.lastError}`] : []),
          ].join("\n") + "\n",
        );
      });
    });
}

export function describeSummary(s: SyncSummary): string {
  if (s.skipped) return `up to date (version ${s.version ?? "none"})`;
  const parts = [
    `version ${s.version}`,
    `${s.uploaded} uploaded`,
    `${s.downloaded} downloaded`,
    `${s.deletedRemote + s.deletedLocal} deleted`,
    `${s.metadataPushed + s.metadataPulled} metadata-only`,
    `${s.conflicts} conflicts`,
    `${formatBytes(s.bytesUp)} up, ${formatBytes(s.bytesDown)} down`,
    `${(s.durationMs / 1000).toFixed(1)} s`,
  ];
  return `synced: ${parts.join(", ")}`;
}
