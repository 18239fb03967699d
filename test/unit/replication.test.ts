/**
 * The journal's building blocks: what a commit captures (replication.ts), its segment file (segment.ts),
 * and that applying the segment to another copy gives the same rows, including what no call site journals
 * by hand (purged tombstones, trimmed time marks, wanted-data reports, garbage).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { EntryState } from "../../src/model/entry.js";
import type { RowChange } from "../../src/share/replication.js";
import { readSegmentFile, SEGMENT_KIND, writeSegmentFile } from "../../src/share/segment.js";
import { SharedDb } from "../../src/share/shared-db.js";
import { formatHlc } from "../../src/sync/hlc.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "syncd-replication-"));
  dirs.push(d);
  return d;
}

const me = { id: "inst-a", name: "a" };
const hashOf = (n: number) => n.toString(16).padStart(64, "0");
function state(n: number, wall: number, deleted = false): EntryState {
  return { name: `e${n}`, hash: hashOf(n % 7), size: n, meta: { n }, deleted, version: wall, hlc: formatHlc({ wall, counter: 0, node: "inst-a" }), origin: "inst-a" };
}

function rows(db: SharedDb): unknown {
  return { entries: db.changedSince(-1).sort((x, y) => x.id.localeCompare(y.id)), live: db.liveCount(), commits: db.commitsAfter(null), wanted: db.wantedData() };
}

/** Publishes db's pending changes as a segment file and applies it to `replica`. */
async function ship(dir: string, db: SharedDb, replica: SharedDb, share: string): Promise<void> {
  const file = join(dir, `seg-${db.version}`);
  const ref = { version: db.version, sha256: "", bytes: 0 };
  const written = await writeSegmentFile(file, { kind: SEGMENT_KIND, format: 2, share, version: db.version, parent: "0".repeat(64), back: [] }, db.pendingChanges());
  db.commitPending();
  db.beginPending();
  Object.assign(ref, written);
  await replica.applySegment(ref.version, ref.sha256, file, async (apply) => {
    const batch: RowChange[] = [];
    await readSegmentFile(file, ref, share, file, (c) => batch.push(c));
    apply(batch);
  });
}

describe("a commit's segment", () => {
  it("applied to another copy gives the same rows, whatever the commits did (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ n: fc.integer({ min: 0, max: 30 }), del: fc.boolean() }), { maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (commits, purge) => {
          const dir = tmp();
          const writer = SharedDb.create(join(dir, "w.db"), "share-1");
          const reader = SharedDb.create(join(dir, "r.db"), "share-1");
          try {
            writer.beginPending();
            let wall = 1_000;
            for (const edits of commits) {
              wall += 1_000;
              const changed = new Map(edits.map((e) => [`id-${e.n}`, state(e.n, wall, e.del)]));
              if (purge) writer.purgeTombstones({ cutoffStamp: formatHlc({ wall, counter: 0, node: "0" }), through: writer.version }, wall);
              if (edits.length % 3 === 1) writer.addWanted(hashOf(edits.length), "inst-a", "missing", wall);
              if (edits.length % 3 === 2) writer.settleWanted(hashOf(edits.length - 1));
              writer.commit([...changed].map(([id, s]) => ({ id, state: s })), me, `commit-${wall}`, wall, { now: wall, markEveryMs: 1500 });
              await ship(dir, writer, reader, "share-1");
              expect(rows(reader)).toEqual(rows(writer));
              expect(reader.version).toBe(writer.version);
            }
          } finally {
            writer.close();
            reader.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("keeps the live count without counting the table", () => {
    const dir = tmp();
    const db = SharedDb.create(join(dir, "s.db"), "share-1");
    db.commit([0, 1, 2].map((n) => ({ id: `id-${n}`, state: state(n, 2000) })), me, "c1");
    expect(db.liveCount()).toBe(3);
    db.commit([{ id: "id-1", state: state(1, 3000, true) }], me, "c2");
    expect(db.liveCount()).toBe(2);
    db.purgeTombstones({ cutoffStamp: formatHlc({ wall: 10_000, counter: 0, node: "0" }), through: db.version }, 10_000);
    expect(db.liveCount()).toBe(2);
    expect(db.dataFileCount()).toBe(2);
    db.close();
  });

  it("notes content that nothing references any more, and forgets it when something does again", () => {
    const dir = tmp();
    const db = SharedDb.create(join(dir, "s.db"), "share-1");
    const a = { ...state(1, 2000), hash: hashOf(100) };
    db.commit([{ id: "x", state: a }], me, "c1", 2000, { now: 2000, markEveryMs: 1000 });
    db.commit([{ id: "x", state: { ...a, hash: hashOf(200), version: 2 } }], me, "c2", 3000, { now: 3000, markEveryMs: 1000 });
    expect(db.garbageDue(3000, 10)).toEqual([hashOf(100)]);
    expect(db.garbageDue(2999, 10)).toEqual([]);
    db.commit([{ id: "y", state: { ...a, name: "again" } }], me, "c3", 4000, { now: 4000, markEveryMs: 1000 });
    expect(db.garbageDue(10_000, 10)).toEqual([]);
    db.close();
  });
});

describe("a segment from the share is hostile until checked", () => {
  async function applyRaw(lines: unknown[]): Promise<unknown> {
    const dir = tmp();
    const file = join(dir, "seg");
    const header = { kind: SEGMENT_KIND, format: 2, share: "share-1", version: 1, parent: "0".repeat(64), back: [] };
    writeFileSync(file, gzipSync(Buffer.from([header, ...lines].map((l) => JSON.stringify(l)).join("\n"))));
    const db = SharedDb.create(join(dir, "s.db"), "share-1");
    try {
      await db.applySegment(1, "f".repeat(64), file, async (apply) => {
        const batch: RowChange[] = [];
        await readSegmentFile(file, { version: 1, sha256: "", bytes: 0 }, "share-1", file, (c) => batch.push(c));
        apply(batch);
      });
      return { version: db.version, entries: db.changedSince(-1).length };
    } catch (err) {
      return err;
    } finally {
      db.close();
    }
  }

  it("refuses a table it does not know, a row filed under another key, and values that are not plain", async () => {
    expect(await applyRaw([{ t: "sqlite_master", k: "x", row: null }])).toMatchObject({ code: "journal-damaged" });
    const row = { id: "a", name: "n", hash: hashOf(1), size: 1, meta: "{}", version: 1, deleted: 0, hlc: state(1, 2000).hlc, origin: "o", rev: 1 };
    expect(await applyRaw([{ t: "entries", k: "b", row }])).toMatchObject({ code: "journal-damaged" });
    expect(await applyRaw([{ t: "entries", k: "a", row: { ...row, meta: { nested: true } } }])).toMatchObject({ code: "journal-damaged" });
    expect(await applyRaw([{ t: "entries", k: "a", row }])).toEqual({ version: 1, entries: 1 });
  });

  it("applies nothing of a segment that fails halfway", async () => {
    const row = { id: "a", name: "n", hash: hashOf(1), size: 1, meta: "{}", version: 1, deleted: 0, hlc: state(1, 2000).hlc, origin: "o", rev: 1 };
    const dir = tmp();
    const file = join(dir, "seg");
    const header = { kind: SEGMENT_KIND, format: 2, share: "share-1", version: 1, parent: "0".repeat(64), back: [] };
    writeFileSync(file, gzipSync(Buffer.from([header, { t: "entries", k: "a", row }, { t: "nope", k: 1, row: null }].map((l) => JSON.stringify(l)).join("\n"))));
    const db = SharedDb.create(join(dir, "s.db"), "share-1");
    await expect(
      db.applySegment(1, "f".repeat(64), file, async (apply) => {
        await readSegmentFile(file, { version: 1, sha256: "", bytes: 0 }, "share-1", file, (c) => apply([c]));
      }),
    ).rejects.toMatchObject({ code: "journal-damaged" });
    expect(db.version).toBe(0);
    expect(db.changedSince(-1)).toEqual([]);
    db.close();
  });

  it("refuses a segment of another share or version, and one that is not gzip", async () => {
    const dir = tmp();
    const file = join(dir, "seg");
    const header = { kind: SEGMENT_KIND, format: 2, share: "share-1", version: 1, parent: "0".repeat(64), back: [] };
    writeFileSync(file, gzipSync(Buffer.from(JSON.stringify(header))));
    await expect(readSegmentFile(file, { version: 1, sha256: "", bytes: 0 }, "share-2", file)).rejects.toMatchObject({ code: "journal-damaged" });
    await expect(readSegmentFile(file, { version: 2, sha256: "", bytes: 0 }, "share-1", file)).rejects.toMatchObject({ code: "journal-damaged" });
    writeFileSync(file, "plain text");
    await expect(readSegmentFile(file, { version: 1, sha256: "", bytes: 0 }, "share-1", file)).rejects.toMatchObject({ code: "journal-damaged" });
  });
});
