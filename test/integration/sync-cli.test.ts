/**
 * End to end: three real `syncd` processes per step, one real WebDAV server (in-process webdav-server on
 * 127.0.0.1) whose request log lets us count what a sync costs.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

interface LsEntry {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: Record<string, unknown>;
  version: number;
  deleted: boolean;
  syncStatus: string;
}
interface Summary {
  skipped: boolean;
  version: number;
  uploaded: number;
  downloaded: number;
  deletedLocal: number;
  deletedRemote: number;
  metadataPushed: number;
  metadataPulled: number;
  conflicts: number;
  bytesUp: number;
  bytesDown: number;
}

const DATA_FILE = /\/syncd\/[0-9a-f]{2}\/[0-9a-f]{64}$/;

const files = mkdtempSync(join(tmpdir(), "syncd-files-"));

function file(name: string, content: string): string {
  const path = join(files, name.replace(/\//g, "_"));
  writeFileSync(path, content);
  return path;
}

/** What every instance must agree on: the library as `ls --deleted --json` shows it, minus local status. */
describe.each(shareMatrix())("three instances through one share on $name", (kind: ShareKind) => {
let server: TestShare;
let a: TestInstance;
let b: TestInstance;
let c: TestInstance;

async function library(inst: TestInstance): Promise<Array<Omit<LsEntry, "syncStatus">>> {
  const entries = await inst.json<LsEntry[]>("ls", "--deleted");
  return entries.map(({ syncStatus: _s, ...rest }) => rest).sort((x, y) => x.id.localeCompare(y.id));
}

async function syncAll(...instances: TestInstance[]): Promise<Summary[]> {
  const out: Summary[] = [];
  for (const inst of instances) out.push(await inst.json<Summary>("sync"));
  return out;
}

async function expectConverged(): Promise<Array<Omit<LsEntry, "syncStatus">>> {
  const [la, lb, lc] = await Promise.all([library(a), library(b), library(c)]);
  expect(lb).toEqual(la);
  expect(lc).toEqual(la);
  const statuses = await Promise.all([a, b, c].map((inst) => inst.json<{ unsynced: number; syncNeeded: boolean }>("status")));
  for (const status of statuses) {
    expect(status.unsynced).toBe(0);
    expect(status.syncNeeded).toBe(false);
  }
  return la as Array<Omit<LsEntry, "syncStatus">>;
}

beforeAll(async () => {
  server = await kind.start();
  const webdav = webdavConfig(server, "/syncd");
  a = makeInstance("alpha", webdav);
  b = makeInstance("bravo", webdav);
  c = makeInstance("charlie", webdav);
});

afterAll(async () => {
  await server?.close();
});

describe("the library converges", () => {
  const ids: Record<string, string> = {};

  it("adds on one instance reach the others with the same content", async () => {
    ids.paper = (await a.ok("add", file("p1", "paper one"), "--name", "papers/smith2020.pdf", "--meta", "year=2020")).trim();
    ids.notes = (await a.ok("add", file("n1", "notes"), "--name", "notes.txt")).trim();
    ids.empty = (await a.ok("add", file("e", ""), "--name", "empty file")).trim();
    const [first] = await syncAll(a);
    expect(first).toMatchObject({ skipped: false, uploaded: 3, version: 1 });
    const [sb, sc] = await syncAll(b, c);
    expect(sb).toMatchObject({ downloaded: 3, uploaded: 0 });
    expect(sc).toMatchObject({ downloaded: 3, uploaded: 0 });
    const lib = await expectConverged();
    expect(lib.map((e) => e.name).sort()).toEqual(["empty file", "notes.txt", "papers/smith2020.pdf"]);
    expect(await c.ok("get", ids.paper as string)).toBe("paper one");
    expect(await b.ok("get", ids.empty as string)).toBe("");
  });

  it("content, metadata-only, rename and delete made on different instances all converge", async () => {
    await b.ok("update", ids.paper as string, "--file", file("p2", "paper two"));
    await c.ok("update", ids.notes as string, "--meta", "read=true");
    await a.ok("update", ids.empty as string, "--name", "renamed/empty");
    await syncAll(a, b, c);
    await syncAll(a, b);
    const lib = await expectConverged();
    const byId = new Map(lib.map((e) => [e.id, e]));
    expect(byId.get(ids.notes as string)?.meta).toEqual({ read: true });
    expect(byId.get(ids.empty as string)?.name).toBe("renamed/empty");
    expect(await a.ok("get", ids.paper as string)).toBe("paper two");
    expect(await c.ok("get", ids.paper as string)).toBe("paper two");
  });

  it("a rename on one side and an edit on the other merge", async () => {
    await a.ok("update", ids.paper as string, "--name", "papers/smith2020-final.pdf");
    await b.ok("update", ids.paper as string, "--meta", "starred=true");
    await syncAll(a, b, c, a);
    const lib = await expectConverged();
    const paper = lib.find((e) => e.id === ids.paper);
    expect(paper).toMatchObject({ name: "papers/smith2020-final.pdf", meta: { year: 2020, starred: true } });
  });

  it("when nothing changed, a sync costs exactly one HTTP request", async () => {
    server.reset();
    const summary = await a.json<Summary>("sync");
    expect(summary.skipped).toBe(true);
    expect(server.requests().map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${server.prefix}/syncd/version.txt`]);
  });

  it("a metadata-only change moves no data file in either direction", async () => {
    await b.ok("update", ids.notes as string, "--meta", "tags=[\"x\"]", "--unset", "read");
    server.reset();
    const pushed = await b.json<Summary>("sync");
    const pulled = await a.json<Summary>("sync");
    expect(pushed).toMatchObject({ metadataPushed: 1, uploaded: 0, bytesUp: 0 });
    expect(pulled).toMatchObject({ metadataPulled: 1, downloaded: 0, bytesDown: 0 });
    const dataRequests = server.requests().filter((r) => DATA_FILE.test(r.path));
    expect(server.requests().length).toBeGreaterThan(0);
    expect(dataRequests).toEqual([]);
    await syncAll(c);
    const lib = await expectConverged();
    expect(lib.find((e) => e.id === ids.notes)?.meta).toEqual({ tags: ["x"] });
  });

  it("a deletion reaches every instance and the entry never comes back", async () => {
    await c.ok("rm", ids.notes as string);
    const [sc] = await syncAll(c);
    expect(sc).toMatchObject({ deletedRemote: 1 });
    const [sa, sb] = await syncAll(a, b);
    expect(sa).toMatchObject({ deletedLocal: 1 });
    expect(sb).toMatchObject({ deletedLocal: 1 });
    // More edits and syncs elsewhere: the tombstone holds.
    await a.ok("update", ids.paper as string, "--meta", "round=2");
    await syncAll(a, b, c);
    // A forced run reconciles every entry, not only the changed ones: still no resurrection.
    for (const inst of [a, b, c]) await inst.json<Summary>("sync", "--force");
    const lib = await expectConverged();
    expect(lib.find((e) => e.id === ids.notes)).toMatchObject({ deleted: true });
    const live = await b.json<LsEntry[]>("ls");
    expect(live.map((e) => e.id)).not.toContain(ids.notes);
    const get = await a.run("get", ids.notes as string);
    expect(get.code).not.toBe(0);
  });
});
});
