/**
 * `syncd` command line (SPEC §5). Errors are one sentence on stderr (a stack trace only with --verbose)
 * and exit codes are 0 ok, 1 failure, 2 bad usage or configuration, 75 lock busy.
 *
 * Every failure of every command, bad usage included, ends in reportError: with --json (on a command that
 * takes it) it also prints `{"error": {"code", "message"}}` on stdout as the command's one JSON document,
 * so that no command has to handle its own failures for scripts.
 */
import { readFileSync } from "node:fs";
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
import { commanderSentence, invokedCommand, wantsJson } from "./invocation.js";
import { jsonPrinted, printJson, reportOf } from "./output.js";

/** The installed package's version: package.json two folders up, from src/cli as from dist/cli. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}

export function buildProgram(): Command {
  const program = new Command("syncd")
    .description("Keep a library of files and metadata identical on several machines through a WebDAV share.")
    .version(packageVersion(), "-V, --version", "print the version")
    .option("--config <file>", "configuration file (default: $SYNCD_CONFIG, else ./syncd.json)")
    .option("--verbose", "print stack traces with errors")
    .exitOverride()
    // Commander's own error lines ("error: unknown option …") are not printed: reportError turns them into
    // a sentence (and, with --json, the error document). Subcommands inherit this and the exit override.
    .configureOutput({ outputError: () => {} })
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
    const args = argv.slice(2);
    return reportError(err, { verbose: args.includes("--verbose"), json: wantsJson(program, args), command: invokedCommand(program, args)?.name() ?? null });
  }
}

interface Reporting {
  verbose: boolean;
  /** The command takes --json and was given it: the failure is also a JSON document on stdout. */
  json: boolean;
  /** The subcommand named on the command line, for the usage hint. */
  command: string | null;
}

/** Prints the failure (a sentence on stderr; with --json the error document on stdout) and returns the exit code. */
export function reportError(err: unknown, how: Reporting): number {
  if (err instanceof CommanderError) {
    // --help and --version end the parse with exit code 0; a help shown for a missing command was printed.
    if (err.exitCode === 0) return 0;
    if (err.code === "commander.help") return 2;
    return fail("usage", commanderSentence(err, how.command), 2, how, null);
  }
  if (err instanceof SyncdError) return fail(err.code, err.message, err.exitCode, how, err);
  const message = err instanceof Error ? err.message : String(err);
  const sentence = `An unexpected error (a bug in syncd): ${message.replace(/\.$/, "")}.${how.verbose ? "" : " Run the command again with --verbose for details."}`;
  return fail("internal", sentence, 1, how, err instanceof Error ? err : null);
}

function fail(code: string, message: string, exitCode: number, how: Reporting, err: Error | null): number {
  // Exactly one document: a command that printed its result and failed afterwards (while closing) keeps it.
  if (how.json && !jsonPrinted()) printJson({ ...(err ? reportOf(err) : {}), error: { code, message } });
  process.stderr.write(`syncd: ${message}\n`);
  if (how.verbose && err?.stack) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}
