/**
 * Compatibility with what an earlier syncd left on disk: the fixtures of fixtures/ were written by syncd
 * 0.1.0 as of commit b89bae5 (fixtures/generate.mjs), before the local publish journal (library migration
 * 3) and the share's commit log existed. Users upgrade one machine at a time: the current code must read
 * that share, migrate that library, push its pending changes, and leave a share the old rows still fit.
 */
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const FIXTURES = fileURLToPath(new URL("../../fixtures/", import.meta.url));

interface Listed {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: Record<string, unknown>;
  deleted: boolean;
  syncStatus: string;
}
interface Expected {
  ids: Record<"report" | "notes" | "photo" | "draft", string>;
  synced: { laptop: Listed[]; desk: Listed[] };
  pending: { laptop: Listed[] };
}
const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as Expected;

/** What must match across instances: the entry, not this instance's sync bookkeeping. */
const entry = ({ id, name, hash, size, meta, deleted }: Listed) => ({ id, name, hash, size, meta, deleted });
const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

describe("data written by syncd 0.1.0 (fixtures/)", () => {
  let dav: DavServer;
  beforeAll(async () => {
    dav = await startDavServer();
  });
  afterAll(async () => {
    await dav?.close();
  });

  /** A copy of the fixture share under a root of its own, so that tests do not see each other's writes. */
  function shareCopy(root: string): Record<string, unknown> {
    cpSync(join(FIXTURES, "share-v1"), join(dav.dir, root), { recursive: true });
    return { url: dav.url, root: `/${root}` };
  }

  it("a fresh instance reads the old share: every live entry, its metadata and its bytes", async () => {
    const fresh = makeInstance("fresh", shareCopy("read"));
    await fresh.ok("sync");
    const listed = await fresh.json<Listed[]>("ls");
    expect(listed.map(entry).sort(byId)).toEqual(expected.synced.desk.map(entry).sort(byId));
    const out = join(fresh.dir, "report.pdf");
    await fresh.ok("get", expected.ids.report, "--out", out);
    expect(readFileSync(out).length).toBe(40_000);
    expect(listed.some((e) => e.id === expected.ids.photo)).toBe(false); // deleted on "desk" before the upgrade
  });

  it("the old library is migrated, keeps its two unsynced changes and pushes them to the old share", async () => {
    const webdav = shareCopy("upgrade");
    const laptop = makeInstance("laptop", webdav);
    cpSync(join(FIXTURES, "library-v1"), join(laptop.dir, "data"), { recursive: true });

    const before = await laptop.json<{ unsynced: number; localVersion: number }>("status");
    expect(before.unsynced).toBe(2);
    const db = new Database(join(laptop.dir, "data", "library.db"), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(3); // the publish journal's migration ran
    db.close();
    expect((await laptop.json<Listed[]>("ls")).map(entry).sort(byId)).toEqual(expected.pending.laptop.map(entry).sort(byId));

    await laptop.ok("sync");
    expect((await laptop.json<{ unsynced: number }>("status")).unsynced).toBe(0);

    // Another instance on the current code sees the pushed changes next to what the old share held.
    const desk = makeInstance("desk2", webdav);
    await desk.ok("sync");
    const listed = (await desk.json<Listed[]>("ls")).sort(byId);
    expect(listed.map(entry)).toEqual(expected.pending.laptop.map(entry).sort(byId));
    expect(listed.find((e) => e.id === expected.ids.report)?.meta).toEqual({ tags: ["ml", "draft"], year: 2021 });
    expect(listed.find((e) => e.id === expected.ids.draft)?.name).toBe("draft.md");

    // The first publish upgraded the share to format 2 (docs/share-format.md): the whole snapshot, with
    // schema 2 (which syncd 0.1 refuses: format-refusal.test.ts), every row of the old share and the commit log.
    const share = new Database(join(dav.dir, "upgrade", "metadata.db"), { readonly: true });
    expect(share.pragma("user_version", { simple: true })).toBe(2);
    expect(share.prepare("SELECT count(*) AS n FROM commits").get()).toEqual({ n: 1 });
    const oldShare = new Database(join(FIXTURES, "share-v1", "metadata.db"), { readonly: true });
    const ids = (db: Database.Database) => db.prepare("SELECT id FROM entries ORDER BY id").pluck().all();
    expect(ids(share)).toEqual(expect.arrayContaining(ids(oldShare)));
    oldShare.close();
    share.close();
    const version = readFileSync(join(dav.dir, "upgrade", "version.txt"), "utf8");
    expect(version).toMatch(/^format=2$/m);
    // And the next commit is a journal segment, not the whole snapshot again.
    const snapshot = sha256(readFileSync(join(dav.dir, "upgrade", "metadata.db")));
    writeFileSync(join(desk.dir, "after.txt"), "after the upgrade");
    await desk.ok("add", join(desk.dir, "after.txt"));
    await desk.ok("sync");
    expect(readdirSync(join(dav.dir, "upgrade", "journal"))).toHaveLength(1);
    expect(sha256(readFileSync(join(dav.dir, "upgrade", "metadata.db")))).toBe(snapshot);
    await laptop.ok("sync");
    expect((await laptop.json<Listed[]>("ls")).map((e) => e.name)).toContain("after.txt");
  });
});
