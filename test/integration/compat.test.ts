/**
 * Compatibility with what an earlier syncd left on disk: the fixtures of fixtures/ were written by syncd
 * 0.1.0 as of commit b89bae5 (fixtures/generate.mjs), before the local publish journal (library migration
 * 3) and the share's commit log existed. Users upgrade one machine at a time: the current code must read
 * that share, migrate that library, push its pending changes, and leave a share the old rows still fit.
 */
import Database from "better-sqlite3";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

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

    // The share gained the commit log and kept its schema version: an old reader still opens it.
    const share = new Database(join(dav.dir, "upgrade", "metadata.db"), { readonly: true });
    expect(share.pragma("user_version", { simple: true })).toBe(1);
    expect(share.prepare("SELECT count(*) AS n FROM commits").get()).toEqual({ n: 1 });
    share.close();
  });
});
