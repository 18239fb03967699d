/**
 * A read-only data directory or a full disk (issue 11), with the real binary: `syncd ls` and `syncd status`
 * used to fail with "unexpected error: unable to open database file" / "disk I/O error". Now the commands
 * that only read work, every write fails with one sentence that says what is wrong (exit code 1, no stack
 * trace), and the library is unchanged by the failed writes.
 *
 * A read-only data directory is a read-only bind mount where this runs as root (root ignores permissions),
 * else a folder without write permission. The full disk is a 1 MB tmpfs, which needs root: elsewhere that
 * part is skipped (test/unit/disk-errors.test.ts covers the boundary without one).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance, type CliResult, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];
const dirs: string[] = [];
let dav: DavServer;

function mount(...args: string[]): boolean {
  try {
    execFileSync("mount", args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether a tmpfs can be mounted here (root, and mount allowed in this container). */
function canMount(): boolean {
  if (!isRoot) return false;
  const probe = mkdtempSync(join(tmpdir(), "syncd-mount-"));
  dirs.push(probe);
  if (!mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", probe)) return false;
  execFileSync("umount", [probe]);
  return true;
}

const mountable = canMount();

beforeAll(async () => {
  dav = await startDavServer();
});
afterAll(async () => {
  for (const m of mounts.reverse()) {
    try {
      execFileSync("umount", [m], { stdio: "ignore" });
    } catch {
      // already unmounted by the test
    }
  }
  await dav.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function readOnly(dir: string): () => void {
  if (isRoot) {
    if (!mount("--bind", dir, dir) || !mount("-o", "remount,ro,bind", dir)) throw new Error(`could not make ${dir} read-only`);
    mounts.push(dir);
    return () => execFileSync("umount", [dir]);
  }
  chmodSync(dir, 0o555);
  return () => chmodSync(dir, 0o755);
}

/** The one sentence a failed command prints: exactly one stderr line, no stack trace, exit code 1. */
function sentence(r: CliResult): string {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  return lines[0] as string;
}

interface Listed {
  id: string;
  name: string;
  hash: string;
}

async function prepared(name: string, root: string, dataDir?: string): Promise<{ i: TestInstance; ids: string[] }> {
  const i = makeInstance(name, { url: dav.url, root });
  dirs.push(i.dir);
  if (dataDir) {
    const config = JSON.parse(execFileSync("cat", [i.configPath], { encoding: "utf8" })) as Record<string, unknown>;
    writeFileSync(i.configPath, JSON.stringify({ ...config, dataDir }));
  }
  const ids: string[] = [];
  for (const n of ["a", "b"]) {
    writeFileSync(join(i.dir, `${n}.txt`), `content of ${n}`);
    ids.push((await i.ok("add", join(i.dir, `${n}.txt`))).trim());
  }
  await i.ok("sync");
  writeFileSync(join(i.dir, "c.txt"), "content of c");
  ids.push((await i.ok("add", join(i.dir, "c.txt"))).trim());
  return { i, ids };
}

describe("a read-only data directory", () => {
  it("ls, get, status and conflicts work; add, update, rm and sync fail with one sentence; nothing changes", async () => {
    const { i, ids } = await prepared("ro", "/read-only");
    const dataDir = join(i.dir, "data");
    const before = await i.json<Listed[]>("ls");
    const writable = readOnly(dataDir);
    try {
      expect(await i.json<Listed[]>("ls")).toEqual(before);
      expect(await i.ok("ls")).toContain("c.txt");
      expect(await i.ok("get", ids[0] as string)).toBe("content of a");
      expect(await i.json("status")).toMatchObject({ unsynced: 1, localVersion: 1, remoteVersion: 1, syncNeeded: true, conflicts: 0 });
      expect(await i.json("conflicts")).toEqual([]);

      const expected = `syncd: The data directory ${dataDir} is ${isRoot ? "read-only" : "not writable by this user"}: this needs to write to it`;
      writeFileSync(join(i.dir, "d.txt"), "d");
      for (const args of [["add", join(i.dir, "d.txt")], ["update", ids[0] as string, "--meta", "k=v"], ["rm", ids[1] as string], ["sync"]]) {
        expect(sentence(await i.run(...args))).toContain(expected);
      }
    } finally {
      writable();
    }
    expect(await i.json<Listed[]>("ls")).toEqual(before);
    expect(await i.json("sync")).toMatchObject({ uploaded: 1 });
  }, 60_000);
});

describe.skipIf(!mountable)("a full disk (a 1 MB tmpfs)", () => {
  it("ls and status work; add fails with one sentence and keeps nothing; with space again, it works", async () => {
    const disk = mkdtempSync(join(tmpdir(), "syncd-full-"));
    dirs.push(disk);
    expect(mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", disk)).toBe(true);
    mounts.push(disk);
    const dataDir = join(disk, "data");
    const { i } = await prepared("full", "/full-disk", dataDir);
    const before = await i.json<Listed[]>("ls");
    const blobs = () => readdirSync(join(dataDir, "blobs"), { recursive: true }).length;
    const blobsBefore = blobs();
    // Fill the disk to the last block.
    const filler = join(disk, "filler");
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      // dd stops with "No space left on device": that is the point
    }
    expect(await i.json<Listed[]>("ls")).toEqual(before);
    expect(await i.json("status")).toMatchObject({ unsynced: 1, localVersion: 1 });

    const big = join(i.dir, "big.bin");
    writeFileSync(big, Buffer.alloc(300 * 1024, 7));
    const line = sentence(await i.run("add", big));
    expect(line).toMatch(new RegExp(`^syncd: The disk holding (the data directory )?${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is full`));
    expect(line).toMatch(/free some space and try again/);
    mkdirSync(join(i.dir, "import"));
    for (let n = 0; n < 5; n++) writeFileSync(join(i.dir, "import", `${n}.bin`), Buffer.alloc(100 * 1024, n));
    expect(sentence(await i.run("import", join(i.dir, "import")))).toMatch(/is full: free some space and try again/);
    expect(await i.json<Listed[]>("ls")).toEqual(before);
    expect(blobs()).toBe(blobsBefore);
    expect(readdirSync(join(dataDir, "tmp")).filter((n) => n.startsWith("blob-"))).toEqual([]);

    rmSync(filler);
    await i.ok("add", big);
    expect(await i.json<Listed[]>("ls")).toHaveLength(before.length + 1);
    execFileSync("umount", [disk]);
  }, 60_000);
});
