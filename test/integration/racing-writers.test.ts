/**
 * Issue 5, racing writers: four instances sync at the same moment, round after round, each with fresh
 * edits made before its run and one more made *while* its run is in progress (as the daemon's API does).
 * Every run must complete (the lease serialises them; none may fail or give up waiting); at the end every
 * instance holds the same library, equal to the model of all edits — no lost update, no duplicate, no
 * resurrection — the share is sound, and no claim is left in version.txt.lock/.
 * In-process engines (through the same retrying Remote as the CLI) on every server of the matrix.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryJson } from "../../src/cli/output.js";
import { retrying } from "../../src/remote/open.js";
import type { Remote } from "../../src/remote/remote.js";
import { listOpenConflicts } from "../../src/store/conflicts.js";
import { SyncEngine } from "../../src/sync/engine.js";
import { startDavServer, type DavServer } from "../helpers/dav-server.js";
import { checkShare, LibraryModel, runInProcess, sha256, type ListedEntry } from "../helpers/chaos.js";
import { DEFAULT_SETTINGS, makeEngineInstance, type EngineInstance } from "../helpers/engine.js";
import { seededRandom } from "../helpers/fault-proxy.js";
import { shareMatrix, type ShareKind } from "../helpers/shares.js";

const ROUNDS = Number(process.env.SYNCD_RACE_WRITER_ROUNDS ?? 8);
const WRITERS = 4;
const SEED = Number(process.env.SYNCD_RACE_WRITER_SEED ?? 777);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Phases of a run an edit may be aimed at (it lands as the run announces the phase, before its I/O). */
const EDIT_PHASES = ["metadata", "plan", "upload", "download", "publish", "apply"] as const;

/**
 * Resolves as `inst`'s engine emits the start of `phase` — or finishes its run without reaching it. The
 * engine goes on only after its next await, so whatever the caller does on resolution lands in that phase.
 */
function untilPhase(inst: EngineInstance, phase: string): Promise<void> {
  return new Promise((resolve) => {
    const events = inst.events;
    const push = events.push.bind(events);
    events.push = (...items) => {
      const n = push(...items);
      if (items.some((e) => (e.type === "sync.progress" && e.phase === phase) || e.type === "sync.completed" || e.type === "sync.failed")) {
        events.push = push;
        resolve();
      }
      return n;
    };
  });
}

describe.each(shareMatrix())("racing writers on $name", (kind: ShareKind) => {
  it(`${WRITERS} instances × ${ROUNDS} rounds of simultaneous syncs with edits before and during each run: no lost update, no duplicate, no stuck lock`, { timeout: 240_000 }, async () => {
    const share = await kind.start();
    const insts: EngineInstance[] = [];
    try {
      for (let k = 0; k < WRITERS; k++) {
        insts.push(
          await makeEngineInstance(
            `w${k}`,
            { url: share.url, root: "/racers", username: share.username, password: share.password },
            { lockTtlSeconds: 5, lockWaitSeconds: 60, concurrency: 4 },
            { wrap: (remote, settings) => retrying(remote, { sync: settings }) },
          ),
        );
      }
      const rand = seededRandom(SEED);
      const model = new LibraryModel();
      const own = new Map<string, string[]>(insts.map((i) => [i.name, []]));
      const add = async (i: EngineInstance, name: string, bytes: Buffer) => {
        const e = await i.library.add({ source: bytes, name, meta: { by: i.name } });
        model.add(e.id, e.name, e.hash, { by: i.name });
        own.get(i.name)!.push(e.id);
        return e.id;
      };
      const first = insts[0]!;
      const shared = await add(first, "shared.txt", Buffer.from("shared"));
      own.get(first.name)!.pop(); // everyone edits it (each its own keys); nobody deletes it
      for (const i of insts) expect((await runInProcess(() => i.engine.sync(), 60_000)).outcome).toBe("completed");

      /** Where each instance's run was when the edit during it landed. */
      const editPhases = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const i of insts) {
          await add(i, `${i.name}/r${round}.bin`, randomBytes(500 + Math.floor(rand() * 20_000)));
          i.library.updateMeta(shared, { set: { [i.name]: round } });
          model.setMeta(shared, i.name, round);
          const live = own.get(i.name)!.filter((id) => !model.entries.get(id)!.deleted);
          if (live.length > 1 && rand() < 0.5) {
            const id = live[Math.floor(rand() * (live.length - 1))]!;
            const content = randomBytes(1000 + Math.floor(rand() * 5000));
            await i.library.updateContent(id, content);
            model.setContent(id, sha256(content));
          }
          if (live.length > 3 && rand() < 0.3) {
            i.library.remove(live[0]!);
            model.remove(live[0]!);
          }
        }
        const results = await Promise.all(
          insts.map(async (i) => {
            const mark = i.events.length;
            // The edit during the run lands at a random moment, or as the run enters a chosen phase.
            const target = rand() < 0.3 ? null : EDIT_PHASES[Math.floor(rand() * EDIT_PHASES.length)]!;
            const delay = Math.floor(rand() * 600);
            const reached = target ? untilPhase(i, target) : sleep(delay);
            const run = runInProcess(() => i.engine.sync(), 90_000);
            await reached;
            const seen = i.events.slice(mark);
            const progress = seen.filter((e) => e.type === "sync.progress");
            const phase = seen.some((e) => e.type === "sync.completed" || e.type === "sync.failed")
              ? "after the run"
              : progress.length > 0
                ? `phase ${(progress.at(-1) as { phase: string }).phase}`
                : "before the run started";
            editPhases.set(phase, (editPhases.get(phase) ?? 0) + 1);
            i.library.updateMeta(shared, { set: { [`${i.name}-live`]: round } });
            model.setMeta(shared, `${i.name}-live`, round);
            await add(i, `${i.name}/live-${round}.bin`, randomBytes(300));
            return [i.name, await run] as const;
          }),
        );
        for (const [name, r] of results) expect(r.outcome, `round ${round}, ${name}: ${r.detail}`).toBe("completed");
      }

      // Settle: a few fault-free rounds, one instance at a time, until all agree and nothing is pending.
      let listings: ListedEntry[][] = [];
      let previous = "";
      for (let pass = 0; pass < 6; pass++) {
        for (const i of insts) expect((await runInProcess(() => i.engine.sync(), 60_000)).outcome).toBe("completed");
        listings = insts.map((i) => i.library.list({ includeDeleted: true }).map((e) => entryJson(e) as unknown as ListedEntry));
        const now = JSON.stringify(listings[0]);
        if (listings.every((l) => JSON.stringify(l) === now) && listings[0]!.every((e) => e.syncStatus === "synced") && now === previous) break;
        previous = now;
      }
      const problems = listings.flatMap((l, k) => model.problems(l, insts[k]!.name));
      const statuses = await Promise.all(insts.map((i) => i.engine.status()));
      // A conflict whose two sides were both written by the instance holding it is one with itself.
      const held = insts.flatMap((i) => listOpenConflicts(i.library.db));
      const selfConflicts = held.filter((c) => c.local.origin === c.remote.origin).length;
      const check = checkShare(join(share.dir, "racers"));
      const waits = insts.reduce((n, i) => n + i.events.filter((e) => e.type === "sync.progress" && e.lock !== undefined).length, 0);
      // The figures first, so that they are there for the report even when an assertion below fails.
      console.log(
        `racing writers on ${kind.name}: ${WRITERS} × ${ROUNDS} simultaneous runs all completed, ${waits} lock waits; ` +
          `edits made while runs were in flight, by the run's phase: ${[...editPhases].sort().map(([p, n]) => `${p} ${n}`).join(", ")}; ` +
          `${model.entries.size} entries (${model.live().length} live) in the model, ${problems.length} differences from it, ` +
          `${statuses.reduce((n, s) => n + s.conflicts, 0)} open conflicts (${selfConflicts} of an instance with its own earlier state); share version ${check.version}, ${check.claims.length} claims left`,
      );
      expect(problems).toEqual([]);
      for (const l of listings) expect(l).toEqual(listings[0]);
      for (const status of statuses) expect(status).toMatchObject({ unsynced: 0, syncNeeded: false, conflicts: 0 });
      expect(check.problems).toEqual([]);
      expect(check.claims, "no claim left in version.txt.lock/").toEqual([]);
      expect(check.tempFiles).toEqual([]);
    } finally {
      for (const i of insts) {
        await i.close();
        rmSync(dirname(i.library.dataDir), { recursive: true, force: true });
      }
      await share.close();
    }
  });
});

/**
 * What the random rounds above run into, made deterministic: an edit that lands while a run is publishing
 * an entry it *merged* (this instance's change and another's). The run cannot commit the merged state
 * locally over the newer edit, so the row stays pending with its old base; the next run must then see the
 * share's row as this instance's own merge (an ancestor of the new edit plus the other side's change),
 * not as a conflicting change by someone else.
 */
describe("an edit made while a run publishes a merge of the same entry", () => {
  let server: DavServer;
  const opened: EngineInstance[] = [];
  beforeAll(async () => {
    server = await startDavServer();
  });
  afterAll(async () => {
    for (const i of opened) {
      await i.close();
      rmSync(dirname(i.library.dataDir), { recursive: true, force: true });
    }
    await server.close();
  });

  /** A Remote that runs `edit` just before version.txt is written (after the plan, before the local commit). */
  function editingWhilePublishing(inner: Remote, edit: () => void): Remote {
    return Object.assign(Object.create(inner) as Remote, {
      put: async (path: string, body: Parameters<Remote["put"]>[1]) => {
        if (path === "version.txt") edit();
        return inner.put(path, body);
      },
    });
  }

  it("an edit of the same key the run pushed: survives, and no conflict", async () => {
    const a = await makeEngineInstance("a", { url: server.url, root: "/during-merge-same" });
    const b = await makeEngineInstance("b", { url: server.url, root: "/during-merge-same" });
    opened.push(a, b);
    const id = await a.add("shared", "s");
    await a.engine.sync();
    await b.engine.sync();
    b.library.updateMeta(id, { set: { b: 1 } });
    await b.engine.sync();
    a.library.updateMeta(id, { set: { a: 1 } });
    const during = new SyncEngine(a.library, editingWhilePublishing(a.remote, () => a.library.updateMeta(id, { set: { a: 2 } })), DEFAULT_SETTINGS);
    await during.sync();
    const next = await a.engine.sync();
    expect(next.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ meta: { a: 2, b: 1 }, syncStatus: "synced" });
  });

  it("an edit of another key: survives, and the merged keys too", async () => {
    const a = await makeEngineInstance("a", { url: server.url, root: "/during-merge-other" });
    const b = await makeEngineInstance("b", { url: server.url, root: "/during-merge-other" });
    opened.push(a, b);
    const id = await a.add("shared", "s");
    await a.engine.sync();
    await b.engine.sync();
    b.library.updateMeta(id, { set: { b: 1 } });
    await b.engine.sync();
    a.library.updateMeta(id, { set: { a: 1 } });
    const during = new SyncEngine(a.library, editingWhilePublishing(a.remote, () => a.library.updateMeta(id, { set: { c: 1 } })), DEFAULT_SETTINGS);
    await during.sync();
    const next = await a.engine.sync();
    expect(next.conflicts).toBe(0);
    await b.engine.sync();
    for (const inst of [a, b]) expect(inst.library.get(id), inst.name).toMatchObject({ meta: { a: 1, b: 1, c: 1 }, syncStatus: "synced" });
  });
});
