/**
 * The command line's pure parts: what main.ts reads from the raw arguments when a command fails
 * (src/cli/invocation.ts), and how `syncd conflicts` shows the two sides (model/conflict-differences.ts,
 * cli/conflict-text.ts).
 */
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { commanderSentence, invokedCommand, wantsJson } from "../../src/cli/invocation.js";
import { buildProgram } from "../../src/cli/main.js";
import { describeConflict, describeConflicts } from "../../src/cli/conflict-text.js";
import { conflictCause, conflictDifferences } from "../../src/model/conflict-differences.js";
import type { EntryState } from "../../src/model/entry.js";
import type { OpenConflict } from "../../src/store/conflicts.js";

describe("invocation", () => {
  const program = buildProgram();
  it("finds the subcommand behind global options and their values", () => {
    expect(invokedCommand(program, ["--config", "sync", "status", "--json"])?.name()).toBe("status");
    expect(invokedCommand(program, ["--verbose", "resolve", "x"])?.name()).toBe("resolve");
    expect(invokedCommand(program, ["frobnicate"])).toBeUndefined();
    expect(invokedCommand(program, [])).toBeUndefined();
  });

  it("wants JSON only for a command that takes --json and was given it before --", () => {
    expect(wantsJson(program, ["sync", "--json"])).toBe(true);
    expect(wantsJson(program, ["--config", "c.json", "resolve", "--json", "--all"])).toBe(true);
    expect(wantsJson(program, ["sync"])).toBe(false);
    expect(wantsJson(program, ["rm", "--json", "x"])).toBe(false); // rm takes no --json
    expect(wantsJson(program, ["get", "--", "--json"])).toBe(false);
    expect(wantsJson(program, ["frobnicate", "--json"])).toBe(false);
  });

  it("turns Commander's messages into sentences that say where to look", () => {
    const err = (message: string) => new CommanderError(1, "commander.x", message);
    expect(commanderSentence(err("error: unknown option '--forse'\n(Did you mean --force?)"), "sync")).toBe(
      `Unknown option '--forse'. Did you mean --force? See "syncd sync --help".`,
    );
    expect(commanderSentence(err("error: unknown command 'sycn'"), null)).toBe(`Unknown command 'sycn'. See "syncd --help".`);
    expect(commanderSentence(err("error: too many arguments for 'get'. Expected 1 argument but got 2."), "get")).toBe(
      `Too many arguments for 'get'. Expected 1 argument but got 2. See "syncd get --help".`,
    );
  });
});

const base: EntryState = {
  name: "paper.txt",
  hash: "a".repeat(64),
  size: 10,
  meta: { year: 1999, title: "Deep learning", tags: ["x"] },
  deleted: false,
  version: 2,
  hlc: "h",
  origin: "o",
};
function conflict(local: EntryState, remote: EntryState, fields: string[], kind = "meta"): OpenConflict {
  return { id: "01CONFLICT", entryId: "01ENTRY", kind, fields, local, remote, createdAt: "2026-01-01T00:00:00.000Z" };
}

describe("conflictDifferences", () => {
  it("lists each field whose values differ, marking the ones in conflict; an unset key has no value", () => {
    const remote = { ...base, name: "paper2.txt", meta: { year: 2021, title: "Deep learning", tags: ["x"], code: "007" } };
    expect(conflictDifferences(base, remote, ["meta.year"])).toEqual([
      { field: "name", local: "paper.txt", remote: "paper2.txt", conflicting: false },
      { field: "meta.code", remote: "007", conflicting: false },
      { field: "meta.year", local: 1999, remote: 2021, conflicting: true },
    ]);
    expect(conflictDifferences(base, { ...base, hash: "b".repeat(64), size: 3 }, ["content"])).toEqual([
      { field: "content", local: { hash: base.hash, size: 10 }, remote: { hash: "b".repeat(64), size: 3 }, conflicting: true },
    ]);
  });

  it("a deletion against a live side is the one difference; equal metadata in another key order is no difference", () => {
    expect(conflictDifferences({ ...base, deleted: true, meta: {} }, base, ["deleted"])).toEqual([{ field: "deleted", local: true, remote: false, conflicting: true }]);
    const reordered = { ...base, meta: { tags: ["x"], title: "Deep learning", year: 1999 } };
    expect(conflictDifferences(base, reordered, [])).toEqual([]);
  });
});

describe("conflictCause (conflicts, and sync --dry-run)", () => {
  it("says which side deleted, or which fields both sides changed", () => {
    expect(conflictCause({ fields: ["deleted"], local: { ...base, deleted: true }, remote: base })).toBe("it was deleted on this machine and changed on the share");
    expect(conflictCause({ fields: ["deleted"], local: base, remote: { ...base, deleted: true } })).toBe("it was changed on this machine and deleted on the share");
    expect(conflictCause({ fields: ["name"], local: base, remote: base })).toBe("this machine and the share both changed its name, to different values");
    expect(conflictCause({ fields: ["content", "meta.year", "meta.tags"], local: base, remote: base })).toBe(
      "this machine and the share both changed its content, its year and its tags, to different values",
    );
  });
});

describe("syncd conflicts, as text", () => {
  it("shows the differing values of both sides, in conflict first", () => {
    const remote = { ...base, name: "paper2.txt", meta: { ...base.meta, year: 2021, note: "  spaced" } };
    const text = describeConflict(conflict(base, remote, ["meta.year"]));
    expect(text.split("\n")).toEqual([
      'Conflict 01CONFLICT on "paper.txt" (entry 01ENTRY): this machine and the share both changed its year, to different values.',
      "  year: 1999 (this machine) vs 2021 (share)",
      "  Also different, but not in conflict (the side that changed it keeps its change):",
      '    name: "paper.txt" (this machine) vs "paper2.txt" (share)',
      '    note: (not set) (this machine) vs "  spaced" (share)',
      "",
    ]);
  });

  it("content by size and hash; a string that reads as a number is quoted; a long value is cut", () => {
    const remote = { ...base, hash: "b".repeat(64), size: 2 * 1024 * 1024, meta: { ...base.meta, year: "1999", title: "t".repeat(100) } };
    const text = describeConflict(conflict(base, remote, ["content", "meta.year", "meta.title"], "content"));
    expect(text).toContain("both changed its content, its year and its title, to different values.");
    expect(text).toContain(`  content: 10 B, sha256 ${"a".repeat(12)} (this machine) vs 2.0 MiB, sha256 ${"b".repeat(12)} (share)`);
    expect(text).toContain('  year: 1999 (this machine) vs "1999" (share)');
    expect(text).toContain(`  title: Deep learning (this machine) vs ${"t".repeat(59)}… (share)`);
  });

  it("an edit against a deletion says which side deleted, and shows the other", () => {
    const text = describeConflict(conflict(base, { ...base, deleted: true }, ["deleted"], "edit-delete"));
    expect(text).toBe(
      'Conflict 01CONFLICT on "paper.txt" (entry 01ENTRY): it was changed on this machine and deleted on the share.\n' +
        `  this machine's version: "paper.txt", 10 B, year: 1999, title: Deep learning, tags: ["x"]\n`,
    );
  });

  it("ends with how to settle them, and says when there is nothing", () => {
    expect(describeConflicts([])).toBe("No open conflicts.\n");
    const text = describeConflicts([conflict(base, { ...base, meta: { year: 2021 } }, ["meta.year"])]);
    expect(text).toContain("1 open conflict. To settle it:\n  syncd resolve ID --strategy local_wins");
    expect(text).toContain("With --all instead of an ID");
  });
});
