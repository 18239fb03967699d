/**
 * Issue 5, crash safety: real `syncd sync` processes killed with SIGKILL at random moments, with edits
 * between their runs, on three instances syncing concurrently through one share, on every server of the
 * matrix (test/helpers/shares.ts). After
 * the last kill, fault-free syncs must bring every instance to the same library, equal to the model of
 * every edit made (nothing lost, nothing resurrected, no duplicate), with a sound share: every data file
 * matching its hash, metadata.db matching version.txt, and no claim left behind.
 *
 * A SIGKILLed run leaves its local process lock (stale after 15 s) and, when it held the remote lease, its
 * claim (expired after the TTL). To keep the test short, most of those are aged on disk right after the
 * kill — the lock's and the claim's modification times moved into the past, so that the next run's own
 * stale/expired logic removes them — and every sixth claim is left to expire by itself.
 *
 * 15 kills on each of the six servers (SYNCD_KILLS for more): 90 in all, where the suite ran 25 on one
 * server before the matrix grew. The seed is SYNCD_KILL_SEED (timing makes runs differ anyway).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryJson } from "../../src/cli/output.js";
import { RemoteError } from "../../src/remote/errors.js";
import type { Remote } from "../../src/remote/remote.js";
import { listOpenConflicts } from "../../src/store/conflicts.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { checkShare, classifyCli, LibraryModel, sha256, spawnCli, type ListedEntry } from "../helpers/chaos.js";
import { makeInstance, type TestInstance } from "../helpers/cli.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import { seededRandom } from "../helpers/fault-proxy.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

const KILLS = Math.max(15, Number(process.env.SYNCD_KILLS ?? 15));
const SEED = Number(process.env.SYNCD_KILL_SEED ?? 4242);
const TTL_SECONDS = 5;
const INSTANCES = ["k1", "k2", "k3"];
/** The CLI's progress lines (src/cli/progress.ts) that start each phase a kill may aim at. */
const KILL_PHASES = ["taking the share's lock", "reading the share's metadata", "planning", "uploading", "downloading", "publishing", "updating the local library"];

let server: DavServer;
/** Folders this file creates (instances' data: a few hundred MB of random files), removed at the end. */
const scratch: string[] = [];
beforeAll(async () => {
  server = await startDavServer();
});
afterAll(async () => {
  await server?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

// The random kills run on every server of the matrix (issue 12): what a killed run leaves behind (a claim, a
// temporary upload, a half-written file) is each server's own business.
describe.each(shareMatrix())("on $name", (kind: ShareKind) => {
  let share: TestShare;
  beforeAll(async () => {
    share = await kind.start();
  });
  afterAll(async () => {
    await share?.close();
  });
  it(`${KILLS} SIGKILLs at random moments of syncs: after restarts every instance converges and nothing is lost`, { timeout: 300_000 }, async () => {
    await randomKills(share);
  });
});

interface KillStats {
  kills: number;
  /** What the killed run's record said (its phase), or where it was when it had none. */
  byPhase: Map<string, number>;
  claimsLeft: number;
  claimsAged: number;
  localLocksLeft: number;
  completed: number;
  failedCleanly: string[];
}

/** Moves a file's or folder's modification time an hour into the past. */
function age(path: string): void {
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(path, past, past);
}

async function randomKills(server: TestShare): Promise<void> {
  const root = join(server.dir, "kill");
  const rand = seededRandom(SEED);
  const model = new LibraryModel();
  const stats: KillStats = { kills: 0, byPhase: new Map(), claimsLeft: 0, claimsAged: 0, localLocksLeft: 0, completed: 0, failedCleanly: [] };
  const insts = INSTANCES.map((name) =>
    makeInstance(name, { ...webdavConfig(server, "/kill"), timeoutMs: 5000 }, { lockTtlSeconds: TTL_SECONDS, lockWaitSeconds: 60, concurrency: 4 }),
  );
  scratch.push(...insts.map((i) => i.dir));
  const dataDir = (i: TestInstance) => join(i.dir, "data");
  const edit = async <T>(i: TestInstance, fn: (lib: Library) => Promise<T> | T): Promise<T> => {
    const lib = await openLibrary(dataDir(i), { instanceName: i.name });
    try {
      return await fn(lib);
    } finally {
      lib.close();
    }
  };

  const shared = await edit(insts[0]!, async (lib) => {
    const e = await lib.add({ source: Buffer.from("shared"), name: "shared.txt" });
    model.add(e.id, e.name, e.hash);
    return e.id;
  });
  for (const i of insts) await i.ok("sync");
  const own = new Map<string, string[]>(insts.map((i) => [i.name, []]));

  // Run length of a completed sync, for kills aimed at a moment rather than a phase.
  let typicalMs = 1000;
  let round = 0;
  const loop = async (i: TestInstance) => {
    while (stats.kills < KILLS) {
      const r = round++;
      await edit(i, async (lib) => {
        const mine = own.get(i.name)!;
        // Several files of up to 1.5 MB: the transfer phases take a good part of a run.
        for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
          const e = await lib.add({ source: randomBytes(20_000 + Math.floor(rand() * 1_500_000)), name: `${i.name}/${r}-${k}.bin`, meta: { round: r } });
          model.add(e.id, e.name, e.hash, { round: r });
          mine.push(e.id);
        }
        lib.updateMeta(shared, { set: { [i.name]: r } });
        model.setMeta(shared, i.name, r);
        const live = mine.filter((id) => !model.entries.get(id)!.deleted);
        if (live.length > 2 && rand() < 0.4) {
          const id = live[Math.floor(rand() * (live.length - 1))]!;
          const content = randomBytes(10_000 + Math.floor(rand() * 200_000));
          await lib.updateContent(id, content);
          model.setContent(id, sha256(content));
        }
        if (live.length > 3 && rand() < 0.3) {
          lib.remove(live[0]!);
          model.remove(live[0]!);
        }
      });
      const started = Date.now();
      // The first instance folds the journal into a new snapshot after nearly every commit of its own
      // (share/compaction.ts), so that kills aimed at its publishing land in every step of a compaction too.
      const run = spawnCli(["--config", i.configPath, "sync", "--json"], 90_000, i === insts[0] ? { SYNCD_COMPACT_MAX_SEGMENTS: "1" } : {});
      // Aim: a random moment after start (start-up, the skip check, the lock), or a moment just after the
      // run reports entering a chosen phase (the CLI prints one line per phase on stderr).
      let timer: NodeJS.Timeout | undefined;
      const kill = () => run.kill("SIGKILL");
      const aim = rand();
      if (aim < 0.25) timer = setTimeout(kill, Math.floor(rand() * typicalMs));
      else if (aim < 0.85) {
        const phase = KILL_PHASES[Math.floor(rand() * KILL_PHASES.length)]!;
        const delay = Math.floor(rand() * 40);
        run.onStderrLine((line) => {
          if (timer === undefined && line.startsWith(phase)) timer = setTimeout(kill, delay);
        });
      }
      const result = await run.result;
      clearTimeout(timer);
      if (result.signal === "SIGKILL" && !result.timedOut) {
        stats.kills++;
        const record = join(dataDir(i), "run", "current.json");
        let phase = "outside the lease (start-up, check, lock, or after the run)";
        if (existsSync(record)) {
          try {
            phase = `in the run (record: phase ${(JSON.parse(readFileSync(record, "utf8")) as { phase: string }).phase})`;
          } catch {
            phase = "in the run, while it rewrote its record (left torn; the engine ignores a torn record)";
          }
        }
        stats.byPhase.set(phase, (stats.byPhase.get(phase) ?? 0) + 1);
        const lock = join(dataDir(i), "sync.lock.lock");
        if (existsSync(lock)) {
          stats.localLocksLeft++;
          age(lock);
        }
        const claimDir = join(root, "version.txt.lock");
        for (const name of existsSync(claimDir) ? readdirSync(claimDir) : []) {
          let pid = -1;
          try {
            pid = (JSON.parse(readFileSync(join(claimDir, name), "utf8")) as { pid: number }).pid;
          } catch {
            continue; // being rewritten or removed right now: not the dead process's
          }
          if (pid !== run.pid) continue;
          stats.claimsLeft++;
          if (stats.claimsLeft % 6 !== 0) {
            age(join(claimDir, name));
            stats.claimsAged++;
          }
        }
        continue;
      }
      const outcome = classifyCli(result);
      expect(outcome.outcome, `${i.name} run ${r}: ${outcome.detail}`).not.toBe("other");
      if (outcome.outcome === "completed") {
        stats.completed++;
        typicalMs = Math.round(typicalMs * 0.7 + (Date.now() - started) * 0.3);
      } else stats.failedCleanly.push(`${i.name}: ${outcome.detail}`);
    }
  };
  const t0 = Date.now();
  await Promise.all(insts.map(loop));
  const killPhaseMs = Date.now() - t0;

  // Fault-free syncs until every instance lists the same, fully synced library twice in a row. The
  // listings are read from each library as `syncd ls --deleted --json` prints them (entryJson), without a
  // process each (one per instance and pass, ~0.2 s of CPU each): the syncs stay the real CLI's.
  const listing = (i: TestInstance) => edit(i, (lib) => lib.list({ includeDeleted: true }).map((e) => entryJson(e) as unknown as ListedEntry));
  let listings: ListedEntry[][] = [];
  let previous = "";
  for (let pass = 0; pass < 6; pass++) {
    for (const i of insts) await i.ok("sync");
    listings = await Promise.all(insts.map(listing));
    const now = JSON.stringify(listings[0]);
    if (listings.every((l) => JSON.stringify(l) === now) && listings[0]!.every((e) => e.syncStatus === "synced") && now === previous) break;
    previous = now;
  }
  const problems = listings.flatMap((l, k) => model.problems(l, insts[k]!.name));
  const statuses = await Promise.all(insts.map((i) => i.json<{ unsynced: number; syncNeeded: boolean; conflicts: number }>("status")));
  const conflicts = statuses.reduce((n, s) => n + s.conflicts, 0);
  // A conflict whose two sides were both written by the instance holding it is one with itself.
  type Side = { origin: string };
  const held: Array<{ local: Side; remote: Side }> = (await Promise.all(insts.map((i) => edit(i, (lib) => listOpenConflicts(lib.db))))).flat();
  const selfConflicts = held.filter((c) => c.local.origin === c.remote.origin).length;
  if (process.env.SYNCD_KILL_DEBUG) console.log(JSON.stringify(held, null, 1));
  // Up-to-date runs skip the lock; a forced one after the TTL removes any expired claim of a killed run.
  const before = checkShare(root);
  if (before.claims.length > 0) {
    await new Promise((r) => setTimeout(r, (TTL_SECONDS + 1.5) * 1000));
    await insts[0]!.ok("sync", "--force");
  }
  const check = checkShare(root);
  // The figures first, so that they are there for the report even when an assertion below fails.
  console.log(
    [
      `kill test on ${server.url} (seed ${SEED}): ${stats.kills} SIGKILLs in ${(killPhaseMs / 1000).toFixed(1)} s, ${stats.completed} runs completed between them, ${stats.failedCleanly.length} failed cleanly`,
      ...[...stats.byPhase].sort().map(([phase, n]) => `  killed ${phase}: ${n}`),
      `  kills that left a remote claim: ${stats.claimsLeft} (${stats.claimsAged} aged by the test, ${stats.claimsLeft - stats.claimsAged} left to expire), a local lock: ${stats.localLocksLeft}`,
      `  after the final syncs: ${model.entries.size} entries (${model.live().length} live) in the model, ${problems.length} differences from it, ${conflicts} open conflicts (${selfConflicts} of an instance with its own earlier state); ` +
        `share version ${check.version}, ${check.dataFiles} data files (${check.orphans} unreferenced; ${check.partialOrphans.length} cut short by a killed upload, named by no live entry), ${before.claims.length} expired claims removed by the final forced run, ` +
        `${check.tempFiles.length} stale metadata.db.tmp-* files, ${check.problems.length} share problems`,
      ...stats.failedCleanly.map((f) => `  failed cleanly: ${f}`),
    ].join("\n"),
  );

  expect(problems).toEqual([]);
  for (const l of listings) expect(l).toEqual(listings[0]);
  for (const status of statuses) expect(status).toMatchObject({ unsynced: 0, syncNeeded: false, conflicts: 0 });
  for (const i of insts) {
    // Every entry's bytes are there locally, whole.
    await edit(i, (lib) => {
      for (const e of lib.list()) expect(sha256(readFileSync(join(dataDir(i), "blobs", e.hash.slice(0, 2), e.hash))), `${i.name}: ${e.name}`).toBe(e.hash);
    });
  }
  expect(check.problems).toEqual([]);
  expect(check.claims).toEqual([]);
  for (const i of insts) expect(existsSync(join(dataDir(i), "sync.lock.lock")), `${i.name}: local lock released`).toBe(false);
  expect(stats.kills).toBeGreaterThanOrEqual(KILLS);
  expect(stats.byPhase.size, "kills landed in more than one place of a run").toBeGreaterThan(1);
}

/**
 * The moment of a kill that the random test above hits now and then, made deterministic: the run dies
 * right after writing version.txt, so the share holds this instance's change but its local commit never
 * happened (the local rows are still pending, with the old base). The instance then edits the same field
 * again. Its own earlier state on the share is an ancestor of its new one: the next run must push the new
 * edit, not report a conflict of the instance with itself, and must not drop what the dead run merged in.
 */
describe("a run killed between publishing and its local commit", () => {
  const opened: EngineInstance[] = [];
  afterAll(async () => {
    for (const i of opened) await i.close();
  });

  /** Dies (as SIGKILL would, between two steps) right after version.txt is written. */
  function dieAfterPublish(inner: Remote): Remote {
    return Object.assign(Object.create(inner) as Remote, {
      put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
        await inner.put(path, body);
        if (path === "version.txt") throw new RemoteError("network", "PUT", `${inner.location}/${path}`, "killed right after publishing.");
      },
    });
  }

  async function pair(root: string): Promise<[EngineInstance, EngineInstance]> {
    const a = await makeEngineInstance("a", { url: server.url, root });
    const b = await makeEngineInstance("b", { url: server.url, root });
    opened.push(a, b);
    scratch.push(dirname(a.library.dataDir), dirname(b.library.dataDir));
    return [a, b];
  }

  /** Two instances that both hold one synced entry. */
  async function pairWithEntry(root: string, name: string, content: string): Promise<[EngineInstance, EngineInstance, string]> {
    const [a, b] = await pair(root);
    const id = await a.add(name, content);
    await a.engine.sync();
    await b.engine.sync();
    return [a, b, id];
  }

  /** A run of `inst` that dies right after publishing, before its local commit. */
  async function killedAfterPublish(inst: EngineInstance): Promise<void> {
    await expect(new SyncEngine(inst.library, dieAfterPublish(inst.remote), DEFAULT_SETTINGS).sync()).rejects.toThrow(/killed right after publishing/);
  }

  it("a pushed edit, then a new edit of the same field: pushed, no conflict", async () => {
    const [a, b, id] = await pairWithEntry("/self-conflict-push", "shared", "s");
    a.library.updateMeta(id, { set: { a: 1 } });
    await killedAfterPublish(a);
    a.library.updateMeta(id, { set: { a: 2 } });
    const summary = await a.engine.sync();
    expect(summary.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ meta: { a: 2 }, syncStatus: "synced" });
  });

  it("a merged edit (own change + another instance's), then a new own edit: both survive, no conflict", async () => {
    const [a, b, id] = await pairWithEntry("/self-conflict-merge", "shared", "s");
    b.library.updateMeta(id, { set: { b: 1 } });
    await b.engine.sync();
    a.library.updateMeta(id, { set: { a: 1 } });
    await killedAfterPublish(a);
    a.library.updateMeta(id, { set: { a: 2 } });
    const summary = await a.engine.sync();
    expect(summary.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ meta: { a: 2, b: 1 }, syncStatus: "synced" });
  });

  it("the published row changed again by another instance before the next run: recognised by the commit log, no conflict", async () => {
    const [a, b, id] = await pairWithEntry("/self-conflict-overwritten", "shared", "s");
    a.library.updateMeta(id, { set: { a: 1 } });
    await killedAfterPublish(a);
    // b builds on a's published state: the row in the share no longer carries a's stamp.
    await b.engine.sync();
    b.library.updateMeta(id, { set: { b: 1 } });
    await b.engine.sync();
    a.library.updateMeta(id, { set: { a: 2 } });
    const summary = await a.engine.sync();
    expect(summary.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ meta: { a: 2, b: 1 }, syncStatus: "synced" });
  });

  it("a publish that never landed: the journal is dropped, and a competing edit of the same key is a real conflict", async () => {
    const [a, b, id] = await pairWithEntry("/journal-not-landed", "shared", "s");
    a.library.updateMeta(id, { set: { a: 1 } });
    // Dies between its journal segment's PUT and version.txt's: the segment is uploaded, nothing names it.
    const segmentPuts: string[] = [];
    const dieBeforeVersion = Object.assign(Object.create(a.remote) as Remote, {
      put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
        if (path === "version.txt") throw new RemoteError("network", "PUT", `${a.remote.location}/version.txt`, "killed before publishing.");
        if (path.startsWith("journal/")) segmentPuts.push(path);
        return a.remote.put(path, body);
      },
    });
    await expect(new SyncEngine(a.library, dieBeforeVersion, DEFAULT_SETTINGS).sync()).rejects.toThrow(/killed before publishing/);
    expect(segmentPuts).toHaveLength(1);
    b.library.updateMeta(id, { set: { a: 9 } });
    await b.engine.sync();
    // a's a:1 never reached the share; b's a:9 did: a real conflict, held (manual).
    const summary = await a.engine.sync();
    expect(summary.conflicts).toBe(1);
    expect(a.library.get(id)).toMatchObject({ meta: { a: 1 }, syncStatus: "conflict" });
  });

  it("new content after a pushed content change: pushed, no conflict", async () => {
    const [a, b, id] = await pairWithEntry("/self-conflict-content", "doc", "v0");
    await a.library.updateContent(id, Buffer.from("v1"));
    await killedAfterPublish(a);
    await a.library.updateContent(id, Buffer.from("v2"));
    const summary = await a.engine.sync();
    expect(summary.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ hash: sha256("v2"), syncStatus: "synced" });
  });
});
