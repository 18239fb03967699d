/**
 * A clock that is wrong by days (issue 11, observation 4; SPEC §3: no decision that can delete rests on one
 * machine's wall clock alone). Real `syncd` processes, some under libfaketime (their wall clock moved by days,
 * as on a machine with a wrong clock), against a real WebDAV server whose clock is right.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAKETIME_LIB, makeInstance, skewedClock, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";

interface LsEntry {
  id: string;
  name: string;
  deleted: boolean;
  meta: Record<string, unknown>;
}

const haveFaketime = existsSync(FAKETIME_LIB);
if (!haveFaketime && process.env.CI === "true") throw new Error(`libfaketime is not installed (${FAKETIME_LIB}); .ci/run installs the Debian package faketime`);

describe.skipIf(!haveFaketime)("instances whose clocks are days off", () => {
  let server: DavServer;
  let n = 0;
  const files = mkdtempSync(join(tmpdir(), "syncd-clock-files-"));

  beforeAll(async () => {
    server = await startDavServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  function instance(name: string, root: string, opts: { clock?: string; retentionDays?: number } = {}): TestInstance {
    return makeInstance(
      name,
      { url: server.url, root },
      { tombstoneRetentionDays: opts.retentionDays ?? 90 },
      opts.clock ? { env: skewedClock(opts.clock) } : {},
    );
  }

  async function addFile(inst: TestInstance, name: string): Promise<string> {
    const path = join(files, `${name}-${++n}`);
    writeFileSync(path, `${name} ${n}`);
    return (await inst.json<{ id: string }>("add", path, "--name", name)).id;
  }

  async function entry(inst: TestInstance, id: string): Promise<LsEntry | undefined> {
    return (await inst.json<LsEntry[]>("ls", "--deleted")).find((e) => e.id === id);
  }

  it("an instance 91 days fast does not purge a fresh tombstone; an instance that synced before the deletion learns of it", async () => {
    const root = "/clock-fast";
    const a = instance("a", root);
    const fast = instance("fast", root, { clock: "+91d" });
    const c = instance("c", root);
    const id = await addFile(a, "doc.txt");
    await a.ok("sync");
    await fast.ok("sync");
    await c.ok("sync");
    await a.ok("rm", id);
    await a.ok("sync");
    const fastRun = await fast.run("sync");
    expect(fastRun.code).toBe(0);
    // The fast machine is told that its own clock is wrong, by how much, and what does not happen meanwhile.
    expect(fastRun.stderr).toMatch(/This machine's clock \(instance "fast"\) is 91\.0 days ahead of the share server's clock/);

    await c.ok("sync");
    expect((await entry(c, id))?.deleted).toBe(true);
    // c cannot bring it back: an edit is refused on a deleted entry, and a new instance sees the tombstone.
    const d = instance("d", root);
    await d.ok("sync");
    expect((await entry(d, id))?.deleted).toBe(true);
    await c.ok("sync");
    await a.ok("sync");
    expect((await entry(a, id))?.deleted).toBe(true);
  });

  it("with a 1-day window, an instance one day slow does not purge a correct instance's fresh deletion, nor the reverse", async () => {
    const root = "/clock-slow";
    const a = instance("a", root, { retentionDays: 1 });
    const slow = instance("slow", root, { clock: "-1d", retentionDays: 1 });
    const c = instance("c", root, { retentionDays: 1 });
    const mine = await addFile(a, "a.txt");
    const theirs = await addFile(a, "b.txt");
    await a.ok("sync");
    await slow.ok("sync");
    await c.ok("sync");
    // The slow machine deletes one (its tombstone is stamped a day in the past), the correct one the other.
    await slow.ok("rm", theirs);
    await slow.ok("sync");
    await a.ok("rm", mine);
    await a.ok("sync");
    const slowRun = await slow.run("sync");
    expect(slowRun.code).toBe(0);
    // The warning names the machine whose clock is wrong (this one), not the instance whose stamps look ahead.
    expect(slowRun.stderr).toMatch(/This machine's clock \(instance "slow"\) is 1\.0 days behind the share server's clock/);
    expect(slowRun.stderr).not.toMatch(/instance "a"/);
    await a.ok("sync");

    await c.ok("sync");
    expect((await entry(c, mine))?.deleted).toBe(true);
    expect((await entry(c, theirs))?.deleted).toBe(true);
    const d = instance("d", root, { retentionDays: 1 });
    await d.ok("sync");
    expect((await entry(d, mine))?.deleted).toBe(true);
    expect((await entry(d, theirs))?.deleted).toBe(true);
  });

  it("the warning about another instance's clock names that instance when it is the one ahead of the server", async () => {
    const root = "/clock-blame";
    const a = instance("a", root);
    const fast = instance("fast", root, { clock: "+2d" });
    await addFile(fast, "f.txt");
    await fast.ok("sync");
    const run = await a.run("sync");
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/instance "fast" \([0-9A-Z]+\) stamped a change \d+ s ahead of this machine's clock/);
    expect(run.stderr).not.toMatch(/This machine's clock/);
  });
});
