/**
 * SPEC §3: a syncd that knows only format 1 refuses a format-2 share and changes nothing in it. Proved
 * against the code of the last commit before format 2 existed, built from this repository's history
 * (helpers/earlier-build.ts), run as its real CLI against a share that the current code upgraded.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { earlierBuild } from "../helpers/earlier-build.js";

/** The last commit whose syncd knows only share format 1 (issue 12's last commit). */
const FORMAT_1_COMMIT = "539789ada405c4b7c6474459a2c790e605cd2604";

/** Every file under `dir` with its SHA-256: what "changes nothing" is checked against. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

describe("a syncd that knows only format 1, on a format-2 share", () => {
  let dav: DavServer;
  let oldBin = "";
  beforeAll(async () => {
    dav = await startDavServer();
    oldBin = earlierBuild(FORMAT_1_COMMIT);
  }, 120_000);
  afterAll(async () => {
    await dav?.close();
  });

  it("an instance that synced the share in format 1 refuses it once another upgraded it, and writes nothing", async () => {
    const webdav = { url: dav.url, root: "/upgraded" };
    const old = makeInstance("old", webdav, {}, { bin: oldBin });
    writeFileSync(join(old.dir, "a.txt"), "from the old syncd");
    await old.ok("add", join(old.dir, "a.txt"));
    await old.ok("sync");
    const root = join(dav.dir, "upgraded");
    expect(readFileSync(join(root, "version.txt"), "utf8")).not.toMatch(/format=/);

    // The current code reads the format-1 share and upgrades it with its first publish.
    const current = makeInstance("current", webdav);
    await current.ok("sync");
    writeFileSync(join(current.dir, "b.txt"), "from the current syncd");
    await current.ok("add", join(current.dir, "b.txt"));
    await current.ok("sync");
    expect(readFileSync(join(root, "version.txt"), "utf8")).toMatch(/^format=2$/m);
    writeFileSync(join(current.dir, "c.txt"), "a journal segment");
    await current.ok("add", join(current.dir, "c.txt"));
    await current.ok("sync");

    // The old instance has a change to push: it must refuse, say why, and leave every byte as it was.
    writeFileSync(join(old.dir, "d.txt"), "pending on the old syncd");
    await old.ok("add", join(old.dir, "d.txt"));
    const before = contents(root);
    const r = await old.run("sync");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/newer than this syncd understands/);
    expect(r.stderr).toMatch(/upgrade syncd on this machine/);
    expect(contents(root)).toEqual(before);
    // Nor does a forced run, or a dry run, change anything.
    expect((await old.run("sync", "--force")).code).not.toBe(0);
    expect((await old.run("sync", "--dry-run")).code).not.toBe(0);
    expect(contents(root)).toEqual(before);
    // The current code, meanwhile, sees all of it.
    const fresh = makeInstance("fresh", webdav);
    await fresh.ok("sync");
    expect((await fresh.json<Array<{ name: string }>>("ls")).map((e) => e.name).sort()).toEqual(["a.txt", "b.txt", "c.txt"]);
  }, 120_000);

  it("a new instance on the old syncd refuses a share created in format 2", async () => {
    const webdav = { url: dav.url, root: "/created" };
    const current = makeInstance("current", webdav);
    writeFileSync(join(current.dir, "a.txt"), "a");
    await current.ok("add", join(current.dir, "a.txt"));
    await current.ok("sync");
    const root = join(dav.dir, "created");
    const before = contents(root);
    const old = makeInstance("old", webdav, {}, { bin: oldBin });
    const r = await old.run("sync");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/newer than this syncd understands/);
    expect(contents(root)).toEqual(before);
    expect(await old.json("ls")).toEqual([]);
  }, 120_000);
});
