/** Commands about conflicts held by the manual policy: conflicts, resolve (SPEC §5). */
import type { Command } from "commander";
import { listOpenConflicts } from "../../store/conflicts.js";
import { parseStrategy, resolveConflict, RESOLVE_STRATEGIES } from "../../store/resolve.js";
import type { EntryState } from "../../model/entry.js";
import { withContext, type GlobalOptions } from "../context.js";
import { entryJson, formatTable, printJson } from "../output.js";

type Globals = () => GlobalOptions;

export function registerConflictCommands(program: Command, globals: Globals): void {
  program
    .command("conflicts")
    .description("list open conflicts")
    .option("--json", "print a JSON array")
    .action(async (opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const conflicts = listOpenConflicts((await ctx.openLibrary()).db);
        if (opts.json) return printJson(conflicts);
        if (conflicts.length === 0) return;
        const rows = [["ID", "ENTRY", "KIND", "FIELDS", "LOCAL", "REMOTE"]];
        for (const c of conflicts) rows.push([c.id, c.entryId, c.kind, c.fields.join(","), side(c.local), side(c.remote)]);
        process.stdout.write(`${formatTable(rows)}\n`);
      });
    });

  program
    .command("resolve")
    .description("resolve one open conflict; the next sync carries the result to every instance")
    .argument("<id>", "conflict id (from syncd conflicts)")
    .requiredOption("--strategy <strategy>", `one of ${RESOLVE_STRATEGIES.join(", ")}`)
    .option("--json", "print the resulting entry as JSON")
    .action(async (id: string, opts: { strategy: string; json?: boolean }) => {
      const strategy = parseStrategy(opts.strategy); // bad usage (exit 2) before the configuration is read
      await withContext(globals(), async (ctx) => {
        const result = resolveConflict(await ctx.openLibrary(), id, strategy);
        if (opts.json) {
          return printJson({ ...entryJson(result.entry), ...(result.copy ? { copy: entryJson(result.copy) } : {}) });
        }
        const copy = result.copy ? `; the local side is kept as ${result.copy.id} ${JSON.stringify(result.copy.name)}` : "";
        process.stdout.write(`resolved ${id} (${strategy}): entry ${result.entry.id}${copy}; the next sync carries it to the share\n`);
      });
    });
}

/** One side of a conflict, in a table cell. */
function side(s: EntryState): string {
  return s.deleted ? "(deleted)" : `${s.name} ${s.hash.slice(0, 8)}`;
}
