import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openLibrary, type Library } from "../../src/store/library.js";
import { MAX_SEARCH_LIMIT, searchEntries } from "../../src/store/entry-search.js";
import { queryPlans, traceStatements } from "../helpers/query-plans.js";

describe("searchEntries (the dashboard's bounded look into the library)", () => {
  let dir: string;
  let library: Library;
  let clock: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncd-search-"));
    clock = 1_000_000;
    library = await openLibrary(join(dir, "data"), { instanceName: "test", now: () => (clock += 1000) });
  });
  afterEach(async () => {
    library.close();
    await rm(dir, { recursive: true, force: true });
  });

  const add = async (name: string) => (await library.add({ source: Buffer.from(name), name })).id;
  const names = (found: ReturnType<typeof searchEntries>) => found.map((f) => f.entry.name);

  it("finds names containing the text, case-insensitively, by name", async () => {
    for (const n of ["papers/Alpha.pdf", "papers/beta.pdf", "notes/alphabet.txt", "other.bin"]) await add(n);
    expect(names(searchEntries(library.db, { q: "ALPHA", limit: 10 }))).toEqual(["notes/alphabet.txt", "papers/Alpha.pdf"]);
    expect(names(searchEntries(library.db, { limit: 10 }))).toEqual(["notes/alphabet.txt", "other.bin", "papers/Alpha.pdf", "papers/beta.pdf"]);
  });

  it("takes LIKE's wildcards in the text literally", async () => {
    for (const n of ["a_b.txt", "axb.txt", "100%.txt", "100x.txt"]) await add(n);
    expect(names(searchEntries(library.db, { q: "a_b", limit: 10 }))).toEqual(["a_b.txt"]);
    expect(names(searchEntries(library.db, { q: "100%", limit: 10 }))).toEqual(["100%.txt"]);
    expect(searchEntries(library.db, { q: "x\\", limit: 10 })).toEqual([]); // names hold no backslash; the escape itself is escaped
  });

  it("lists the most recently changed first, and never more than the limit", async () => {
    const first = await add("one");
    await add("two");
    await add("three");
    library.rename(first, "one-renamed"); // the newest change now
    const recent = searchEntries(library.db, { order: "recent", limit: 2 });
    expect(names(recent)).toEqual(["one-renamed", "three"]);
    expect(recent[0]!.updatedAt).toBeGreaterThan(recent[1]!.updatedAt);
    expect(searchEntries(library.db, { limit: 10_000 }).length).toBe(3);
    expect(MAX_SEARCH_LIMIT).toBeLessThanOrEqual(1000);
  });

  it("keeps deleted entries out, or shows only them", async () => {
    const gone = await add("gone.txt");
    await add("kept.txt");
    expect(searchEntries(library.db, { deleted: "only", limit: 10 })).toEqual([]);
    library.remove(gone);
    expect(names(searchEntries(library.db, { limit: 10 }))).toEqual(["kept.txt"]);
    const deleted = searchEntries(library.db, { deleted: "only", limit: 10 });
    expect(names(deleted)).toEqual(["gone.txt"]);
    expect(deleted[0]!.entry.deleted).toBe(true);
    expect(names(searchEntries(library.db, { deleted: "include", limit: 10 }))).toEqual(["gone.txt", "kept.txt"]);
  });

  it("by name with a text, pages through the name index in steps and keeps only what was asked for", () => {
    // Rows written directly: 1,500 entries, every third one deleted, far more than one step of the walk.
    const insert = library.db.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, created_at, updated_at)
      VALUES (?, ?, ?, 1, '{}', 1, ?, 'h', 'o', 'synced', 0, 0)`);
    const all: Array<{ name: string; deleted: boolean }> = [];
    library.db.transaction(() => {
      for (let i = 0; i < 1500; i++) {
        const name = `bulk/${String((i * 7919) % 1500).padStart(5, "0")}-match.bin`;
        insert.run(`id${String(i).padStart(6, "0")}`, name, "a".repeat(64), i % 3 === 0 ? 1 : 0);
        all.push({ name, deleted: i % 3 === 0 });
      }
    })();
    const sorted = all.sort((a, b) => (a.name < b.name ? -1 : 1));
    const live = sorted.filter((e) => !e.deleted).map((e) => e.name);
    const gone = sorted.filter((e) => e.deleted).map((e) => e.name);
    expect(names(searchEntries(library.db, { q: "-match", limit: 500 }))).toEqual(live.slice(0, 500));
    expect(names(searchEntries(library.db, { q: "-match", deleted: "only", limit: 500 }))).toEqual(gone);
    expect(names(searchEntries(library.db, { q: "-match", deleted: "include", limit: 500 }))).toEqual(sorted.slice(0, 500).map((e) => e.name));
    expect(names(searchEntries(library.db, { q: "01499-", limit: 500 }))).toEqual(live.filter((n) => n.includes("01499-")));
  });

  it("walks an index in the order asked for instead of sorting the library (it stops at the limit)", async () => {
    await add("x");
    library.remove(await add("y"));
    for (const order of ["name", "recent"] as const) {
      for (const deleted of ["exclude", "only", "include"] as const) {
        const statements = await traceStatements(library.db, () => searchEntries(library.db, { q: "x", order, deleted, limit: 5 }));
        const plans = queryPlans(library.db, statements).filter((s) => s.sql.includes("FROM entries "));
        expect(plans.length).toBeGreaterThan(0);
        for (const step of plans) {
          expect(step.detail).not.toMatch(/TEMP B-TREE/);
          // By name with a text: the name index alone (covering), then one row per match by its key.
          if (/USING PRIMARY KEY \(id=\?\)/.test(step.detail)) continue;
          expect(step.detail).toMatch(order === "recent" ? /entries_change_seq/ : /COVERING INDEX entries_name|INDEX entries_name/);
        }
      }
    }
  });
});
