import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listInstances } from "../../src/server/instances.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import { REPLICA_FILE } from "../../src/sync/engine.js";

describe("listInstances (GET /api/v1/instances, from the replica of the shared metadata)", () => {
  let dir: string;
  let library: Library;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "syncd-instances-"));
    library = await openLibrary(join(dir, "data"), { instanceName: "desk" });
  });
  afterEach(async () => {
    library.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A replica as the engine leaves it: the instances table and the commit log (shared-db.ts). */
  function writeReplica(rows: Array<[unknown, unknown, unknown]>, commits: Array<[string, number, string]>): Database.Database {
    const db = new Database(join(library.dataDir, REPLICA_FILE));
    db.exec("CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID");
    db.exec("CREATE TABLE commits (id TEXT PRIMARY KEY, version INTEGER NOT NULL, instance TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID");
    const ins = db.prepare("INSERT INTO instances VALUES (?, ?, ?)");
    for (const r of rows) ins.run(...r);
    const com = db.prepare("INSERT INTO commits VALUES (?, ?, ?, 0)");
    for (const [id, v, inst] of commits) com.run(id, v, inst);
    return db;
  }

  it("is this instance alone before any replica exists", () => {
    expect(listInstances(library)).toEqual([{ id: library.instanceId, name: "desk", lastSeen: null, lastVersion: null, thisMachine: true }]);
  });

  it("lists this instance first, then the others by when they were last seen, with the newest version each wrote", () => {
    const db = writeReplica(
      [
        ["laptop-id", "laptop", Date.parse("2026-11-30T10:00:00Z")],
        [library.instanceId, "desk", Date.parse("2026-11-30T09:00:00Z")],
        ["nas-id", "nas", Date.parse("2026-11-30T11:00:00Z")],
        ["bad-id", 42, "not a time"], // from another machine: a malformed row is left out
      ],
      [
        ["c1", 1, library.instanceId],
        ["c2", 2, "laptop-id"],
        ["c3", 3, "laptop-id"],
      ],
    );
    db.close();
    expect(listInstances(library)).toEqual([
      { id: library.instanceId, name: "desk", lastSeen: "2026-11-30T09:00:00.000Z", lastVersion: 1, thisMachine: true },
      { id: "nas-id", name: "nas", lastSeen: "2026-11-30T11:00:00.000Z", lastVersion: null, thisMachine: false },
      { id: "laptop-id", name: "laptop", lastSeen: "2026-11-30T10:00:00.000Z", lastVersion: 3, thisMachine: false },
    ]);
  });

  it("answers with what it read last while a run holds the replica locked", () => {
    const db = writeReplica([["laptop-id", "laptop", Date.parse("2026-11-30T10:00:00Z")]], []);
    const before = listInstances(library);
    expect(before.map((i) => i.name)).toEqual(["desk", "laptop"]);
    db.exec("BEGIN EXCLUSIVE");
    db.prepare("INSERT INTO instances VALUES ('x', 'x', 1)").run();
    expect(listInstances(library)).toEqual(before);
    db.exec("ROLLBACK");
    db.close();
  });
});
