/**
 * Issue 5, fault tolerance: instances sync through a fault-injecting proxy (helpers/fault-proxy.ts) in
 * front of a real WebDAV server. Every run must complete or fail cleanly (a SyncdError with one sentence;
 * for the CLI, exit 1 or 75 with one `syncd: …` line) — never a crash, a stack trace or a hang — and once
 * the faults stop, every instance converges: the same library everywhere, equal to the model of the edits
 * made (nothing lost, nothing resurrected, no duplicate), every data file in the share matching its hash,
 * metadata.db matching version.txt, and no claim left in version.txt.lock/.
 *
 * 1. Chosen faults: every fault kind at every step of a run (version.txt, the lease, metadata.db, data
 *    files, their verification (a HEAD), the publish MOVE, version.txt, the release, a download), one at a time.
 * 2. Random faults: three instances (two in-process, one the real CLI), each behind its own proxy, syncing
 *    concurrently round after round with fresh edits, at a seeded random subset of their requests.
 *
 * The table of faults and outcomes is printed at the end (console.log). SYNCD_FAULT_SEED and
 * SYNCD_FAULT_ROUNDS change the seed and the number of random rounds.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { entryJson } from "../../src/cli/output.js";
import { retrying } from "../../src/remote/open.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import type { SyncSettings } from "../../src/sync/engine.js";
import {
  checkShare,
  classifyCli,
  LibraryModel,
  OutcomeTable,
  runInProcess,
  sha256,
  spawnCli,
  type ListedEntry,
  type RunResult,
} from "../helpers/chaos.js";
import { makeInstance } from "../helpers/cli.js";
import { startDavServer } from "../helpers/dav-server.js";
import { makeEngineInstance } from "../helpers/engine.js";
import { FAULT_KINDS, seededRandom, startFaultProxy, type FaultKind, type FaultMatch, type FaultProxy } from "../helpers/fault-proxy.js";
import { SHARE_KINDS, shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

const SEED = Number(process.env.SYNCD_FAULT_SEED ?? 20261105);
const ROUNDS = Number(process.env.SYNCD_FAULT_ROUNDS ?? 4);
/** Short TTL: a claim a fault leaves behind blocks others for seconds, not a minute. Retry budget: TTL/3. */
const SETTINGS: Partial<SyncSettings> = { lockTtlSeconds: 5, lockWaitSeconds: 25, concurrency: 4 };
const TIMEOUT_MS = 1000;
const STALL_MS = 1300;
const RUN_DEADLINE_MS = 60_000;

const chosenTable = new OutcomeTable();
const randomTable = new OutcomeTable();
const cleanFailures = new Map<string, number>();

afterAll(() => {
  const all = new OutcomeTable();
  all.merge(chosenTable);
  all.merge(randomTable);
  const failures = [...cleanFailures].sort((a, b) => b[1] - a[1]).map(([m, n]) => `  ${n} × ${m}`);
  console.log(
    [
      `fault injection (seed ${SEED}); "times tried" = faults injected; outcome = how the run it hit ended`,
      chosenTable.format("chosen faults, one per run:", FAULT_KINDS),
      randomTable.format(`random faults, ${ROUNDS} rounds × 3 instances:`, FAULT_KINDS),
      all.format("all:", FAULT_KINDS),
      "clean failures seen:",
      ...failures,
    ].join("\n\n"),
  );
});

/** An instance behind its own proxy: in-process (engine) or the real CLI. */
interface Inst {
  name: string;
  proxy: FaultProxy;
  sync(force?: boolean): Promise<RunResult>;
  edit<T>(fn: (library: Library) => Promise<T> | T): Promise<T>;
  listing(): Promise<ListedEntry[]>;
  close(): Promise<void>;
}


async function inProcess(name: string, share: TestShare, rootName: string, seed: number, settings: Partial<SyncSettings> = {}): Promise<Inst> {
  const proxy = await startFaultProxy({ target: share.url, seed, stallMs: STALL_MS });
  const inst = await makeEngineInstance(
    name,
    { url: proxy.via(share.url), root: `/${rootName}`, username: share.username, password: share.password },
    { ...SETTINGS, ...settings },
    { timeoutMs: TIMEOUT_MS, wrap: (remote, settings) => retrying(remote, { sync: settings }) },
  );
  return {
    name,
    proxy,
    sync: (force = false) => runInProcess(() => inst.engine.sync({ force }), RUN_DEADLINE_MS),
    edit: async (fn) => fn(inst.library),
    listing: async () => inst.library.list({ includeDeleted: true }).map((e) => entryJson(e) as unknown as ListedEntry),
    close: async () => {
      await inst.close();
      await proxy.close();
      rmSync(dirname(inst.library.dataDir), { recursive: true, force: true });
    },
  };
}

async function cliProcess(name: string, share: TestShare, rootName: string, seed: number): Promise<Inst> {
  const proxy = await startFaultProxy({ target: share.url, seed, stallMs: STALL_MS });
  const webdav = { ...webdavConfig(share, `/${rootName}`), url: proxy.via(share.url), timeoutMs: TIMEOUT_MS };
  const cli = makeInstance(name, webdav, SETTINGS);
  const dataDir = join(cli.dir, "data");
  return {
    name,
    proxy,
    sync: async (force = false) =>
      classifyCli(await spawnCli(["--config", cli.configPath, "sync", "--json", ...(force ? ["--force"] : [])], RUN_DEADLINE_MS).result),
    edit: async (fn) => {
      // Edits go through the same library code as `syncd add/update/rm`, without a process per edit.
      const library = await openLibrary(dataDir, { instanceName: name });
      try {
        return await fn(library);
      } finally {
        library.close();
      }
    },
    // What `syncd ls --deleted --json` prints (entryJson), read without a process per converge pass.
    listing: async () => {
      const library = await openLibrary(dataDir, { instanceName: name });
      try {
        return library.list({ includeDeleted: true }).map((e) => entryJson(e) as unknown as ListedEntry);
      } finally {
        library.close();
      }
    },
    close: async () => {
      await proxy.close();
      rmSync(cli.dir, { recursive: true, force: true });
    },
  };
}

const opened: Inst[] = [];
const shares: TestShare[] = [];
afterEach(async () => {
  for (const i of opened.splice(0)) await i.close();
  for (const s of shares.splice(0)) await s.close();
});

function noteFailure(r: RunResult): void {
  if (r.outcome === "failed cleanly" && r.detail) {
    // Group by the sentence with URLs, tokens and numbers blanked out.
    const key = r.detail.replace(/https?:\/\/\S+/g, "<url>").replace(/[0-9a-f]{8,}/g, "<hex>").replace(/\d+(\.\d+)?/g, "N");
    cleanFailures.set(key, (cleanFailures.get(key) ?? 0) + 1);
  }
}

/** Syncs every instance, in turn, until all report the same library twice in a row with nothing pending. */
async function converge(insts: Inst[], model: LibraryModel): Promise<ListedEntry[]> {
  for (const i of insts) i.proxy.stopFaults();
  let last = "";
  for (let pass = 0; pass < 6; pass++) {
    for (const i of insts) {
      const r = await i.sync();
      expect(r.outcome, `${i.name} sync without faults: ${r.detail}`).toBe("completed");
    }
    const listings = await Promise.all(insts.map((i) => i.listing()));
    const same = listings.every((l) => JSON.stringify(l) === JSON.stringify(listings[0]));
    const settled = same && listings[0]!.every((e) => e.syncStatus === "synced");
    if (settled && JSON.stringify(listings[0]) === last) {
      for (const [k, l] of listings.entries()) expect(model.problems(l, insts[k]!.name)).toEqual([]);
      return listings[0]!;
    }
    last = settled ? JSON.stringify(listings[0]) : "";
  }
  const listings = await Promise.all(insts.map((i) => i.listing()));
  for (const [k, l] of listings.entries()) expect(model.problems(l, insts[k]!.name)).toEqual([]);
  for (const l of listings) expect(l).toEqual(listings[0]);
  throw new Error("the instances did not converge in 6 passes");
}

function expectShareSound(dir: string): void {
  const check = checkShare(dir);
  expect(check.problems).toEqual([]);
  expect(check.claims, "no claim left in version.txt.lock/").toEqual([]);
}

describe("the fault proxy", () => {
  it("does to a request what each fault kind says", async () => {
    const server = await startDavServer();
    const proxy = await startFaultProxy({ target: server.url, stallMs: 300 });
    const url = (p: string) => `${proxy.origin}${p}`;
    const body = Buffer.from("0123456789".repeat(100));
    try {
      expect((await fetch(url("/f"), { method: "PUT", body })).status).toBe(201);
      const reachedServer = () => server.requests.length;

      let before = reachedServer();
      proxy.inject("drop-before");
      await expect(fetch(url("/f"))).rejects.toThrow();
      expect(reachedServer(), "drop-before: the server never saw it").toBe(before);

      proxy.inject("drop-after", { method: "PUT" });
      await expect(fetch(url("/g"), { method: "PUT", body })).rejects.toThrow();
      expect(readFileSync(join(server.dir, "g")).equals(body), "drop-after: the server did the work").toBe(true);

      for (const [kind, status] of [["status-500", 500], ["status-503", 503], ["status-429", 429], ["status-507", 507]] as const) {
        before = reachedServer();
        proxy.inject(kind);
        const res = await fetch(url("/f"));
        await res.arrayBuffer();
        expect(res.status).toBe(status);
        expect(res.headers.get("retry-after")).toBe(status === 503 || status === 429 ? "1" : null);
        expect(reachedServer()).toBe(before);
      }

      proxy.inject("stall");
      const t0 = Date.now();
      const stalled = await fetch(url("/f"));
      expect(Buffer.from(await stalled.arrayBuffer()).equals(body)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);

      proxy.inject("truncate-response");
      await expect(fetch(url("/f")).then((r) => r.arrayBuffer())).rejects.toThrow();

      proxy.inject("corrupt-response");
      const corrupted = Buffer.from(await (await fetch(url("/f"))).arrayBuffer());
      expect(corrupted.length).toBe(body.length);
      expect(corrupted.equals(body)).toBe(false);

      proxy.inject("truncate-request");
      await expect(fetch(url("/h"), { method: "PUT", body })).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(join(server.dir, "h")) && readFileSync(join(server.dir, "h")).equals(body), "truncate-request: the server never got it whole").toBe(false);

      expect(proxy.faults().map((f) => f.fault)).toEqual([
        "drop-before", "drop-after", "status-500", "status-503", "status-429", "status-507", "stall", "truncate-response", "corrupt-response", "truncate-request",
      ]);
      // Seeded: the same seed picks the same faults for the same requests.
      const picks = async (seed: number) => {
        const p = await startFaultProxy({ target: server.url, seed, random: { rate: 0.5, kinds: ["status-500", "status-503"] } });
        for (let k = 0; k < 20; k++) await (await fetch(`${p.origin}/f`, { method: "PROPFIND", headers: { Depth: "0" } })).arrayBuffer();
        await p.close();
        return p.log.map((r) => r.fault);
      };
      const [x, y, z] = [await picks(7), await picks(7), await picks(8)];
      expect(x).toEqual(y);
      expect(x).not.toEqual(z);
      expect(x.filter(Boolean).length).toBeGreaterThan(3);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  it("refuses a target that is not on 127.0.0.1", async () => {
    await expect(startFaultProxy({ target: "http://example.com:80" })).rejects.toThrow(/only http:\/\/127\.0\.0\.1/);
  });
});

describe("chosen faults, one at a time, at every step of a run (webdav-server)", () => {
  it("every fault kind at every step: the run completes or fails cleanly, and the instances converge", { timeout: 240_000 }, async () => {
    const share = await SHARE_KINDS[0]!.start();
    shares.push(share);
    // a folds the journal into a new snapshot at every commit, so that every step of a compaction is hit too.
    const a = await inProcess("a", share, "chosen", SEED, { compaction: { maxSegments: 0 } });
    const b = await inProcess("b", share, "chosen", SEED + 1);
    opened.push(a, b);
    const model = new LibraryModel();
    const rand = seededRandom(SEED);
    const shared = await a.edit(async (lib) => {
      const e = await lib.add({ source: Buffer.from("shared"), name: "shared.txt" });
      model.add(e.id, e.name, e.hash);
      return e.id;
    });
    expect((await a.sync()).outcome).toBe("completed");
    expect((await b.sync()).outcome).toBe("completed");

    const p = `${share.prefix}/chosen`;
    const data = new RegExp(`^${p}/[0-9a-f]{2}/[0-9a-f]{64}$`);
    // [step, request, whose run, also the slow kinds (stall, 503 + Retry-After: ~1 s each; their retry path
    // is the same for every request, so they run at the steps whose handling differs: streams, MOVE, the lease)]
    // "pull!": the pulling instance first forgets its replica of the share's metadata, so it reads the snapshot.
    const segment = new RegExp(`^${p}/journal/\\d{12}-[0-9a-f]{64}\\.seg$`);
    const targets: Array<[string, FaultMatch, "push" | "pull" | "pull!", boolean]> = [
      ["GET version.txt", { method: "GET", path: `${p}/version.txt` }, "push", false],
      ["PUT lock claim", { method: "PUT", path: /\/version\.txt\.lock\/[^/]+\.json$/ }, "push", true],
      ["PROPFIND lock folder", { method: "PROPFIND", path: /\/version\.txt\.lock\/?$/ }, "push", false],
      ["PUT data file", { method: "PUT", path: data }, "push", true],
      // One upload into a folder is checked by a HEAD of the file (transfer.ts worthListing).
      ["HEAD data file", { method: "HEAD", path: data }, "push", false],
      ["PUT journal segment", { method: "PUT", path: segment }, "push", true],
      ["PUT version.txt", { method: "PUT", path: `${p}/version.txt` }, "push", true],
      // The compaction that follows every commit of a: its snapshot upload, the move into place, the listing
      // of the journal for segments to delete, and the deletes.
      ["PUT metadata.db.tmp", { method: "PUT", path: /\/metadata\.db\.tmp-[^/]+$/ }, "push", false],
      ["MOVE metadata.db", { method: "MOVE" }, "push", true],
      ["PROPFIND journal", { method: "PROPFIND", path: new RegExp(`^${p}/journal/?$`) }, "push", false],
      ["DELETE old segment", { method: "DELETE", path: segment }, "push", false],
      ["DELETE lock claim", { method: "DELETE", path: /\/version\.txt\.lock\/[^/]+\.json$/ }, "push", true],
      ["GET journal segment", { method: "GET", path: segment }, "pull", true],
      ["GET metadata.db", { method: "GET", path: `${p}/metadata.db` }, "pull!", true],
      ["GET data file", { method: "GET", path: data }, "pull", true],
    ];
    // 429 behaves as 503 (both: Retry-After); it is in the random part.
    const kinds = FAULT_KINDS.filter((k) => k !== "status-429");
    const unreached: string[] = [];
    const perStep = new OutcomeTable();
    let n = 0;
    for (const [label, match, side, slow] of targets) {
      const method = typeof match === "function" ? "" : String(match.method);
      for (const kind of kinds) {
        if (!slow && (kind === "stall" || kind === "status-503")) continue;
        if (kind === "truncate-request" && method !== "PUT") continue;
        if ((kind === "truncate-response" || kind === "corrupt-response") && method !== "GET" && method !== "PROPFIND") continue;
        n++;
        await a.edit(async (lib) => {
          const e = await lib.add({ source: randomBytes(512 + Math.floor(rand() * 4096)), name: `case-${n}.bin` });
          model.add(e.id, e.name, e.hash);
        });
        if (n % 4 === 0) {
          await b.edit((lib) => {
            lib.updateMeta(shared, { set: { b: n } });
            model.setMeta(shared, "b", n);
          });
        }
        if (side !== "push") {
          // b one version behind a, whose compaction keeps the journal since its previous snapshot: b reads a segment.
          expect((await b.sync()).outcome).toBe("completed");
          expect((await a.sync()).outcome).toBe("completed");
        }
        const faulted = side === "push" ? a : b;
        if (side === "pull!") await faulted.edit((lib) => rmSync(join(lib.dataDir, "share-replica.db"), { force: true }));
        const other = side === "push" ? b : a;
        const mark = faulted.proxy.mark();
        // version.txt is read twice by a run that publishes (load, then the re-check before publishing).
        faulted.proxy.inject(kind, match, { skip: label === "GET version.txt" ? n % 2 : 0 });
        const t0 = Date.now();
        const r = await faulted.sync();
        const took = Date.now() - t0;
        faulted.proxy.stopFaults();
        const hit = faulted.proxy.faults(mark);
        if (hit.length === 0) unreached.push(`${label} / ${kind}`);
        for (const f of hit) {
          chosenTable.record(f.fault as FaultKind, r.outcome);
          perStep.record(label, r.outcome);
        }
        noteFailure(r);
        expect(r.outcome, `${label} / ${kind}: ${r.detail}`).not.toBe("other");
        // Whatever happened, the next fault-free run completes (now and then the other instance's too),
        // and the share is sound.
        const next = [...(r.outcome === "completed" ? [] : [faulted]), ...(n % 4 === 0 || side !== "push" ? [other] : [])];
        for (const inst of next) {
          const again = await inst.sync();
          expect(again.outcome, `after ${label} / ${kind}, ${inst.name}: ${again.detail}`).toBe("completed");
        }
        const check = checkShare(join(share.dir, "chosen"));
        expect(check.problems, `after ${label} / ${kind}`).toEqual([]);
        if (process.env.SYNCD_FAULT_DEBUG) console.log(`${label} / ${kind}: ${r.outcome} in ${took} ms (case ${Date.now() - t0} ms) ${r.detail ?? ""}`);
      }
    }
    expect(unreached, "every planned fault hit its request").toEqual([]);
    await converge([a, b], model);
    expectShareSound(join(share.dir, "chosen"));
    console.log(perStep.format("chosen faults by step of the run:", targets.map((t) => t[0])));
  });
});

describe.each(shareMatrix())("random faults on $name", (kind: ShareKind) => {
  it(`${ROUNDS} rounds of concurrent syncs by 3 instances (one the CLI) with fresh edits: each run completes or fails cleanly; then all converge`, { timeout: 240_000 }, async () => {
    const share = await kind.start();
    shares.push(share);
    const seed = SEED + (kind.name === "apache" ? 1000 : 0);
    const rand = seededRandom(seed);
    const insts = [
      await inProcess("p1", share, "random", seed + 1),
      await inProcess("p2", share, "random", seed + 2),
      await cliProcess("c1", share, "random", seed + 3),
    ];
    opened.push(...insts);
    const model = new LibraryModel();
    const own = new Map<string, string[]>(insts.map((i) => [i.name, []]));
    const shared = await insts[0]!.edit(async (lib) => {
      const e = await lib.add({ source: Buffer.from("shared"), name: "shared.txt" });
      model.add(e.id, e.name, e.hash);
      return e.id;
    });
    for (const i of insts) expect((await i.sync()).outcome).toBe("completed");

    const random = { rate: 0.05, kinds: FAULT_KINDS };
    for (const i of insts) i.proxy.setRandom(random);
    const local = new OutcomeTable();
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of insts) {
        await i.edit(async (lib) => {
          const mine = own.get(i.name)!;
          const e = await lib.add({ source: randomBytes(1024 + Math.floor(rand() * 96 * 1024)), name: `${i.name}/r${round}.bin`, meta: { by: i.name } });
          model.add(e.id, e.name, e.hash, { by: i.name });
          mine.push(e.id);
          lib.updateMeta(shared, { set: { [i.name]: round } });
          model.setMeta(shared, i.name, round);
          const live = mine.filter((id) => !model.entries.get(id)!.deleted);
          if (live.length > 1 && rand() < 0.4) {
            const id = live[Math.floor(rand() * (live.length - 1))]!;
            const content = randomBytes(2048);
            await lib.updateContent(id, content);
            model.setContent(id, sha256(content));
          }
          if (live.length > 2 && rand() < 0.3) {
            const id = live[0]!;
            lib.remove(id);
            model.remove(id);
          }
        });
      }
      await Promise.all(
        insts.map(async (i) => {
          const mark = i.proxy.mark();
          const t0 = Date.now();
          const r = await i.sync();
          if (process.env.SYNCD_FAULT_DEBUG) console.log(`${kind.name} r${round} ${i.name} ${Date.now() - t0} ms ${r.outcome} ${i.proxy.faults(mark).map((f) => `${f.fault}@${f.method} ${f.path.slice(-30)}`).join(", ")} ${r.detail ?? ""}`);
          noteFailure(r);
          for (const f of i.proxy.faults(mark)) local.record(f.fault as FaultKind, r.outcome);
          expect(r.outcome, `${kind.name} round ${round}, ${i.name}: ${r.detail}`).not.toBe("other");
        }),
      );
    }
    randomTable.merge(local);
    expect(local.total(), "faults were injected").toBeGreaterThanOrEqual(ROUNDS);

    await converge(insts, model);
    const dir = join(share.dir, "random");
    const before = checkShare(dir);
    expect(before.problems).toEqual([]);
    if (before.claims.length > 0) {
      // A claim whose release failed on every retry stays until it expires; up-to-date runs skip the
      // lock, so a forced run (after the TTL) is what removes it. No claim may survive that.
      await new Promise((r) => setTimeout(r, (SETTINGS.lockTtlSeconds! + 1.5) * 1000));
      expect((await insts[0]!.sync(true)).outcome).toBe("completed");
    }
    expectShareSound(dir);
    const check = checkShare(dir);
    console.log(
      `${kind.name}: ${check.dataFiles} data files (${check.orphans} unreferenced), version ${check.version}, ` +
        `${before.claims.length} expired claims left after convergence, ${check.tempFiles.length} stale metadata.db.tmp-* files`,
    );
  });
});
