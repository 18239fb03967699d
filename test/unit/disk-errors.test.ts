/**
 * A bad day on the local disk (issue 11) at the boundary where it is reported: errors of a read-only data
 * directory or a full disk become one sentence that says which (store/disk-errors.ts), a library opened for
 * reading only refuses every write with it, and a write that fails part-way keeps nothing it wrote. The
 * real read-only mount and full disk are in test/integration/bad-disk.test.ts.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SyncdError } from "../../src/errors.js";
import { openLocalDb } from "../../src/store/db.js";
import { DiskError, localDiskError } from "../../src/store/disk-errors.js";
import { Library, openLibrary } from "../../src/store/library.js";

const opened: Library[] = [];
afterEach(() => {
  for (const l of opened.splice(0)) l.close();
});

function fsError(code: string, message: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${message}, open '${path}'`), { code, errno: -1, syscall: "open", path });
}

function sqliteError(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: "SqliteError", code });
}

function blobsIn(dataDir: string): string[] {
  return readdirSync(join(dataDir, "blobs"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe("localDiskError", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "syncd-disk-"));

  it.each([
    [fsError("ENOSPC", "no space left on device", join(dataDir, "tmp", "blob-1.tmp")), "disk-full", `The disk holding the data directory ${dataDir} is full: free some space and try again (ENOSPC: no space left on device).`],
    [fsError("EDQUOT", "disk quota exceeded", join(dataDir, "library.db")), "disk-full", `The disk holding the data directory ${dataDir} is full: free some space and try again (EDQUOT: disk quota exceeded).`],
    [sqliteError("SQLITE_FULL", "database or disk is full"), "disk-full", `The disk holding the data directory ${dataDir} is full: free some space and try again (SQLITE_FULL: database or disk is full).`],
    [
      fsError("EROFS", "read-only file system", join(dataDir, "sync.lock")),
      "disk-read-only",
      `The data directory ${dataDir} is read-only: this needs to write to it (EROFS: read-only file system); commands that only read, such as ls, get and status, still work.`,
    ],
    [
      fsError("EACCES", "permission denied", join(dataDir, "sync.lock")),
      "disk-not-writable",
      `The data directory ${dataDir} is not writable by this user: this needs to write to it (EACCES: permission denied); check its owner and permissions (commands that only read, such as ls, get and status, still work).`,
    ],
    [sqliteError("SQLITE_READONLY", "attempt to write a readonly database"), "disk-read-only", `The data directory ${dataDir} is read-only: this needs to write to it (SQLITE_READONLY: attempt to write a readonly database); commands that only read, such as ls, get and status, still work.`],
  ])("%s", (err, code, message) => {
    const mapped = localDiskError(err, dataDir);
    expect(mapped).toBeInstanceOf(DiskError);
    expect(mapped).toBeInstanceOf(SyncdError);
    expect(mapped?.code).toBe(code);
    expect(mapped?.exitCode).toBe(1);
    expect(mapped?.message).toBe(message);
    expect(mapped?.cause).toBe(err);
  });

  it("names the file when it is outside the data directory (syncd get --out on a full disk)", () => {
    const err = fsError("ENOSPC", "no space left on device", "/mnt/usb/out.pdf");
    expect(localDiskError(err, dataDir)?.message).toBe("The disk holding /mnt/usb/out.pdf is full: free some space and try again (ENOSPC: no space left on device).");
  });

  it("says that a data directory which is not there cannot be created, not that reading still works", () => {
    const missing = join(dataDir, "not-yet", "data");
    const err = Object.assign(fsError("EACCES", "permission denied", missing), { syscall: "mkdir" });
    const mapped = localDiskError(err, missing);
    expect(mapped?.code).toBe("disk-not-writable");
    expect(mapped?.message).toBe(
      `The data directory ${missing} does not exist and this user cannot create it (EACCES: permission denied): create it, owned by this user, or set another dataDir in the config.`,
    );
  });

  it("leaves alone what is not a disk problem, and what already is a sentence", () => {
    expect(localDiskError(new Error("boom"), dataDir)).toBeNull();
    expect(localDiskError(fsError("ENOENT", "no such file or directory", join(dataDir, "x")), dataDir)).toBeNull();
    expect(localDiskError(new SyncdError("disk-full", "Local disk is full."), dataDir)).toBeNull();
    // "unable to open database file" in a directory that is writable and has room: nothing to add to it.
    expect(localDiskError(sqliteError("SQLITE_CANTOPEN", "unable to open database file"), dataDir)).toBeNull();
  });
});

describe("a library that cannot be written", () => {
  it("opened for reading only (the disk is full): reads work, every write fails with the sentence, before touching anything", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "syncd-disk-")), "data");
    const writer = await openLibrary(dataDir, { instanceName: "t" });
    const entry = await writer.add({ source: Buffer.from("kept"), name: "a.txt" });
    writer.close();

    const db = openLocalDb(join(dataDir, "library.db"));
    db.pragma("query_only = ON");
    const library = new Library(db, dataDir, { instanceName: "t" }, { readOnly: "full" });
    opened.push(library);
    expect(library.list().map((e) => e.id)).toEqual([entry.id]);
    expect(library.get(entry.id)?.name).toBe("a.txt");
    const sentence = `The disk holding the data directory ${dataDir} is full: free some space and try again.`;
    const file = join(dataDir, "..", "new.txt");
    writeFileSync(file, "new");
    await expect(library.add({ source: file, name: "new.txt" })).rejects.toThrow(sentence);
    await expect(library.importDir(join(dataDir, ".."))).rejects.toThrow(sentence);
    await expect(library.updateContent(entry.id, file)).rejects.toThrow(sentence);
    expect(() => library.updateMeta(entry.id, { set: { k: 1 } })).toThrow(sentence);
    expect(() => library.rename(entry.id, "b.txt")).toThrow(sentence);
    expect(() => library.remove(entry.id)).toThrow(sentence);
    expect(() => library.setState("x", "y")).toThrow(sentence);
    expect(blobsIn(dataDir)).toHaveLength(1);
    expect(readdirSync(join(dataDir, "tmp"))).toEqual([]);
  });

  it("a write whose commit fails keeps none of the content it stored (a full disk must not get fuller)", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "syncd-disk-")), "data");
    const library = await openLibrary(dataDir, { instanceName: "t" });
    opened.push(library);
    const first = await library.add({ source: Buffer.from("first"), name: "first.txt" });
    for (const n of ["a", "b", "c", "first"]) writeFileSync(join(dataDir, "..", `${n}.txt`), n === "first" ? "first" : `content ${n}`);
    // The commit fails, as SQLite fails it on a full disk, after the content reached the store.
    library.db.exec(`CREATE TEMP TRIGGER full BEFORE INSERT ON main.entries BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    await expect(library.add({ source: Buffer.from("second"), name: "second.txt" })).rejects.toThrow(/disk is full/);
    await expect(library.importDir(join(dataDir, ".."))).rejects.toThrow(/disk is full/);
    library.db.exec("DROP TRIGGER temp.full");
    expect(library.list().map((e) => e.id)).toEqual([first.id]);
    // Only the first entry's content is left: content shared with a live entry ("first") is kept, of course.
    expect(blobsIn(dataDir)).toEqual([first.hash]);
    expect(readdirSync(join(dataDir, "tmp"))).toEqual([]);
  });
});
