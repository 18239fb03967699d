/**
 * A bounded look into the library for people (the dashboard, `GET /api/v1/files?q=…`): entries whose name
 * contains some text, live or deleted, by name or most recently changed first, never more than a page.
 * A library may hold a million entries; nothing here reads them all into memory:
 * - `order: "recent"` walks the change-sequence index (migrations.ts v2) newest first and stops after
 *   `limit` matches; `order: "name"` walks the name index the same way;
 * - a name filter by name (byName) walks the name index alone, which holds the names, and reads only the
 *   matching rows; it stops as soon as the page is full, so a common word costs a page, and a rare one one
 *   pass over the index. Measured on 1M entries (2 loaded cores): 1 ms for a common word, 0.15–0.35 s for
 *   a text nothing matches (8 s before, when every row was read to test its name);
 * - a name filter most recently changed first walks the change-sequence index and reads each row to test
 *   its name: a page for a common word, but 1.6–2 s for a rare one on 1M entries. The dashboard therefore
 *   lists search results by name;
 * - deleted entries only: when the library holds no tombstone (kept by triggers, v5) nothing is read.
 */
import type { Entry } from "../model/entry.js";
import type { Db } from "./db.js";
import { rowToEntry, type EntryRow } from "./entry-row.js";

export type DeletedFilter = "exclude" | "include" | "only";
export type SearchOrder = "name" | "recent";

export interface EntrySearch {
  /** Text the name contains, case-insensitive for ASCII letters; empty or absent: any name. */
  q?: string;
  deleted?: DeletedFilter;
  order?: SearchOrder;
  limit: number;
}

export interface FoundEntry {
  entry: Entry;
  /** When the entry last changed here (a local write or a change synced in), epoch ms. */
  updatedAt: number;
}

export const MAX_SEARCH_LIMIT = 500;

export function searchEntries(db: Db, search: EntrySearch): FoundEntry[] {
  const limit = Math.max(1, Math.min(MAX_SEARCH_LIMIT, Math.floor(search.limit)));
  const deleted = search.deleted ?? "exclude";
  if (deleted === "only" && tombstones(db) === 0) return [];
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (deleted === "exclude") where.push("deleted = 0");
  else if (deleted === "only") where.push("deleted <> 0");
  const q = search.q?.trim() ?? "";
  const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  if (q !== "" && search.order !== "recent") return byName(db, like, deleted, limit);
  if (q !== "") {
    where.push("name LIKE ? ESCAPE '\\'");
    params.push(like);
  }
  // The ORDER BY names an indexed column alone, so that SQLite walks that index and stops at LIMIT.
  const order = search.order === "recent" ? "change_seq DESC" : "name, id";
  const sql = `SELECT * FROM entries ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order} LIMIT ?`;
  const rows = db.prepare(sql).all(...params, limit) as EntryRow[];
  return rows.map((row) => ({ entry: rowToEntry(row), updatedAt: row.updated_at }));
}

/** Index entries read per step of byName. */
const NAME_STEP = 512;

/**
 * Names containing the text, by name: the name index alone is walked (it holds name and id, so the names
 * are tested without reading a row), in steps from where the last one ended, and only a matching entry's
 * row is read (to keep the live or deleted ones asked for). A text that matches few names costs one pass
 * over the index, not a lookup per entry.
 */
function byName(db: Db, like: string, deleted: DeletedFilter, limit: number): FoundEntry[] {
  const step = db.prepare("SELECT name, id FROM entries WHERE name LIKE ? ESCAPE '\\' AND (name, id) > (?, ?) ORDER BY name, id LIMIT ?");
  const row = db.prepare("SELECT * FROM entries WHERE id = ?");
  return db.transaction(() => {
    const out: FoundEntry[] = [];
    let after: [string, string] = ["", ""];
    while (out.length < limit) {
      const keys = step.all(like, after[0], after[1], NAME_STEP) as Array<{ name: string; id: string }>;
      for (const k of keys) {
        const r = row.get(k.id) as EntryRow | undefined;
        if (!r || (deleted === "exclude" && r.deleted !== 0) || (deleted === "only" && r.deleted === 0)) continue;
        out.push({ entry: rowToEntry(r), updatedAt: r.updated_at });
        if (out.length === limit) break;
      }
      if (keys.length < NAME_STEP) break;
      const last = keys[keys.length - 1] as { name: string; id: string };
      after = [last.name, last.id];
    }
    return out;
  })();
}

function tombstones(db: Db): number {
  return (db.prepare("SELECT tombstones FROM entry_counts WHERE id = 1").pluck().get() as number | undefined) ?? 0;
}
