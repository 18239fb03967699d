/** Commands about conflicts held by the manual policy: conflicts, resolve (SPEC §5). */
import type { Command } from "commander";
import { SyncdError, UsageError } from "../../errors.js";
import { conflictDifferences } from "../../model/conflict-differences.js";
import { listOpenConflicts } from "../../store/conflicts.js";
import { parseStrategy, resolveAllConflicts, resolveConflict, RESOLVE_STRATEGIES, type ResolveResult } from "../../store/resolve.js";
import { describeConflicts } from "../conflict-text.js";
import { withContext, type GlobalOptions } from "../context.js";
import { entryJson, printJson, withReport } from "../output.js";

type Globals = () => GlobalOptions;

export function registerConflictCommands(program: Command, globals: Globals): void {
  program
    .command("conflicts")
    .description("list open conflicts, with the values that differ between this machine and the share")
    .option("--json", "print a JSON array")
    .action(async (opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const conflicts = listOpenConflicts((await ctx.openLibrary()).db);
        // SPEC §5's fields, plus each differing field with both values (what the text output shows).
        if (opts.json) return printJson(conflicts.map((c) => ({ ...c, differences: conflictDifferences(c.local, c.remote, c.fields) })));
        process.stdout.write(describeConflicts(conflicts));
      });
    });

  program
    .command("resolve")
    .description("resolve one open conflict, or all of them with --all; the next sync carries the result to every instance")
    .argument("[id]", "conflict id (from syncd conflicts)")
    .option("--all", "resolve every open conflict with the same strategy")
    .requiredOption("--strategy <strategy>", `one of ${RESOLVE_STRATEGIES.join(", ")}`)
    .option("--json", "print the resulting entry as JSON (with --all: an array of {conflictId, entry, copy})")
    .action(async (id: string | undefined, opts: { all?: boolean; strategy: string; json?: boolean }) => {
      // Bad usage (exit 2) before the configuration is read.
      if (id === undefined && !opts.all) {
        throw new UsageError('Give the id of the conflict to resolve, or --all to resolve every open one; "syncd conflicts" lists them.');
      }
      if (id !== undefined && opts.all) throw new UsageError(`Give either a conflict id (${id}) or --all, not both.`);
      const strategy = parseStrategy(opts.strategy);
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        if (id !== undefined) {
          const result = resolveConflict(library, id, strategy);
          if (opts.json) return printJson({ ...entryJson(result.entry), ...(result.copy ? { copy: entryJson(result.copy) } : {}) });
          process.stdout.write(`${describeResolution(result)}; the next sync carries it to the share.\n`);
          return;
        }
        const { resolved, failed } = resolveAllConflicts(library, strategy);
        const results = resolved.map((r) => ({ conflictId: r.conflictId, entry: entryJson(r.entry), copy: r.copy ? entryJson(r.copy) : null }));
        if (!opts.json) {
          for (const r of resolved) process.stdout.write(`${describeResolution(r)}.\n`);
          const n = resolved.length;
          process.stdout.write(
            n === 0 && failed.length === 0
              ? "No open conflicts: nothing to resolve.\n"
              : `Resolved ${n} conflict${n === 1 ? "" : "s"} with ${strategy}; the next sync carries ${n === 1 ? "it" : "them"} to the share.\n`,
          );
        }
        if (failed.length > 0) {
          const reasons = failed.map((f) => f.error.message).join(" ");
          const error = new SyncdError(
            "conflicts-left",
            `${failed.length} conflict${failed.length === 1 ? "" : "s"} could not be resolved (the others were): ${reasons}`,
          );
          throw withReport(error, { resolved: results, failed: failed.map((f) => ({ conflictId: f.conflictId, code: f.error.code, message: f.error.message })) });
        }
        if (opts.json) printJson(results);
      });
    });
}

/** "Resolved conflict 01K… (local_wins): entry 01J… "report.txt"", with keep_both's copy. */
function describeResolution(r: ResolveResult): string {
  const copy = r.copy ? `; this machine's version is kept as ${r.copy.id} ${JSON.stringify(r.copy.name)}` : "";
  return `Resolved conflict ${r.conflictId} (${r.strategy}): entry ${r.entry.id} ${JSON.stringify(r.entry.name)}${copy}`;
}
