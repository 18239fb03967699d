/**
 * The share root is wherever the user points it (issue 12): a folder nested in folders that do not exist
 * yet, with spaces, non-ASCII letters and URL syntax in their names, is created one MKCOL per level on every
 * server of the matrix; a webdav.url whose own folder does not exist fails with a sentence that says so.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance } from "../helpers/cli.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

const LEVELS = ["Mes documents", "Apps ü née", "syncd #1 (100%)"];
const ROOT = `/${LEVELS.join("/")}`;

describe.each(shareMatrix())("a nested share root on $name", (kind: ShareKind) => {
  let server: TestShare;
  beforeAll(async () => {
    server = await kind.start();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("is created level by level, and two instances sync through it", { timeout: 60_000 }, async () => {
    const a = makeInstance("root-a", webdavConfig(server, ROOT));
    const b = makeInstance("root-b", webdavConfig(server, ROOT));
    try {
      writeFileSync(join(a.dir, "note.txt"), "nested");
      await a.ok("add", join(a.dir, "note.txt"), "--name", "note ü.txt");
      server.reset();
      await a.ok("sync");
      const mkcols = server
        .requests()
        .filter((r) => r.method === "MKCOL")
        .map((r) => r.path.replace(/\/$/, ""));
      // Each level once, outermost first (after the one attempt at the root itself that found its parent missing).
      const levels = LEVELS.map((_, i) => `${server.prefix}/${LEVELS.slice(0, i + 1).join("/")}`);
      expect(mkcols.filter((p) => levels.includes(p) && p !== levels[2])).toEqual(levels.slice(0, 2));
      expect(mkcols).toContain(levels[2]);
      expect(readFileSync(join(server.dir, ...LEVELS, "version.txt"), "utf8")).toMatch(/^\d+\n/);
      await b.ok("sync");
      expect((await b.json<Array<{ name: string }>>("ls")).map((e) => e.name)).toEqual(["note ü.txt"]);
    } finally {
      for (const i of [a, b]) rmSync(i.dir, { recursive: true, force: true });
    }
  });

  it("a webdav.url whose folder is missing fails at once with a sentence naming it, and creates nothing", async () => {
    const config = webdavConfig(server, "/Apps/syncd");
    const i = makeInstance("root-url", { ...config, url: `${server.url}/no such folder` });
    try {
      writeFileSync(join(i.dir, "x.txt"), "x");
      await i.ok("add", join(i.dir, "x.txt"));
      const r = await i.run("sync");
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`the folder ${server.url}/no such folder/ that webdav.url names does not exist on the server (check webdav.url`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(server.dir, "no such folder"))).toBe(false);
    } finally {
      rmSync(i.dir, { recursive: true, force: true });
    }
  });
});
