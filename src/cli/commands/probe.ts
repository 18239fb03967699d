/** `syncd probe [--json]` (SPEC §5): tests what the share's server honours (FIELD-NOTES.md) and records it. */
import type { Command } from "commander";
import type { ProbeReport } from "../../remote/probe.js";
import { withContext, type GlobalOptions } from "../context.js";
import { formatTable, printJson, withReport } from "../output.js";

export function registerProbeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("probe")
    .description("test what the share's server honours, and record it")
    .option("--json", "print the report as JSON")
    .action(async (opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        ctx.stopOnSignals(); // a probe stopped by a signal still removes its scratch folder (remote/stop.ts)
        const { probeAndRecord, probeLocation, ProbeRefusedError } = await import("../../remote/probe.js");
        // Loaded on demand, as the context loads the share: the WebDAV stack is not needed to start the CLI.
        const { openPlainRemote } = await import("../../remote/open.js");
        const remote = await openPlainRemote(ctx.config);
        let report: ProbeReport;
        let refused: InstanceType<typeof ProbeRefusedError> | null = null;
        try {
          try {
            report = await probeAndRecord(library, remote, probeLocation(ctx.config, remote));
          } catch (err) {
            if (!(err instanceof ProbeRefusedError)) throw err;
            report = err.report;
            refused = err;
          }
        } finally {
          await remote.close();
        }
        // The report is shown either way; a refusal then fails the command with its one sentence (with --json,
        // main.ts prints the report with the error in it, one document).
        if (refused) {
          if (!opts.json) process.stdout.write(await describe(report));
          throw withReport(refused, report);
        }
        if (opts.json) printJson(report);
        else process.stdout.write(await describe(report));
      });
    });
}

async function describe(report: ProbeReport): Promise<string> {
  const { describeReport } = await import("../../remote/probe.js");
  const verdict = report.verdict === "ok" ? "usable" : "REFUSED";
  const lines = [
    `Probe of ${report.location} at ${report.probedAt} (${(report.durationMs / 1000).toFixed(1)} s): ${verdict}`,
    "",
    formatTable(describeReport(report)),
    "",
    "What syncd does about it:",
    ...report.notes.map((n) => `  - ${n}`),
  ];
  if (report.warnings.length) lines.push("", "Warnings:", ...report.warnings.map((w) => `  - ${w}`));
  return `${lines.join("\n")}\n`;
}
