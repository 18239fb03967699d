import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isValid as isUlid } from "ulidx";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EntryNotFoundError, InvalidNameError } from "../../src/errors.js";
import { EMPTY_HASH, type Entry, type JsonValue } from "../../src/model/entry.js";
import { type ClockWarning, parseHlc } from "../../src/sync/hlc.js";
import { EntryDeletedError, type EntryChange, type Library, openLibrary, toState } from "../../src/store/library.js";

const sha = (data: string) => createHash("sha256").update(data).digest("hex");
let dataDir: string;
const open: Library[] = [];

async function lib(now?: () => number): Promise<Library> {
  const l = await openLibrary(dataDir, { instanceName: "test", ...(now ? { now } : {}) });
  open.push(l);
  return l;
}

function setStatus(l: Library, id: string, status: string): void {
  l.db.prepare("UPDATE entries SET sync_status = ? WHERE id = ?").run(status, id);
}

function blobCount(): number {
  return readdirSync(join(dataDir, "blobs"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
}

beforeEach(() => {
  dataDir = join(mkdtempSync(join(tmpdir(), "syncd-lib-")), "data");
});
afterEach(() => {
  for (const l of open.splice(0)) l.close();
  rmSync(join(dataDir, ".."), { recursive: true, force: true });
});

describe("Library", () => {
  it("creates the data directory and a ULID instance id that survives reopening", async () => {
    const a = await lib();
    expect(isUlid(a.instanceId)).toBe(true);
    expect(a.dataDir).toBe(dataDir);
    a.close();
    const b = await lib();
    expect(b.instanceId).toBe(a.instanceId);
    expect(b.getState("instance_id")).toBe(a.instanceId);
  });

  it("adds an entry as version 1, pending, stamped by this instance, with its bytes stored", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("hello"), name: "docs/hello.txt", meta: { tags: ["a"], n: 1 } });
    expect(e).toMatchObject({ name: "docs/hello.txt", hash: sha("hello"), size: 5, version: 1, deleted: false });
    expect(e).toMatchObject({ origin: l.instanceId, syncStatus: "pending", meta: { tags: ["a"], n: 1 } });
    expect(isUlid(e.id)).toBe(true);
    expect(parseHlc(e.hlc)?.node).toBe(l.instanceId);
    expect(l.blobs.has(e.hash)).toBe(true);
    expect(l.get(e.id)).toEqual(e);
    expect(l.pendingCount()).toBe(1);
  });

  it("allows two live entries with the same name (ids are identity)", async () => {
    const l = await lib();
    const a = await l.add({ source: Buffer.from("1"), name: "same" });
    const b = await l.add({ source: Buffer.from("2"), name: "same" });
    expect(a.id).not.toBe(b.id);
    expect(l.list().map((e) => e.name)).toEqual(["same", "same"]);
  });

  it("bumps version, stamps a later HLC and marks pending on every mutation", async () => {
    const l = await lib();
    let e = await l.add({ source: Buffer.from("v1"), name: "f" });
    const steps: Array<() => Entry | Promise<Entry>> = [
      () => l.updateContent(e.id, Buffer.from("v2")),
      () => l.updateMeta(e.id, { set: { k: "v" } }),
      () => l.updateMeta(e.id, { unset: ["k"] }),
      () => l.rename(e.id, "g"),
      () => l.remove(e.id),
    ];
    for (const step of steps) {
      setStatus(l, e.id, "synced");
      const next = await step();
      expect(next.version).toBe(e.version + 1);
      expect(next.hlc > e.hlc).toBe(true);
      expect(next.origin).toBe(l.instanceId);
      expect(next.syncStatus).toBe("pending");
      expect(l.getState("hlc")).toBe(next.hlc); // the clock is persisted with the change
      e = next;
    }
    expect(e).toMatchObject({ name: "g", hash: sha("v2"), size: 2, meta: {}, deleted: true, version: 6 });
  });

  it("treats a change to the same value as no change", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("x"), name: "f", meta: { a: 1 } });
    setStatus(l, e.id, "synced");
    expect(l.rename(e.id, "f").version).toBe(1);
    expect(l.updateMeta(e.id, { set: { a: 1 }, unset: ["absent"] }).version).toBe(1);
    expect((await l.updateContent(e.id, Buffer.from("x"))).version).toBe(1);
    expect(l.pendingCount()).toBe(0);
  });

  it("updates content, name and metadata as one change, and a bad field changes nothing", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("one"), name: "f", meta: { a: 1, b: 2 } });
    let deep: JsonValue = 1;
    for (let i = 0; i < 40; i++) deep = [deep]; // deeper than metadata may nest
    const bad: EntryChange[] = [
      { source: Buffer.from("two"), name: "../evil" },
      { source: Buffer.from("two"), name: "g", meta: { set: { a: 3 }, unset: ["a"] } },
      { source: Buffer.from("two"), meta: { set: { deep } } },
    ];
    for (const change of bad) {
      await expect(l.update(e.id, change)).rejects.toMatchObject({ exitCode: 2 });
      expect(l.get(e.id)).toEqual(e);
    }
    expect(blobCount()).toBe(1); // nothing of the refused content was kept
    const after = await l.update(e.id, { source: Buffer.from("two"), name: "g", meta: { set: { a: 3 }, unset: ["b"] } });
    expect(after).toMatchObject({ version: 2, name: "g", hash: sha("two"), size: 3, meta: { a: 3 } });
    expect(blobCount()).toBe(1); // the old content went with its last entry
    expect((await l.update(e.id, { name: "g", meta: { set: { a: 3 } } })).version).toBe(2); // no change
  });

  it("rolls back the row and the clock together when a mutation fails", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("x"), name: "f" });
    const clockBefore = l.getState("hlc");
    l.db.exec(`CREATE TRIGGER boom BEFORE UPDATE ON entries WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
    expect(() => l.rename(e.id, "boom")).toThrow("boom");
    expect(l.get(e.id)).toEqual(e);
    expect(l.getState("hlc")).toBe(clockBefore);
  });

  it("keeps a held conflict held through local edits", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("x"), name: "f" });
    setStatus(l, e.id, "conflict");
    const next = l.updateMeta(e.id, { set: { a: true } });
    expect(next.syncStatus).toBe("conflict");
    expect(next.version).toBe(2);
    expect(l.pendingCount()).toBe(0);
  });

  it.each(["../x", "/etc/passwd", "a\u0000b", "a//b", "", "a/./b", "c:\\x"])("refuses the name %j", async (name) => {
    const l = await lib();
    await expect(l.add({ source: Buffer.from("x"), name })).rejects.toBeInstanceOf(InvalidNameError);
    expect(blobCount()).toBe(0); // refused before any byte was stored
    const e = await l.add({ source: Buffer.from("x"), name: "ok" });
    expect(() => l.rename(e.id, name)).toThrow(InvalidNameError);
    expect(l.require(e.id).name).toBe("ok");
  });

  it("refuses metadata that is not a JSON object", async () => {
    const l = await lib();
    for (const meta of [[], null, { d: new Date() }, { n: Number.NaN }, { u: undefined }]) {
      await expect(l.add({ source: Buffer.from("x"), name: "f", meta: meta as never })).rejects.toThrow(/^Invalid metadata/);
    }
    const e = await l.add({ source: Buffer.from("x"), name: "f" });
    expect(() => l.updateMeta(e.id, { set: { a: 1 }, unset: ["a"] })).toThrow(/both set and unset/);
  });

  it("removes as a tombstone and drops the bytes only when no live entry uses them", async () => {
    const l = await lib();
    const a = await l.add({ source: Buffer.from("shared"), name: "a" });
    const b = await l.add({ source: Buffer.from("shared"), name: "b" });
    const c = await l.add({ source: Buffer.from("own"), name: "c" });

    const tomb = l.remove(a.id);
    expect(tomb).toMatchObject({ deleted: true, version: 2, syncStatus: "pending", hash: a.hash });
    expect(l.blobs.has(a.hash)).toBe(true); // b still uses it
    l.remove(b.id);
    expect(l.blobs.has(a.hash)).toBe(false);
    expect(l.list().map((e) => e.name)).toEqual(["c"]);
    expect(l.list({ includeDeleted: true }).map((e) => e.name)).toEqual(["a", "b", "c"]);

    const updated = await l.updateContent(c.id, Buffer.from("own v2"));
    expect(l.blobs.has(c.hash)).toBe(false); // replaced content is dropped too
    expect(l.blobs.has(updated.hash)).toBe(true);
  });

  it("refuses to change a deleted entry or an unknown id", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("x"), name: "f" });
    l.remove(e.id);
    expect(() => l.rename(e.id, "g")).toThrow(EntryDeletedError);
    expect(() => l.remove(e.id)).toThrow(/is deleted and cannot be changed/);
    await expect(l.updateContent(e.id, Buffer.from("y"))).rejects.toThrow(EntryDeletedError);
    expect(() => l.updateMeta("01NOPE", { set: { a: 1 } })).toThrow(EntryNotFoundError);
    expect(() => l.require("01NOPE")).toThrow("No entry with id 01NOPE in the library.");
    expect(l.get("01NOPE")).toBeNull();
  });

  it("rewrites a blob that vanished between storing and recording it", async () => {
    const l = await lib();
    const real = l.blobs.writeBuffer.bind(l.blobs);
    let calls = 0;
    l.blobs.writeBuffer = async (buf) => {
      const info = await real(buf);
      if (++calls === 1) l.blobs.remove(info.hash); // as another process releasing it would
      return info;
    };
    const e = await l.add({ source: Buffer.from("racy"), name: "r" });
    expect(calls).toBe(2);
    expect(l.blobs.has(e.hash)).toBe(true);
  });

  it("imports a directory tree by relative names, skipping symlinks", async () => {
    const src = join(dataDir, "..", "src");
    mkdirSync(join(src, "sub", "deeper"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "A");
    writeFileSync(join(src, "sub", "b.txt"), "BB");
    writeFileSync(join(src, "sub", "deeper", "empty"), "");
    symlinkSync(join(src, "a.txt"), join(src, "link.txt"));
    symlinkSync(join(src, "sub"), join(src, "linkdir"));
    const l = await lib();
    const progress: number[] = [];
    const entries = await l.importDir(src, { onProgress: (p) => progress.push(p.done) });
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ["a.txt", 1],
      ["sub/b.txt", 2],
      ["sub/deeper/empty", 0],
    ]);
    expect(entries[2]?.hash).toBe(EMPTY_HASH);
    expect(progress).toEqual([1, 2, 3]);
    expect(l.pendingCount()).toBe(3);
  });

  it("never imports its own data directory (importing the folder that holds it)", async () => {
    const l = await lib();
    const parent = join(dataDir, "..");
    writeFileSync(join(parent, "notes.txt"), "n");
    const entries = await l.importDir(parent);
    expect(entries.map((e) => e.name)).toEqual(["notes.txt"]);
  });

  it("imports nothing when one file name is invalid", async () => {
    const src = join(dataDir, "..", "src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "good"), "g");
    writeFileSync(join(src, "bad\\name"), "b");
    const l = await lib();
    await expect(l.importDir(src)).rejects.toBeInstanceOf(InvalidNameError);
    expect(l.list()).toEqual([]);
  });

  it("counts pending entries through the partial index", async () => {
    const l = await lib();
    const plan = l.db.prepare("EXPLAIN QUERY PLAN SELECT COUNT(*) FROM entries WHERE sync_status = 'pending'").all() as Array<{
      detail: string;
    }>;
    expect(plan.map((p) => p.detail).join(" ")).toContain("entries_pending");
    const a = await l.add({ source: Buffer.from("1"), name: "a" });
    await l.add({ source: Buffer.from("2"), name: "b" });
    setStatus(l, a.id, "synced");
    expect(l.pendingCount()).toBe(1);
    expect(l.liveCount()).toBe(2);
  });

  it("restores the clock on reopen and never goes back, even when the wall clock does", async () => {
    let wall = 2_000_000_000_000;
    const a = await lib(() => wall);
    const first = await a.add({ source: Buffer.from("1"), name: "a" });
    a.close();
    wall -= 3_600_000; // an hour back, e.g. a bad NTP step
    const b = await lib(() => wall);
    expect(b.clock.current() >= first.hlc).toBe(true);
    const second = await b.add({ source: Buffer.from("2"), name: "b" });
    expect(second.hlc > first.hlc).toBe(true);
    expect(parseHlc(second.hlc)?.wall).toBe(2_000_000_000_000); // stayed at the high-water mark
  });

  it("stays monotonic across two processes sharing the data directory", async () => {
    const ahead = await lib(() => 2_000_000_000_000);
    const warnings: ClockWarning[] = [];
    const behind = await openLibrary(dataDir, { instanceName: "t", now: () => 1_000_000_000_000, onClockWarning: (w) => warnings.push(w) });
    open.push(behind);
    const x = await ahead.add({ source: Buffer.from("1"), name: "x" });
    const y = await behind.add({ source: Buffer.from("2"), name: "y" });
    expect(y.hlc > x.hlc).toBe(true); // adopted the stored stamp rather than its own, earlier wall clock
    behind.clock.receive(x.hlc); // the engine feeds remote stamps; the warning goes to the option
    expect(warnings).toHaveLength(1);
    behind.persistClock();
    expect((behind.getState("hlc") as string) >= y.hlc).toBe(true);
  });

  it("toState keeps only the synced fields", async () => {
    const l = await lib();
    const e = await l.add({ source: Buffer.from("x"), name: "f" });
    const s = toState(e);
    expect(Object.keys(s).sort()).toEqual(["deleted", "hash", "hlc", "meta", "name", "origin", "size", "version"]);
  });
});
