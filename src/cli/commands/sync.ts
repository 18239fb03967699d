/** Commands that talk to the share: sync, status. */
import type { Command } from "commander";
import { withContext, type GlobalOptions } from "../context.js";
import { printJson } from "../output.js";
import { formatBytes } from "../../bytes.js";
import { progressReporter } from "../progress.js";
import type { SyncSummary } from "../../sync/events.js";
import { countOpenConflicts } from "../../store/conflicts.js";

type Globals = () => GlobalOptions;

export function registerSyncCommands(program: Command, globals: Globals): void {
  program
    .command("sync")
    .description("run one sync with the share")
    .option("--force", "skip the up-to-date check and reconcile everything (overrides no guard)")
    .option("--allow-deletes", "let this run delete more than sync.maxDeletePercent, or sync with a share that was emptied or replaced")
    .option("--dry-run", "show what the run would do, and change nothing anywhere")
    .option("--json", "print the summary as JSON")
    .action(async (opts: { force?: boolean; allowDeletes?: boolean; dryRun?: boolean; json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const progress = progressReporter();
        const engine = await ctx.engine(progress.onEvent);
        let summary: SyncSummary;
        try {
          summary = await engine.sync({
            force: opts.force ?? false,
            allowDeletes: opts.allowDeletes ?? false,
            dryRun: opts.dryRun ?? false,
            signal: ctx.signal,
          });
        } finally {
          progress.stop();
        }
        if (opts.json) printJson(summary);
        else process.stdout.write(`${summary.dryRun ? describeDryRun(summary) : describeSummary(summary)}\n`);
        // Conflicts held for the user (manual policy), found by this run or an earlier one: say where to go.
        // On stderr, so that --json stays one document; the run itself succeeded (exit 0).
        if (!summary.dryRun) {
          const open = countOpenConflicts((await ctx.openLibrary()).db);
          if (open > 0) process.stderr.write(`${conflictsHint(open)}\n`);
        }
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
            `open conflicts:   ${status.conflicts}${status.conflicts > 0 ? ' ("syncd conflicts" shows them)' : ""}`,
            ...(status.lastError ? [`last error:       ${status.lastError}`] : []),
          ].join("\n") + "\n",
        );
      });
    });
}

/** What `syncd sync` says when conflicts wait for the user after the run. */
export function conflictsHint(open: number): string {
  const these = open === 1 ? "1 conflict waits" : `${open} conflicts wait`;
  return `${these} for your decision: "syncd conflicts" shows what differs, "syncd resolve ID --strategy …" (or --all) settles ${open === 1 ? "it" : "them"}.`;
}

/** Lines of a dry run shown before "… and N more". */
const DRY_RUN_LINES = 50;

export function describeDryRun(s: SyncSummary): string {
  const report = s.dryRun;
  if (!report) return describeSummary(s);
  const lines = [`dry run: nothing was changed. The share is at version ${s.version}.`];
  if (report.shareRewound) lines.push("The share went back in time since this instance's last sync (restored from an older copy?): the run would write this instance's newer state back.");
  if (report.changes.length === 0) lines.push("A sync would change nothing.");
  for (const c of report.changes.slice(0, DRY_RUN_LINES)) {
    const sides = [c.local ? `here: ${c.local}` : null, c.remote ? `share: ${c.remote}` : null, c.conflict ? `conflict: ${c.conflict}` : null].filter(Boolean);
    lines.push(`  ${c.name} (${c.id}): ${sides.join("; ") || (c.reason === "converged" ? "already the same on both sides; only this machine's records change" : c.reason)}`);
  }
  if (report.changes.length > DRY_RUN_LINES) lines.push(`  … and ${report.changes.length - DRY_RUN_LINES} more (--json lists them all)`);
  lines.push(
    `would: ${s.uploaded} uploaded, ${s.downloaded} downloaded, ${s.deletedLocal} deleted here, ${s.deletedRemote} deleted on the share, ` +
      `${s.metadataPushed + s.metadataPulled} metadata-only, ${s.conflicts} conflicts, ${formatBytes(s.bytesUp)} up, ${formatBytes(s.bytesDown)} down`,
  );
  if (report.wouldStop) lines.push(`The run would stop: ${report.wouldStop}`);
  return lines.join("\n");
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
