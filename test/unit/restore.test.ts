/** Library.restore: the way back from a deletion, through the one write path (store/library.ts). */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EntryNotFoundError, SyncdError } from "../../src/errors.js";
import { type Library, openLibrary } from "../../src/store/library.js";

const sha = (data: string) => createHash("sha256").update(data).digest("hex");
let dir: string;
let library: Library;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "syncd-restore-"));
  library = await openLibrary(join(dir, "data"), { instanceName: "test" });
});
afterEach(() => {
  library.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Library.restore", () => {
  it("brings the last name, content and metadata back as a new pending change", async () => {
    const added = await library.add({ source: Buffer.from("kept bytes"), name: "a/b.txt", meta: { year: 2020 } });
    await library.add({ source: Buffer.from("kept bytes"), name: "twin" }); // keeps the bytes in the store
    library.db.prepare("UPDATE entries SET sync_status = 'synced'").run();
    const deleted = library.remove(added.id);
    const [restored] = await library.restore([added.id]);
    expect(restored).toMatchObject({ id: added.id, name: "a/b.txt", meta: { year: 2020 }, hash: sha("kept bytes"), size: 10, deleted: false, syncStatus: "pending" });
    expect(restored?.version).toBe(deleted.version + 1);
    expect((restored?.hlc ?? "") > deleted.hlc).toBe(true);
  });

  it("fetches released content from the given source, verified, and refuses bytes that do not match", async () => {
    const added = await library.add({ source: Buffer.from("released"), name: "x" });
    library.remove(added.id);
    expect(library.blobs.has(added.hash)).toBe(false);
    const wrong = await library.restore([added.id], { fetch: async () => Readable.from([Buffer.from("RELEASED")]) }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(SyncdError);
    expect((wrong as SyncdError).code).toBe("content-unavailable");
    expect((wrong as SyncdError).message).toMatch(/damaged/);
    expect(library.require(added.id).deleted).toBe(true);
    const [restored] = await library.restore([added.id], { fetch: async () => Readable.from([Buffer.from("released")]) });
    expect(restored?.deleted).toBe(false);
    expect(library.blobs.has(added.hash)).toBe(true);
  });

  it("is all or nothing, and leaves an entry that is not deleted as it is", async () => {
    const live = await library.add({ source: Buffer.from("live"), name: "live" });
    const gone = await library.add({ source: Buffer.from("gone"), name: "gone" });
    const fine = await library.add({ source: Buffer.from("fine"), name: "fine" });
    await library.add({ source: Buffer.from("fine"), name: "fine twin" });
    library.remove(gone.id);
    library.remove(fine.id);
    await expect(library.restore([fine.id, "01NOSUCHENTRY0000000000000"])).rejects.toBeInstanceOf(EntryNotFoundError);
    const unavailable = await library.restore([fine.id, gone.id], { fetch: async () => null }).catch((e: unknown) => e);
    expect((unavailable as SyncdError).code).toBe("content-unavailable");
    expect((unavailable as SyncdError).message).toContain(gone.id);
    expect(library.require(fine.id).deleted).toBe(true);
    const [same] = await library.restore([live.id]);
    expect(same).toEqual(library.require(live.id));
    expect(same?.version).toBe(1);
  });
});
