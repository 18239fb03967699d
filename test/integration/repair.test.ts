/**
 * Repair instead of failing for good (SPEC §3, last bullet): a data file missing or damaged on the share is
 * re-uploaded by the instance that holds the right bytes, the instance that found it names the entry and
 * still syncs everything else, and a row whose `size` lies is never taken for the truth by an instance that
 * holds (or fetches) the bytes. Real `syncd` processes against real servers on 127.0.0.1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { dataPath } from "../../src/share/layout.js";
import { addEntries, addEntry } from "../helpers/seed.js";
import { dataFile, deleteThroughServer, rewriteShare, sha256, shareRoot, shareRows } from "../helpers/share-files.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

interface LsEntry {
  id: string;
  name: string;
  hash: string;
  size: number;
  deleted: boolean;
  syncStatus: string;
}

/**
 * One server for a describe block's tests, each test in a share root of its own on it (nothing else is
 * shared): sets `share`, `rootPath`, `root` (its folder on disk) and `webdav` (the instances' config).
 */
function sharePerFile(kind: ShareKind) {
  const ctx = { share: undefined as unknown as TestShare, rootPath: "", root: "", webdav: {} as Record<string, unknown> };
  let roots = 0;
  beforeAll(async () => {
    ctx.share = await kind.start();
  });
  afterAll(async () => {
    await ctx.share?.close();
  });
  beforeEach(() => {
    ctx.rootPath = `/syncd-${++roots}`;
    ctx.root = shareRoot(ctx.share.dir, ctx.rootPath);
    ctx.webdav = webdavConfig(ctx.share, ctx.rootPath);
  });
  return ctx;
}

describe.each(shareMatrix())("a data file lost or damaged on $name", (kind: ShareKind) => {
  const ctx = sharePerFile(kind);

  /** A holds two entries on the share; returns their ids and the lost one's hash. */
  async function twoEntries(holder: TestInstance): Promise<{ lost: string; kept: string; hash: string }> {
    const [lost, kept] = await addEntries(holder, [
      ["papers/x.txt", "the bytes that go missing"],
      ["y.txt", "bytes that stay"],
    ]);
    await holder.ok("sync");
    return { lost: lost!, kept: kept!, hash: sha256("the bytes that go missing") };
  }

  for (const damage of ["missing", "damaged"] as const) {
    it(`${damage}: the new instance names the entry and syncs the rest; the holder re-uploads; the next run completes`, async () => {
      const { share, rootPath, root, webdav } = ctx;
      const a = makeInstance("alpha", webdav);
      const c = makeInstance("charlie", webdav);
      const { lost, kept, hash } = await twoEntries(a);
      if (damage === "missing") await deleteThroughServer(share, dataPath(hash), rootPath);
      else writeFileSync(dataFile(root, hash), "THE BYTES THAT GO MISSING"); // same size, other bytes

      const first = await c.run("sync");
      expect(first.code).toBe(1);
      // The entry by name and id, not only a hash; one sentence.
      const error = first.stderr.trim().split("\n").pop() as string; // after the progress lines
      expect(error).toMatch(/^syncd: [A-Z].*\.$/);
      expect(error).toContain('"papers/x.txt"');
      expect(error).toContain(lost);
      // Everything else synced.
      expect(await c.ok("get", kept)).toBe("bytes that stay");
      expect((await c.json<LsEntry[]>("ls")).map((e) => e.id)).toEqual([kept]);

      // The holder sees the report on its next sync and uploads the verified bytes again.
      await a.ok("sync");
      expect(sha256(readFileSync(dataFile(root, hash)))).toBe(hash);

      // The instance that could not download retries on its own next run, and now gets it.
      await c.ok("sync");
      expect(await c.ok("get", lost)).toBe("the bytes that go missing");
      const status = await c.json<{ unsynced: number; syncNeeded: boolean; lastError: string | null }>("status");
      expect(status).toMatchObject({ unsynced: 0, syncNeeded: false, lastError: null });
      // The report was taken off the share once settled: a third instance meets a clean share.
      expect(await a.json<{ ok: boolean }>("check")).toMatchObject({ ok: true });
    });
  }
});

describe("a row whose size lies", () => {
  const ctx = sharePerFile(shareMatrix()[0] as ShareKind);

  /** Another writer publishes the entry's row with a wrong size (hash and everything else unchanged). */
  function lieAboutSize(id: string, size: number): void {
    rewriteShare(ctx.root, (db, version) => db.prepare("UPDATE entries SET size = ?, rev = ? WHERE id = ?").run(size, version, id));
  }

  it("is refused by an instance that holds the bytes, which publishes the true size", async () => {
    const { root, webdav } = ctx;
    const a = makeInstance("alpha", webdav);
    const b = makeInstance("bravo", webdav);
    const id = await addEntry(a, "x.txt", "ten bytes!");
    await a.ok("sync");
    await b.ok("sync");
    lieAboutSize(id, 999);

    await b.ok("sync");
    const entry = (await b.json<LsEntry[]>("ls")).find((e) => e.id === id);
    expect(entry?.size).toBe(10);
    expect(shareRows(root).find((r) => r.id === id)?.size).toBe(10);
    await a.ok("sync");
    expect((await a.json<LsEntry[]>("ls")).find((e) => e.id === id)?.size).toBe(10);
  });

  it("does not stop an instance that must download the bytes: it fetches them, keeps the true size and corrects the row", async () => {
    const { root, webdav } = ctx;
    const a = makeInstance("alpha", webdav);
    const c = makeInstance("charlie", webdav);
    const id = await addEntry(a, "x.txt", "ten bytes!");
    await a.ok("sync");
    lieAboutSize(id, 4); // smaller than the file: the download must not stop at 4 bytes and call it damaged

    await c.ok("sync");
    expect(await c.ok("get", id)).toBe("ten bytes!");
    expect((await c.json<LsEntry[]>("ls")).find((e) => e.id === id)?.size).toBe(10);
    expect(shareRows(root).find((r) => r.id === id)?.size).toBe(10);
  });
});
