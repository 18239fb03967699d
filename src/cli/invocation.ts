/**
 * What the command line asked for, read from the raw arguments: main.ts needs it when parsing failed
 * (bad usage) or a command threw, when Commander's parsed options may not exist.
 */
import type { Command, CommanderError } from "commander";

/** The arguments before `--` (after it, `--json` would be an operand, not the option). */
function optionArea(args: string[]): string[] {
  const end = args.indexOf("--");
  return end < 0 ? args : args.slice(0, end);
}

/** The subcommand named in `args` (process.argv without node and the script), if it is a known one. */
export function invokedCommand(program: Command, args: string[]): Command | undefined {
  const tokens = optionArea(args);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token.startsWith("-")) {
      // A global option that takes a value (`--config FILE`) hides its value from the search.
      const option = program.options.find((o) => o.long === token || o.short === token);
      if (option && (option.required || option.optional)) i++;
      continue;
    }
    return program.commands.find((c) => c.name() === token || c.aliases().includes(token));
  }
  return undefined;
}

/** True when the command takes `--json` and was given it: its failures are then JSON documents too. */
export function wantsJson(program: Command, args: string[]): boolean {
  const command = invokedCommand(program, args);
  if (!command?.options.some((o) => o.long === "--json")) return false;
  return optionArea(args).includes("--json");
}

/**
 * Commander's message for bad usage ("error: unknown option '--forse'\n(Did you mean --force?)") as a
 * sentence, with where to look: "Unknown option '--forse'. Did you mean --force? See "syncd sync --help"."
 */
export function commanderSentence(err: Pick<CommanderError, "message">, command: string | null): string {
  const [first = "", ...rest] = err.message.replace(/^error: /, "").split("\n");
  const main = first.trim().replace(/\.$/, "");
  const suggestion = rest.join(" ").trim().replace(/^\((.*)\)$/, "$1");
  const parts = [`${main.charAt(0).toUpperCase()}${main.slice(1)}.`];
  if (suggestion) parts.push(suggestion);
  parts.push(`See "syncd ${command ? `${command} ` : ""}--help".`);
  return parts.join(" ");
}
