/**
 * Two instances that sync at the same moment, round after round, each with fresh edits: both runs finish
 * (one holds the lease, the other waits and retries), and no edit is lost.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

// 8 rounds on each of the six servers, 48 in all (the suite ran 20 on one server before the matrix grew, then 12
// on each; racing-writers and lease-race race the same lock harder). SYNCD_RACE_ROUNDS=50 makes a stress run.
const ROUNDS = Number(process.env.SYNCD_RACE_ROUNDS ?? 8);
const files = mkdtempSync(join(tmpdir(), "syncd-race-"));

describe.each(shareMatrix())("on $name", (kind: ShareKind) => {
let server: TestShare;
let a: TestInstance;
let b: TestInstance;

beforeAll(async () => {
  server = await kind.start();
  const webdav = webdavConfig(server, "/race");
  const sync = { lockWaitSeconds: 60, lockTtlSeconds: 10 };
  a = makeInstance("left", webdav, sync);
  b = makeInstance("right", webdav, sync);
});

afterAll(async () => {
  await server?.close();
});

it(`survives ${ROUNDS} rounds of simultaneous syncs with fresh edits`, { timeout: 240_000 }, async () => {
  const sharedFile = join(files, `shared-${kind.name}`);
  writeFileSync(sharedFile, "shared");
  const shared = (await a.ok("add", sharedFile, "--name", "shared.txt")).trim();
  await a.ok("sync");
  await b.ok("sync");

  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      [a, b].map(async (inst) => {
        const path = join(files, `${kind.name}-${inst.name}-${round}`);
        writeFileSync(path, `${inst.name} round ${round}`);
        await inst.ok("add", path, "--name", `${inst.name}/${round}.txt`);
        // Both edit the same entry, each its own key: a merge, never a conflict, never a lost write.
        await inst.ok("update", shared, "--meta", `${inst.name}=${round}`);
      }),
    );
    const results = await Promise.all([a.run("sync", "--json"), b.run("sync", "--json")]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
  }
  await a.ok("sync");
  await b.ok("sync");

  const [la, lb] = await Promise.all([a.json<Array<{ name: string; meta: Record<string, unknown>; hash: string }>>("ls"), b.json<Array<{ name: string; hash: string }>>("ls")]);
  expect(lb).toEqual(la);
  const names = la.map((e) => e.name);
  for (let round = 0; round < ROUNDS; round++) {
    expect(names).toContain(`left/${round}.txt`);
    expect(names).toContain(`right/${round}.txt`);
  }
  expect(names).toHaveLength(2 * ROUNDS + 1);
  expect(la.find((e) => e.name === "shared.txt")?.meta).toEqual({ left: ROUNDS - 1, right: ROUNDS - 1 });
  for (const inst of [a, b]) {
    const status = await inst.json<{ unsynced: number; conflicts: number; syncNeeded: boolean }>("status");
    expect(status).toMatchObject({ unsynced: 0, conflicts: 0, syncNeeded: false });
  }
});
});
