/** Commands that read or write the local library: add, update, rm, restore, ls, get, import. */
import { createWriteStream } from "node:fs";
import { basename, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { EntryDeletedError } from "../../store/library.js";
import { withContext, type GlobalOptions } from "../context.js";
import { collect, entryJson, formatTable, parseMetaPairs, printJson } from "../output.js";
import { formatBytes } from "../../bytes.js";

type Globals = () => GlobalOptions;

export function registerLibraryCommands(program: Command, globals: Globals): void {
  program
    .command("add")
    .description("add a file to the library; prints its id")
    .argument("<path>", "the file to add")
    .option("--name <name>", "logical name (default: the file's name)")
    .option("--meta <key=value>", "a metadata field (repeatable)", collect, [])
    .option("--json", "print the entry as JSON")
    .action(async (path: string, opts: { name?: string; meta: string[]; json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        const entry = await library.add({ source: resolve(path), name: opts.name ?? basename(path), meta: parseMetaPairs(opts.meta) });
        if (opts.json) printJson(entryJson(entry));
        else process.stdout.write(`${entry.id}\n`);
      });
    });

  program
    .command("update")
    .description("give an entry new content, a new name and/or metadata")
    .argument("<id>", "entry id")
    .option("--file <path>", "new content")
    .option("--name <name>", "new name")
    .option("--meta <key=value>", "set a metadata field (repeatable)", collect, [])
    .option("--unset <key>", "remove a metadata field (repeatable)", collect, [])
    .option("--json", "print the entry as JSON")
    .action(async (id: string, opts: { file?: string; name?: string; meta: string[]; unset: string[]; json?: boolean }) => {
      if (!opts.file && opts.name === undefined && opts.meta.length === 0 && opts.unset.length === 0) {
        throw new UsageError("Nothing to update: give --file, --name, --meta or --unset.");
      }
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        library.require(id);
        const entry = await library.update(id, {
          source: opts.file ? resolve(opts.file) : undefined,
          name: opts.name,
          meta: { set: parseMetaPairs(opts.meta), unset: opts.unset }, // empty: no change
        });
        if (opts.json) printJson(entryJson(entry));
        else process.stdout.write(`${entry.id}\n`);
      });
    });

  program
    .command("rm")
    .description("delete entries (tombstones that sync propagates)")
    .argument("<ids...>", "entry ids")
    .action(async (ids: string[]) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        // Every id is checked before the first deletion: a typo in the list deletes nothing.
        for (const id of ids) {
          const entry = library.require(id);
          if (entry.deleted) throw new EntryDeletedError(entry);
        }
        for (const id of new Set(ids)) library.remove(id);
      });
    });

  program
    .command("restore")
    .description("bring deleted entries back (their last content and metadata), as a new change")
    .argument("<ids...>", "entry ids")
    .option("--json", "print the restored entries as a JSON array")
    .action(async (ids: string[], opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        const { shareContent } = await import("../../sync/share-content.js");
        // Content the local store released on deletion is fetched back from the share (Library.restore).
        const entries = await library.restore(ids, { fetch: shareContent(() => ctx.share()) });
        if (opts.json) printJson(entries.map(entryJson));
        else process.stdout.write(entries.map((e) => `${e.id}\n`).join(""));
      });
    });

  program
    .command("ls")
    .description("list entries")
    .option("--deleted", "include deleted entries")
    .option("--json", "print a JSON array")
    .action(async (opts: { deleted?: boolean; json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const entries = (await ctx.openLibrary()).list({ includeDeleted: opts.deleted ?? false });
        if (opts.json) return printJson(entries.map(entryJson));
        if (entries.length === 0) return;
        const rows = [["ID", "SIZE", "STATUS", "NAME"]];
        for (const e of entries) rows.push([e.id, formatBytes(e.size), e.deleted ? "deleted" : e.syncStatus, e.name]);
        process.stdout.write(`${formatTable(rows)}\n`);
      });
    });

  program
    .command("get")
    .description("write an entry's content to stdout or a file")
    .argument("<id>", "entry id")
    .option("--out <path>", "write to this file instead of stdout")
    .action(async (id: string, opts: { out?: string }) => {
      await withContext(globals(), async (ctx) => {
        const library = await ctx.openLibrary();
        const entry = library.require(id);
        if (entry.deleted) throw new UsageError(`Entry ${id} is deleted; it has no content.`);
        const target = opts.out ? createWriteStream(resolve(opts.out)) : process.stdout;
        await pipeline(library.blobs.openRead(entry.hash), target, { end: Boolean(opts.out) });
      });
    });

  program
    .command("import")
    .description("add every file under a folder, named by its path relative to the folder")
    .argument("<dir>", "folder to import")
    .option("--json", "print the new entries as a JSON array")
    .action(async (dir: string, opts: { json?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        const entries = await (await ctx.openLibrary()).importDir(resolve(dir));
        if (opts.json) printJson(entries.map(entryJson));
        else process.stdout.write(`imported ${entries.length} file${entries.length === 1 ? "" : "s"}\n`);
      });
    });
}
