/**
 * A bounded look into the library for people (the dashboard, `GET /api/v1/files?q=…`): entries whose name
 * contains some text, live or deleted, by name or most recently changed first, never more than a page.
 * A library may hold a million entries; nothing here reads them all into memory:
 * - `order: "recent"` walks the change-sequence index (migrations.ts v2) newest first and stops after
 *   `limit` matches; `order: "name"` walks the name index the same way;
 * - a name filter is a LIKE on that walk: it stops as soon as the page is full, so a common word costs a
 *   page, and only a search that matches few entries reads the index to its end (one pass, no sort);
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
  if (q !== "") {
    where.push("name LIKE ? ESCAPE '\\'");
    params.push(`%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  // The ORDER BY names an indexed column alone, so that SQLite walks that index and stops at LIMIT.
  const order = search.order === "recent" ? "change_seq DESC" : "name, id";
  const sql = `SELECT * FROM entries ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order} LIMIT ?`;
  const rows = db.prepare(sql).all(...params, limit) as EntryRow[];
  return rows.map((row) => ({ entry: rowToEntry(row), updatedAt: row.updated_at }));
}

function tombstones(db: Db): number {
  return (db.prepare("SELECT tombstones FROM entry_counts WHERE id = 1").pluck().get() as number | undefined) ?? 0;
}
