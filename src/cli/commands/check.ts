/** `syncd check [--repair] [--json]` (SPEC §5): the share audited against its metadata (sync/check.ts). */
import type { Command } from "commander";
import { SyncdError } from "../../errors.js";
import type { CheckReport } from "../../sync/check.js";
import { dataPath } from "../../share/layout.js";
import { withContext, type GlobalOptions } from "../context.js";
import { printJson, withReport } from "../output.js";
import { formatBytes } from "../../bytes.js";

export function registerCheckCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("check")
    .description("audit the share: every data file present with the right size and hash, no stray claims or temporary files")
    .option("--repair", "upload again what this instance holds, and remove leftovers (under the lock)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { repair?: boolean; json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        const { checkShare } = await import("../../sync/check.js");
        const [remote, shareKey] = await Promise.all([ctx.share(), ctx.shareKey()]);
        const { concurrency, lockTtlSeconds, lockWaitSeconds } = ctx.config.sync;
        const report = await checkShare(library, remote, { repair: opts.repair ?? false, concurrency, lockTtlSeconds, lockWaitSeconds, shareKey });
        // The report is shown either way; problems left fail the command (exit 1) with one sentence (with
        // --json, main.ts prints the report with the error in it, one document).
        const left = report.problems.filter((p) => !p.repaired).length;
        if (left > 0) {
          if (!opts.json) process.stdout.write(describe(report));
          const problem = new SyncdError(
            "share-problems",
            `The share has ${left} problem${left === 1 ? "" : "s"} left${opts.repair ? " that this instance could not repair" : `; "syncd check --repair" puts right what this instance can`}.`,
          );
          throw withReport(problem, report);
        }
        if (opts.json) printJson(report);
        else process.stdout.write(describe(report));
      });
    });
}

function describe(report: CheckReport): string {
  const { entries, dataFiles, bytes } = report.checked;
  const what =
    report.version === null
      ? "an empty share (no metadata yet)"
      : `version ${report.version}: ${entries} live entr${entries === 1 ? "y" : "ies"}, ${dataFiles} data file${dataFiles === 1 ? "" : "s"} read and hashed (${formatBytes(bytes)})`;
  const lines = [`Checked ${report.location}, ${what}, the lock folder and temporary files.`];
  if (report.reported.length > 0) {
    lines.push(`Reported missing or damaged by syncing instances: ${report.reported.map((r) => `${dataPath(r.hash)} (${r.problem}, ${r.reportedAt})`).join(", ")}.`);
  }
  if (report.problems.length === 0) {
    lines.push("No problems found.");
    return `${lines.join("\n")}\n`;
  }
  const left = report.problems.filter((p) => !p.repaired).length;
  lines.push(`${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}, ${report.problems.length - left} repaired:`);
  for (const p of report.problems) lines.push(`  - ${p.repaired ? "repaired" : "not repaired"}: ${p.message}`);
  return `${lines.join("\n")}\n`;
}
