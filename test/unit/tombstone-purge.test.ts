/**
 * Purging tombstones from the share's metadata.db (shared-db.ts): both clocks must agree that a tombstone is
 * older than the window, the server's time marks stay few, and the share records how far purges reached.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EntryState } from "../../src/model/entry.js";
import { cutoffStamp, purgeableThrough, tombstonePurgeable } from "../../src/sync/maintenance.js";
import { SharedDb } from "../../src/share/shared-db.js";

const DAY = 86_400_000;
const T0 = 1_780_000_000_000;
const at = (ms: number) => `${String(ms).padStart(15, "0")}.000000.A`;
const row = (id: string, over: Partial<EntryState> = {}) => ({
  id,
  state: { name: `${id}.txt`, hash: "a".repeat(64), size: 1, meta: {}, deleted: false, version: 1, hlc: at(T0), origin: "A", ...over },
});
const me = { id: "A", name: "a" };
const dbs: SharedDb[] = [];
function share(): SharedDb {
  const db = SharedDb.create(join(mkdtempSync(join(tmpdir(), "syncd-purge-")), "m.db"), "share1");
  dbs.push(db);
  return db;
}
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

describe("share tombstone purge", () => {
  it("needs both clocks: a local clock days fast alone purges nothing; the server's clock alone neither", () => {
    const db = share();
    db.commit([row("x", { deleted: true, hlc: at(T0) })], me, "c1", T0, { now: T0, markEveryMs: 3600_000 });
    const retentionMs = 90 * DAY;
    // This machine 91 days fast, the server's clock right: kept.
    expect(db.purgeTombstones({ cutoffStamp: cutoffStamp(T0 + 91 * DAY, 90), through: db.purgeableThrough(T0 + 60_000, retentionMs) })).toBe(0);
    // The server's clock says 91 days, this machine's clock says minutes: kept.
    expect(db.purgeTombstones({ cutoffStamp: cutoffStamp(T0 + 60_000, 90), through: db.purgeableThrough(T0 + 91 * DAY, retentionMs) })).toBe(0);
    expect(db.get("x")?.deleted).toBe(true);
    expect(db.purgedThrough()).toBe(0);
    // Both: purged, and the share records how far purges reached.
    expect(db.purgeTombstones({ cutoffStamp: cutoffStamp(T0 + 91 * DAY, 90), through: db.purgeableThrough(T0 + 91 * DAY, retentionMs) })).toBe(1);
    expect(db.get("x")).toBeNull();
    expect(db.purgedThrough()).toBe(1);
  });

  it("a tombstone written between two time marks waits for the next mark, not for the next commit after a long pause", () => {
    const db = share();
    const every = 3600_000;
    db.commit([row("a")], me, "c1", T0, { now: T0, markEveryMs: every });
    db.commit([row("x", { deleted: true, hlc: at(T0 + 1000) })], me, "c2", T0, { now: T0 + 1000, markEveryMs: every });
    db.commit([row("b")], me, "c3", T0, { now: T0 + 2000, markEveryMs: every }); // thins out the mark of version 2
    // Then nothing for 100 days; the next commit's purge must reach version 2 (bounded by version 3's mark).
    expect(db.purgeableThrough(T0 + 100 * DAY, 90 * DAY)).toBe(3);
    expect(db.purgeTombstones({ cutoffStamp: cutoffStamp(T0 + 100 * DAY, 90), through: db.purgeableThrough(T0 + 100 * DAY, 90 * DAY) })).toBe(1);
  });

  it("a server time with a fraction of a millisecond (the lease's monotonic reckoning) still counts", () => {
    const db = share();
    db.commit([row("x", { deleted: true })], me, "c1", T0, { now: T0 + 0.4272, markEveryMs: 1000 });
    expect(db.purgeableThrough(T0 + 91 * DAY, 90 * DAY)).toBe(1);
  });

  it("keeps about two time marks per step however many commits there are", () => {
    const db = share();
    for (let v = 1; v <= 200; v++) db.commit([row(`e${v}`)], me, `c${v}`, T0, { now: T0 + v * 60_000, markEveryMs: 3600_000 });
    const marks = (db as unknown as { db: { prepare(sql: string): { pluck(): { get(): number } } } }).db.prepare("SELECT COUNT(*) FROM version_times").pluck().get();
    // 200 minutes ≈ 3.3 hours of commits: a handful of marks, not 200.
    expect(marks).toBeLessThanOrEqual(10);
    expect(db.purgeableThrough(T0 + 200 * 60_000 + 90 * DAY, 90 * DAY)).toBe(200);
  });

  it("a share written before purges were recorded counts as purged through its version until its next commit says otherwise", () => {
    const db = share();
    db.setInfo("purged_through_rev", "not a number");
    expect(db.purgedThrough()).toBe(db.version);
  });

  it("the pure rule the model tests is the one the SQL applies", () => {
    const marks = [
      { version: 1, serverAt: T0 },
      { version: 5, serverAt: T0 + 10 * DAY },
    ];
    expect(purgeableThrough(marks, T0 + 95 * DAY, 90 * DAY)).toBe(1);
    expect(purgeableThrough(marks, T0 + 100 * DAY, 90 * DAY)).toBe(5);
    expect(tombstonePurgeable({ hlc: at(T0), rev: 1 }, cutoffStamp(T0 + 91 * DAY, 90), 1)).toBe(true);
    expect(tombstonePurgeable({ hlc: at(T0), rev: 2 }, cutoffStamp(T0 + 91 * DAY, 90), 1)).toBe(false);
  });
});
