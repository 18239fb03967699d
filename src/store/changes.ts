/**
 * The local change sequence (migrations.ts v2): every insert or visible change of an entry gives its row
 * the next number of a per-library counter, in the writer's own transaction (triggers). "What changed
 * since N" is then one indexed range scan, tombstones included.
 */
import type { Entry } from "../model/entry.js";
import type { Db } from "./db.js";
import { type EntryRow, rowToEntry } from "./entry-row.js";

export interface ChangePage {
  /** Entries whose last change is after `since`, oldest change first; deleted ones as tombstones. */
  entries: Array<Entry & { changeSeq: number }>;
  /** Resume from here: the last returned change, or on the last page the counter. */
  next: number;
  hasMore: boolean;
}

export interface ChangeCounter {
  /** The last sequence number handed out. */
  seq: number;
  /** Highest sequence of a row deleted from the table (a purged tombstone): a cursor below it missed it. */
  floor: number;
}

export function changeCounter(db: Db): ChangeCounter {
  return db.prepare("SELECT seq, floor FROM change_counter WHERE id = 1").get() as ChangeCounter;
}

/**
 * One page of changes after `since`. Run it in the same read transaction as changeCounter() when the
 * result must agree with the counter (the route does).
 */
export function changesSince(db: Db, since: number, limit: number): ChangePage {
  const rows = db
    .prepare("SELECT * FROM entries WHERE change_seq > ? ORDER BY change_seq LIMIT ?")
    .all(since, limit + 1) as Array<EntryRow & { change_seq: number }>;
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  const last = page.length > 0 ? (page[page.length - 1] as { change_seq: number }).change_seq : since;
  // On the last page every number up to the counter is accounted for (returned, or a purged row's):
  // resuming from the counter keeps the cursor at or above the floor after a purge.
  return {
    entries: page.map((row) => ({ ...rowToEntry(row), changeSeq: row.change_seq })),
    next: hasMore ? last : Math.max(last, changeCounter(db).seq),
    hasMore,
  };
}
