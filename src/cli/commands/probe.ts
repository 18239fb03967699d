/** `syncd probe [--json]` (SPEC §5): tests what the share's server honours (FIELD-NOTES.md) and records it. */
import { join } from "node:path";
import type { Command } from "commander";
import type { Config } from "../../config/schema.js";
import type { ProbeReport } from "../../remote/probe.js";
import type { Remote } from "../../remote/remote.js";
import { withContext, type GlobalOptions } from "../context.js";
import { formatTable, printJson } from "../output.js";

export function registerProbeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("probe")
    .description("test what the share's server honours, and record it")
    .option("--json", "print the report as JSON")
    .action(async (opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        const { probeAndRecord, probeLocation, ProbeRefusedError } = await import("../../remote/probe.js");
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
        if (opts.json) printJson(report);
        else process.stdout.write(await describe(report));
        // The report is printed either way; a refusal then fails the command with its one sentence.
        if (refused) throw refused;
      });
    });
}

/**
 * The share as openRemote opens it, but without the retry decorator: the probe measures what the server
 * answers, which retries would repeat or hide (a MOVE answered 500 would be sent five times), and it needs
 * the WebDAV remote's raw requests for the statuses and headers that the Remote interface does not show.
 */
async function openPlainRemote(config: Config): Promise<Remote> {
  const { createWebdavRemote } = await import("../../remote/webdav-remote.js");
  const { webdav } = config;
  if (webdav.url) {
    return createWebdavRemote({ url: webdav.url, root: webdav.root, username: webdav.username, password: webdav.password, timeoutMs: webdav.timeoutMs });
  }
  const { startEmbeddedShare } = await import("../../remote/embedded-share.js");
  const server = await startEmbeddedShare({ dir: join(config.dataDir, "share"), host: "127.0.0.1", port: 0 });
  const remote = createWebdavRemote({ url: server.url, root: webdav.root, timeoutMs: webdav.timeoutMs });
  const closeClient = remote.close.bind(remote);
  remote.close = async () => {
    await closeClient();
    await server.close();
  };
  return remote;
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
