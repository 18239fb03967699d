import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkCursor, decodeToken, encodeToken } from "../../src/server/changes-token.js";
import { changeCounter, changesSince } from "../../src/store/changes.js";
import { openLocalDb } from "../../src/store/db.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import { MIGRATIONS } from "../../src/store/migrations.js";
import { LocalSyncView } from "../../src/sync/local-sync.js";

describe("local change sequence (migration v2)", () => {
  let dir: string;
  let library: Library | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "syncd-changes-"));
  });
  afterEach(async () => {
    library?.close();
    library = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const seqOf = (lib: Library, id: string) => (lib.db.prepare("SELECT change_seq FROM entries WHERE id = ?").pluck().get(id) as number);

  it("numbers the rows of an existing v1 library 1..n, in the order they last changed", () => {
    const file = join(dir, "library.db");
    const v1 = new Database(file);
    (MIGRATIONS[0] as (db: Database.Database) => void)(v1);
    v1.pragma("user_version = 1");
    const insert = v1.prepare(`INSERT INTO entries (id, name, hash, size, meta, version, deleted, hlc, origin, sync_status, created_at, updated_at)
      VALUES (?, ?, ?, 1, '{}', 1, ?, ?, 'o', 'synced', 0, ?)`);
    insert.run("c", "c", "a".repeat(64), 0, "h1", 30);
    insert.run("a", "a", "a".repeat(64), 1, "h2", 10);
    insert.run("b", "b", "a".repeat(64), 0, "h3", 20);
    v1.close();
    const db = openLocalDb(file);
    expect(db.prepare("SELECT id, change_seq FROM entries ORDER BY change_seq").all()).toEqual([
      { id: "a", change_seq: 1 },
      { id: "b", change_seq: 2 },
      { id: "c", change_seq: 3 },
    ]);
    expect(changeCounter(db)).toEqual({ seq: 3, floor: 0 });
    const page = changesSince(db, 1, 10);
    expect(page.entries.map((e) => e.id)).toEqual(["b", "c"]);
    expect(page).toMatchObject({ next: 3, hasMore: false });
    db.close();
  });

  it("every visible change bumps it, in the writer's transaction; bookkeeping does not", async () => {
    library = await openLibrary(join(dir, "data"), { instanceName: "t" });
    const a = await library.add({ source: Buffer.from("a"), name: "a" });
    const b = await library.add({ source: Buffer.from("b"), name: "b" });
    expect([seqOf(library, a.id), seqOf(library, b.id)]).toEqual([1, 2]);
    library.updateMeta(a.id, { set: { x: 1 } });
    expect(seqOf(library, a.id)).toBe(3);
    library.updateMeta(a.id, { set: { x: 1 } }); // no-op: not a change
    library.rename(b.id, "b");
    expect(changeCounter(library.db).seq).toBe(3);
    // What a sync writes: status and base alone are not changes; a new state from the share is.
    const view = new LocalSyncView(library.db);
    const row = view.get(b.id);
    if (!row) throw new Error("missing row");
    view.markSynced(b.id, row.state, 1, row.state.hlc);
    expect(seqOf(library, b.id)).toBe(2);
    expect(view.write(b.id, { ...row.state, name: "b2", hlc: `${row.state.hlc}z`, version: 2 }, row.state, 2, row.state.hlc)).toBe(true);
    expect(seqOf(library, b.id)).toBe(4);
    library.remove(a.id);
    expect(seqOf(library, a.id)).toBe(5);
    const page = changesSince(library.db, 3, 10);
    expect(page.entries.map((e) => [e.name, e.deleted])).toEqual([
      ["b2", false],
      ["a", true],
    ]);
    // A purged tombstone raises the floor to its number.
    library.db.prepare("DELETE FROM entries WHERE id = ?").run(a.id);
    expect(changeCounter(library.db)).toEqual({ seq: 5, floor: 5 });
    expect(changesSince(library.db, 4, 10)).toMatchObject({ entries: [], next: 5, hasMore: false });
  });

  it("pages end between two changes and resume exactly", async () => {
    library = await openLibrary(join(dir, "data"), { instanceName: "t" });
    for (let i = 0; i < 7; i++) await library.add({ source: Buffer.from(`f${i}`), name: `f${i}` });
    const names: string[] = [];
    let since = 0;
    for (;;) {
      const page = changesSince(library.db, since, 3);
      names.push(...page.entries.map((e) => e.name));
      since = page.next;
      if (!page.hasMore) break;
    }
    expect(names).toEqual(["f0", "f1", "f2", "f3", "f4", "f5", "f6"]);
  });
});

describe("changes tokens", () => {
  const ctx = { instanceId: "01INSTANCE", floor: 3, latest: 10, retentionMs: 1000, now: 10_000 };

  it("round-trip, and are opaque base64url", () => {
    const token = encodeToken({ instanceId: "01INSTANCE", seq: 7, issuedAt: 9_500 });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeToken(token)).toEqual({ instanceId: "01INSTANCE", seq: 7, issuedAt: 9_500 });
    expect(() => checkCursor(decodeToken(token), ctx)).not.toThrow();
  });

  it("are 400 when malformed and 410 when they can no longer be resumed", () => {
    for (const bad of ["", "!!", "a".repeat(300), Buffer.from("1.x.y.z").toString("base64url")]) {
      expect(() => decodeToken(bad)).toThrow(expect.objectContaining({ status: 400, code: "invalid-token" }));
    }
    const expired = (cursor: Parameters<typeof checkCursor>[0]) => () => checkCursor(cursor, ctx);
    const gone = expect.objectContaining({ status: 410, code: "valid-sync-token" });
    expect(expired({ instanceId: "01OTHER", seq: 5, issuedAt: 9_500 })).toThrow(gone);
    expect(expired({ instanceId: "01INSTANCE", seq: 2, issuedAt: 9_500 })).toThrow(gone); // below the floor
    expect(expired({ instanceId: "01INSTANCE", seq: 11, issuedAt: 9_500 })).toThrow(gone); // ahead
    expect(expired({ instanceId: "01INSTANCE", seq: 5, issuedAt: 8_999 })).toThrow(gone); // older than the window
    expect(expired({ instanceId: "01INSTANCE", seq: 3, issuedAt: 9_000 })).not.toThrow();
  });
});
