/**
 * `syncd` command line (SPEC §5). Errors are one sentence on stderr (a stack trace only with --verbose)
 * and exit codes are 0 ok, 1 failure, 2 bad usage or configuration, 75 lock busy.
 */
import { Command, CommanderError } from "commander";
import { SyncdError } from "../errors.js";
import { registerCheckCommand } from "./commands/check.js";
import { registerConflictCommands } from "./commands/conflicts.js";
import { registerDaemonCommand } from "./commands/daemon.js";
import { registerInitCommand } from "./commands/init.js";
import { registerInviteCommand } from "./commands/invite.js";
import { registerLibraryCommands } from "./commands/library.js";
import { registerProbeCommand } from "./commands/probe.js";
import { registerSyncCommands } from "./commands/sync.js";
import type { GlobalOptions } from "./context.js";

export function buildProgram(): Command {
  const program = new Command("syncd")
    .description("Keep a library of files and metadata identical on several machines through a WebDAV share.")
    .version("0.1.0")
    .option("--config <file>", "configuration file (default: $SYNCD_CONFIG, else ./syncd.json)")
    .option("--verbose", "print stack traces with errors")
    .exitOverride()
    .showSuggestionAfterError();
  const globals = () => program.opts<GlobalOptions>();
  registerInitCommand(program, globals);
  registerInviteCommand(program, globals);
  registerLibraryCommands(program, globals);
  registerSyncCommands(program, globals);
  registerCheckCommand(program, globals);
  registerConflictCommands(program, globals);
  registerProbeCommand(program, globals);
  registerDaemonCommand(program, globals);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    return reportError(err, argv.includes("--verbose"));
  }
}

function reportError(err: unknown, verbose: boolean): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (or the help / version).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof SyncdError) {
    process.stderr.write(`syncd: ${err.message}\n`);
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`syncd: unexpected error: ${message}${verbose ? "" : " (run with --verbose for details)"}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}
