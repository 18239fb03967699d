/**
 * `syncd check [--repair] [--json]` (SPEC §5): audits the share against its metadata, and with --repair
 * puts back what this instance holds and removes leftovers (expired claims, stale temporary uploads), never a
 * live claim. Real `syncd` processes against real servers on 127.0.0.1.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { dataPath } from "../../src/share/layout.js";
import { addEntries } from "../helpers/seed.js";
import { dataFile, deleteThroughServer, putThroughServer, rewriteShare, sha256, shareRoot } from "../helpers/share-files.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

interface Problem {
  kind: string;
  path: string;
  hash?: string;
  entries?: Array<{ id: string; name: string }>;
  message: string;
  repaired: boolean;
}
interface Report {
  ok: boolean;
  version: number | null;
  checked: { entries: number; dataFiles: number; bytes: number };
  problems: Problem[];
}

describe.each(shareMatrix())("syncd check on $name", (kind: ShareKind) => {
  // One server for the file's tests, each test in a share root of its own on it (nothing else is shared).
  let share: TestShare;
  let rootPath: string;
  let root: string;
  let roots = 0;
  let a: TestInstance;
  let ids: { missing: string; damaged: string; fine: string };
  const hashes = { missing: sha256("lost on the share"), damaged: sha256("damaged on the share") };

  beforeAll(async () => {
    share = await kind.start();
  });
  afterAll(async () => {
    await share?.close();
  });
  beforeEach(async () => {
    rootPath = `/syncd-${++roots}`;
    root = shareRoot(share.dir, rootPath);
    a = makeInstance("alpha", webdavConfig(share, rootPath), { lockTtlSeconds: 5 });
    const [missing, damaged, fine] = await addEntries(a, [
      ["lost.txt", "lost on the share"],
      ["dir/damaged.txt", "damaged on the share"],
      ["fine.txt", "fine"],
    ]);
    ids = { missing: missing!, damaged: damaged!, fine: fine! };
    await a.ok("sync");
  });

  /**
   * Leftovers of a writer that died: an expired claim and its half-uploaded metadata.db, written through the
   * server (rclone lists only what went through it) and aged on disk. rclone also keeps the mtimes it listed:
   * there the claim is left to expire by itself (the instance's TTL is the 5 s minimum).
   */
  async function deadWriter(): Promise<{ claim: string; temp: string }> {
    const token = randomUUID();
    const claim = `version.txt.lock/${token}.json`;
    const temp = `metadata.db.tmp-${token}`;
    await putThroughServer(share, claim, JSON.stringify({ token, instance: "ghost", host: "gone", pid: 1, ttlMs: 5000, acquiredAt: "2020-01-01T00:00:00Z" }), rootPath);
    await putThroughServer(share, temp, "half an upload", rootPath);
    const past = new Date(Date.now() - 3_600_000);
    for (const path of [claim, temp]) utimesSync(join(root, path), past, past);
    if (kind.name === "rclone") await sleep(6500);
    return { claim: `${token}.json`, temp };
  }

  it("a clean share: exit 0, a readable report, and one JSON document", async () => {
    const text = await a.run("check");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/3 live entries/);
    expect(text.stdout).toMatch(/no problems/i);
    const report = await a.json<Report>("check");
    expect(report).toMatchObject({ ok: true, version: 1, problems: [] });
    expect(report.checked).toMatchObject({ entries: 3, dataFiles: 3 });
  });

  it("finds every kind of problem, names the entries, and exits 1; --repair fixes what this instance holds", async () => {
    await deleteThroughServer(share, dataPath(hashes.missing), rootPath);
    writeFileSync(dataFile(root, hashes.damaged), "DAMAGED ON THE SHARE");
    const { claim, temp } = await deadWriter();

    const audit = await a.run("check", "--json");
    expect(audit.code).toBe(1);
    const report = JSON.parse(audit.stdout) as Report & { error?: { code: string; message: string } };
    expect(report.ok).toBe(false);
    // One document: the report, with the failure in it as every --json failure has it (SPEC §5).
    expect(report.error).toEqual({ code: "share-problems", message: expect.stringMatching(/^The share has 4 problems left; "syncd check --repair"/) });
    expect(audit.stderr.trim().split("\n").at(-1)).toBe(`syncd: ${report.error?.message}`);
    const byKind = new Map(report.problems.map((p) => [p.kind, p]));
    expect([...byKind.keys()].sort()).toEqual(["damaged", "expired-claim", "missing", "temporary-file"]);
    expect(byKind.get("missing")).toMatchObject({ hash: hashes.missing, entries: [{ id: ids.missing, name: "lost.txt" }], repaired: false });
    expect(byKind.get("damaged")).toMatchObject({ hash: hashes.damaged, entries: [{ id: ids.damaged, name: "dir/damaged.txt" }] });
    expect(byKind.get("expired-claim")?.path).toBe(`version.txt.lock/${claim}`);
    expect(byKind.get("temporary-file")?.path).toBe(temp);
    // An audit changes nothing.
    expect(readdirSync(join(root, "version.txt.lock"))).toContain(claim);

    const text = await a.run("check");
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("lost.txt");
    expect(text.stdout).toContain(ids.missing);
    expect(text.stderr.trim().split("\n")).toHaveLength(1);

    const repair = await a.run("check", "--repair", "--json");
    expect(repair.code, repair.stderr).toBe(0);
    const repaired = JSON.parse(repair.stdout) as Report;
    expect(repaired.ok).toBe(true);
    expect(repaired.problems.map((p) => [p.kind, p.repaired]).sort()).toEqual([
      ["damaged", true],
      ["expired-claim", true],
      ["missing", true],
      ["temporary-file", true],
    ]);
    expect(sha256(readFileSync(dataFile(root, hashes.missing)))).toBe(hashes.missing);
    expect(sha256(readFileSync(dataFile(root, hashes.damaged)))).toBe(hashes.damaged);
    expect(readdirSync(join(root, "version.txt.lock"))).not.toContain(claim);
    expect(readdirSync(root)).not.toContain(temp);
    expect(await a.json<Report>("check")).toMatchObject({ ok: true, problems: [] });
  });

  it("a live claim is not a leftover: reported as nothing, and --repair waits for it rather than delete it", async () => {
    const token = randomUUID();
    await putThroughServer(share, `version.txt.lock/${token}.json`, JSON.stringify({ token, instance: "busy", host: "h", pid: 2, ttlMs: 60_000, acquiredAt: new Date().toISOString() }), rootPath);
    await putThroughServer(share, `metadata.db.tmp-${token}`, "an upload in progress", rootPath);
    expect(await a.json<Report>("check")).toMatchObject({ ok: true, problems: [] });
    const b = makeInstance("bravo", webdavConfig(share, rootPath), { lockWaitSeconds: 1 });
    await deleteThroughServer(share, dataPath(hashes.missing), rootPath);
    const repair = await b.run("check", "--repair");
    expect(repair.code).toBe(75);
    expect(readdirSync(join(root, "version.txt.lock"))).toContain(`${token}.json`);
    expect(readdirSync(root)).toContain(`metadata.db.tmp-${token}`);
  });

  it("an instance without the bytes cannot repair them: it says so, exits 1, and asks the holder through the share", async () => {
    const b = makeInstance("bravo", webdavConfig(share, rootPath));
    await b.ok("sync");
    rmSync(join(b.dir, "data", "blobs", hashes.missing.slice(0, 2), hashes.missing)); // not held here any more
    await deleteThroughServer(share, dataPath(hashes.missing), rootPath);
    const repair = await b.run("check", "--repair", "--json");
    expect(repair.code).toBe(1);
    const report = JSON.parse(repair.stdout) as Report;
    expect(report.problems).toMatchObject([{ kind: "missing", repaired: false }]);
    expect(report.problems[0]?.message).toMatch(/not held by this instance/);
    // The holder's next sync puts it back (the report in the share is what tells it).
    await a.ok("sync");
    expect(sha256(readFileSync(dataFile(root, hashes.missing)))).toBe(hashes.missing);
    expect(await b.json<Report>("check")).toMatchObject({ ok: true });
  });

  it("a row whose size lies is a problem; --repair on an instance holding the bytes publishes the true size", async () => {
    rewriteShare(root, (db, version) => db.prepare("UPDATE entries SET size = 3, rev = ? WHERE id = ?").run(version, ids.fine));
    const report = await a.json<Report>("check").catch(() => null);
    expect(report).toBeNull(); // exit 1
    const audit = JSON.parse((await a.run("check", "--json")).stdout) as Report;
    expect(audit.problems).toMatchObject([{ kind: "size-mismatch", entries: [{ id: ids.fine, name: "fine.txt" }] }]);
    const repair = await a.run("check", "--repair", "--json");
    expect(repair.code, repair.stderr).toBe(0);
    expect(await a.json<Report>("check")).toMatchObject({ ok: true });
  });
});
