/**
 * resolveConflict (src/store/resolve.ts) on a real Library in a temp dir, and its pure decision
 * (src/sync/resolution.ts) against the planner.
 *
 * A conflict is set up the way the engine holds one: the entry is synced (base = its state), edited here
 * through the write path, the share's row is another instance's edit, and the planner's own conflict record
 * (manual policy) is held with LocalSyncView.hold. After resolving, "the next sync" is the planner run on
 * (the local row, its base, the share's row): it must push, pull or merge toward the chosen side, and record
 * a new conflict only when the share moved on since the conflict was recorded.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { ulid } from "ulidx";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { sameContent, type Entry, type EntryState, type Meta } from "../../src/model/entry.js";
import { countOpenConflicts, listOpenConflicts } from "../../src/store/conflicts.js";
import { openLibrary, toState, type Library } from "../../src/store/library.js";
import { ConflictNotFoundError, ConflictResolvedError, parseStrategy, resolveAllConflicts, resolveConflict } from "../../src/store/resolve.js";
import { compareHlc, formatHlc, parseHlc } from "../../src/sync/hlc.js";
import { LocalSyncView } from "../../src/sync/local-sync.js";
import { conflictCopyName, planEntry, type ConflictPolicy, type EntryAction, type PlanContext } from "../../src/sync/plan.js";
import { planResolution, RESOLVE_STRATEGIES, type ResolveStrategy } from "../../src/sync/resolution.js";

const sha = (data: string) => createHash("sha256").update(data).digest("hex");
const REMOTE = "01REMOTEINSTANCE0000000000";
let root: string;
const open: Library[] = [];

async function lib(name = "laptop"): Promise<Library> {
  const l = await openLibrary(join(root, "data"), { instanceName: name });
  open.push(l);
  return l;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "syncd-resolve-"));
});
afterEach(() => {
  for (const l of open.splice(0)) l.close();
  rmSync(root, { recursive: true, force: true });
});

let remoteWall = Date.now() + 60_000; // the other instance's edits: ahead of ours, but within the drift bound
/** An edit made on another instance and published to the share. */
function remoteEdit(from: EntryState, change: Partial<EntryState>): EntryState {
  return { ...from, ...change, version: from.version + 1, hlc: formatHlc({ wall: ++remoteWall, counter: 0, node: REMOTE }), origin: REMOTE };
}
const content = (text: string) => ({ hash: sha(text), size: Buffer.byteLength(text) });

function ctx(l: Library, policy: ConflictPolicy = "manual"): PlanContext {
  return {
    policy,
    instanceId: l.instanceId,
    instanceName: l.instanceName,
    stamp: () => l.clock.tick(),
    newId: () => ulid(),
    now: Date.now(),
    nameOf: (id) => (id === REMOTE ? "desktop" : id),
  };
}

interface Row {
  state: EntryState;
  base: EntryState | null;
  status: string;
}
function row(l: Library, id: string): Row {
  const r = new LocalSyncView(l.db).get(id);
  if (!r) throw new Error(`no row ${id}`);
  return { state: r.state, base: r.base, status: r.status };
}

/** The next sync's decision for the entry, with the share holding `share`. */
function nextSync(l: Library, id: string, share: EntryState, policy: ConflictPolicy = "manual"): EntryAction | null {
  const r = row(l, id);
  return planEntry({ id, local: r.state, base: r.base, remote: share, pending: r.status === "pending" }, ctx(l, policy));
}

/** The share's state after that sync. */
function sharedAfter(action: EntryAction | null, share: EntryState): EntryState {
  return action?.remote ?? share;
}

/** A synced entry, as after a sync that pushed or pulled it. */
async function synced(l: Library, text: string, name = "dir/report.pdf", meta: Meta = { label: "draft" }): Promise<Entry> {
  const e = await l.add({ source: Buffer.from(text), name, meta });
  new LocalSyncView(l.db).markSynced(e.id, toState(e), 1, e.hlc);
  return l.require(e.id);
}

/** Holds the conflict between the entry's current local state and `share`, exactly as the engine does. */
function hold(l: Library, id: string, share: EntryState): string {
  l.clock.receive(share.hlc); // as the engine does with every share stamp it reads
  l.persistClock();
  const action = nextSync(l, id, share);
  expect(action).toMatchObject({ reason: "conflict", base: null });
  const view = new LocalSyncView(l.db);
  expect(view.hold(action?.conflict as NonNullable<EntryAction["conflict"]>, l.require(id).hlc, () => ulid())).toBe(true);
  const [conflict] = listOpenConflicts(l.db).filter((c) => c.entryId === id);
  return (conflict as { id: string }).id;
}

/** A content conflict: edited here to `localText`, to `remoteText` on the share. */
async function contentConflict(l: Library, localMeta?: Meta, remoteMeta?: Meta) {
  const e = await synced(l, "base");
  await l.updateContent(e.id, Buffer.from("local edit"));
  if (localMeta) l.updateMeta(e.id, { set: localMeta });
  const share = remoteEdit(toState(e), { ...content("remote edit"), ...(remoteMeta ? { meta: { ...e.meta, ...remoteMeta } } : {}) });
  const conflictId = hold(l, e.id, share);
  return { e, share, conflictId, before: row(l, e.id) };
}

describe("resolveConflict", () => {
  it("local_wins: the entry is pending with the remote side as its base, so the next sync pushes it", async () => {
    const l = await lib();
    const { e, share, conflictId, before } = await contentConflict(l);
    expect(before.status).toBe("conflict");
    expect(countOpenConflicts(l.db)).toBe(1);

    const result = resolveConflict(l, conflictId, "local_wins");
    expect(result).toMatchObject({ conflictId, strategy: "local_wins", copy: null });
    const after = row(l, e.id);
    expect(result.entry).toEqual(l.require(e.id));
    expect(after.status).toBe("pending");
    // Content unchanged here; bookkeeping: a version above both sides, a fresh stamp of this instance.
    expect(sameContent(after.state, before.state)).toBe(true);
    expect(after.state.version).toBe(Math.max(before.state.version, share.version) + 1);
    expect(compareHlc(after.state.hlc, before.state.hlc)).toBe(1);
    expect(compareHlc(after.state.hlc, share.hlc)).toBe(1);
    expect(after.state.origin).toBe(l.instanceId);
    expect(after.base?.hash).toBe(share.hash);
    expect(countOpenConflicts(l.db)).toBe(0);
    const closed = l.db.prepare("SELECT resolved_at FROM conflicts WHERE id = ?").get(conflictId) as { resolved_at: number | null };
    expect(closed.resolved_at).toBeGreaterThan(0);

    const action = nextSync(l, e.id, share);
    expect(action).toMatchObject({ reason: "push", remote: after.state });
    expect(action?.conflict).toBeUndefined();
  });

  it("remote_wins: the local row keeps content it has (nothing to download yet) and the next sync pulls the share's", async () => {
    const l = await lib();
    const { e, share, conflictId, before } = await contentConflict(l);
    const { entry } = resolveConflict(l, conflictId, "remote_wins");
    expect(entry).toMatchObject({ hash: before.state.hash, syncStatus: "pending" });
    expect(l.blobs.has(entry.hash)).toBe(true);
    expect(l.blobs.has(share.hash)).toBe(false);
    const action = nextSync(l, e.id, share);
    expect(action).toEqual({ id: e.id, reason: "pull", local: share, remote: null, base: share });
  });

  it("merges what does not conflict, like the policies of the same names", async () => {
    const l = await lib();
    for (const strategy of ["local_wins", "remote_wins"] as const) {
      // Content conflicts; metadata: each side set its own key.
      const { e, share, conflictId } = await contentConflict(l, { mine: 1 }, { theirs: 2 });
      resolveConflict(l, conflictId, strategy);
      const action = nextSync(l, e.id, share);
      expect(action?.reason).toBe("merge");
      const winner = strategy === "local_wins" ? sha("local edit") : share.hash;
      expect(action?.remote).toMatchObject({ hash: winner, meta: { label: "draft", mine: 1, theirs: 2 } });
      expect(action?.local).toEqual(action?.remote);
      // The same outcome as the policy applied at the sync that found the conflict.
      const policy = planEntry({ id: e.id, local: row(l, e.id).state, base: toState(e), remote: share, pending: true }, ctx(l, strategy));
      expect(sameContent(action?.remote as EntryState, policy?.remote as EntryState)).toBe(true);
    }
  });

  it("keep_both: the local side becomes a new pending entry with the same content, and the entry takes the remote side", async () => {
    const l = await lib();
    const { e, share, conflictId, before } = await contentConflict(l, { mine: true });
    const today = new Date().toISOString().slice(0, 10);
    const { entry, copy } = resolveConflict(l, conflictId, "keep_both");
    expect(copy).not.toBeNull();
    const c = copy as Entry;
    expect(c.id).not.toBe(e.id);
    expect(c).toMatchObject({
      name: `dir/report (conflict laptop ${today}).pdf`,
      hash: before.state.hash,
      size: before.state.size,
      meta: before.state.meta,
      version: 1,
      deleted: false,
      origin: l.instanceId,
      syncStatus: "pending",
    });
    expect(c.name).toBe(conflictCopyName("dir/report.pdf", "laptop", Date.now())); // (unless run across midnight UTC)
    expect(l.get(c.id)).toEqual(c);
    expect(l.blobs.has(c.hash)).toBe(true);
    expect(entry.syncStatus).toBe("pending");
    // Next sync: the copy is new (pushed), the entry pulls the remote side and keeps the local-only key.
    expect(planEntry({ id: c.id, local: toState(c), base: null, remote: null, pending: true }, ctx(l))).toMatchObject({ reason: "push" });
    const action = nextSync(l, e.id, share);
    expect(action).toMatchObject({ reason: "merge", local: { hash: share.hash, meta: { label: "draft", mine: true } } });
    // Applied as the engine applies it (download first): the entry stops using the local bytes, the copy
    // still holds them.
    await l.blobs.writeBuffer(Buffer.from("remote edit"));
    const applied = action as EntryAction;
    expect(new LocalSyncView(l.db).write(e.id, applied.local as EntryState, applied.base as EntryState, 2, entry.hlc)).toBe(true);
    l.releaseBlob(before.state.hash);
    expect(l.blobs.has(before.state.hash)).toBe(true);
    expect(l.require(e.id)).toMatchObject({ hash: share.hash, syncStatus: "synced" });
  });

  describe("edit/delete conflicts", () => {
    async function editDelete(l: Library, deletedHere: boolean) {
      const e = await synced(l, "base");
      let share: EntryState;
      if (deletedHere) {
        l.remove(e.id);
        share = remoteEdit(toState(e), content("remote edit"));
      } else {
        l.updateMeta(e.id, { set: { label: "final" } });
        share = remoteEdit(toState(e), { deleted: true });
      }
      return { e, share, conflictId: hold(l, e.id, share) };
    }
    const cases: Array<[boolean, ResolveStrategy, "push" | "pull", boolean]> = [
      // [deleted here, strategy, next sync, live afterwards]
      [true, "local_wins", "push", false],
      [true, "remote_wins", "pull", true],
      [true, "keep_both", "pull", true], // the edit survives
      [false, "local_wins", "push", true],
      [false, "remote_wins", "pull", false],
      [false, "keep_both", "push", true], // the edit survives
    ];
    it.each(cases)("deleted here: %s, %s → the next sync %ss (live: %s), no copy", async (deletedHere, strategy, reason, live) => {
      const l = await lib();
      const { e, share, conflictId } = await editDelete(l, deletedHere);
      const { copy } = resolveConflict(l, conflictId, strategy);
      expect(copy).toBeNull();
      expect(l.list({ includeDeleted: true })).toHaveLength(1);
      const action = nextSync(l, e.id, share);
      expect(action?.reason).toBe(reason);
      expect(action?.conflict).toBeUndefined();
      expect(sharedAfter(action, share).deleted).toBe(!live);
    });
  });

  it("uses the entry's current local state: edited to match the share meanwhile, nothing conflicts and the next sync converges", async () => {
    const l = await lib();
    const { e, share, conflictId } = await contentConflict(l);
    await l.updateContent(e.id, Buffer.from("remote edit"));
    expect(row(l, e.id).status).toBe("conflict"); // an edit of a held entry stays held
    resolveConflict(l, conflictId, "local_wins");
    expect(nextSync(l, e.id, share)).toMatchObject({ reason: "converged", remote: null, base: share });
  });

  it("a later local edit stays part of the resolution", async () => {
    const l = await lib();
    const { e, share, conflictId } = await contentConflict(l);
    resolveConflict(l, conflictId, "remote_wins");
    l.updateMeta(e.id, { set: { after: "yes" } });
    const action = nextSync(l, e.id, share);
    expect(action).toMatchObject({ reason: "merge", remote: { hash: share.hash, meta: { label: "draft", after: "yes" } } });
  });

  it("when the share changed again since the conflict was recorded, the next sync records a new conflict", async () => {
    const l = await lib();
    const { e, share, conflictId } = await contentConflict(l);
    const newer = remoteEdit(share, content("remote edit 2"));
    resolveConflict(l, conflictId, "local_wins");
    const action = nextSync(l, e.id, newer);
    expect(action).toMatchObject({ reason: "conflict", base: null, conflict: { kind: "content", fields: ["content"], remote: newer } });
    // ... which the engine holds as a new open conflict; the resolved one stays resolved.
    expect(new LocalSyncView(l.db).hold(action?.conflict as NonNullable<EntryAction["conflict"]>, l.require(e.id).hlc, () => ulid())).toBe(true);
    const open = listOpenConflicts(l.db);
    expect(open).toHaveLength(1);
    expect(open[0]?.id).not.toBe(conflictId);
    expect(open[0]?.remote).toEqual(newer);
    // A change of the share that does not touch the resolved field merges instead.
    const l2 = await lib("second");
    const other = await contentConflict(l2);
    resolveConflict(l2, other.conflictId, "local_wins");
    const metaOnly = remoteEdit(other.share, { meta: { label: "draft", new: 1 } });
    expect(nextSync(l2, other.e.id, metaOnly)).toMatchObject({ reason: "merge", remote: { hash: sha("local edit"), meta: { label: "draft", new: 1 } } });
  });

  it("refuses an unknown id, an already resolved one and an unknown strategy, changing nothing", async () => {
    const l = await lib();
    const { e, conflictId, before } = await contentConflict(l);
    const unknown = (() => {
      try {
        resolveConflict(l, "01NOSUCHCONFLICT", "local_wins");
      } catch (err) {
        return err;
      }
    })();
    expect(unknown).toBeInstanceOf(ConflictNotFoundError);
    expect(unknown).toMatchObject({ exitCode: 1, code: "conflict-not-found", message: 'No conflict with id 01NOSUCHCONFLICT in this library; "syncd conflicts" lists the open ones.' });
    expect(() => resolveConflict(l, conflictId, "newest")).toThrow(UsageError);
    expect(() => resolveConflict(l, conflictId, "newest")).toThrow(/^Unknown conflict strategy "newest": use one of local_wins, remote_wins, keep_both\.$/);
    expect(() => parseStrategy(undefined)).toThrow(/strategy none/);
    expect(row(l, e.id)).toEqual(before);
    expect(countOpenConflicts(l.db)).toBe(1);

    resolveConflict(l, conflictId, "remote_wins");
    const after = row(l, e.id);
    let again: unknown;
    try {
      resolveConflict(l, conflictId, "local_wins");
    } catch (err) {
      again = err;
    }
    expect(again).toBeInstanceOf(ConflictResolvedError);
    expect(again).toMatchObject({ exitCode: 1, message: expect.stringMatching(new RegExp(`^Conflict ${conflictId} was already resolved \\(.+\\); nothing was changed\\.$`)) });
    expect(row(l, e.id)).toEqual(after);
  });

  it("resolveAllConflicts (resolve --all) resolves every open conflict with one strategy, and reports the ones it cannot", async () => {
    const l = await lib();
    const held: Array<{ id: string; share: EntryState; conflictId: string }> = [];
    for (const name of ["a.txt", "b.txt", "c.txt"]) {
      const e = await synced(l, `base ${name}`, name);
      await l.updateContent(e.id, Buffer.from(`local ${name}`));
      const share = remoteEdit(toState(e), content(`remote ${name}`));
      held.push({ id: e.id, share, conflictId: hold(l, e.id, share) });
    }
    // A conflict about an entry that is no longer in the library cannot be resolved: reported, the others go on.
    const orphan = l.db.prepare("SELECT * FROM conflicts WHERE id = ?").get(held[0]?.conflictId) as Record<string, unknown>;
    l.db.prepare("INSERT INTO conflicts (id, entry_id, kind, local, remote, fields, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run("01ORPHANCONFLICT", "01NOSUCHENTRY", orphan.kind, orphan.local, orphan.remote, orphan.fields, Date.now());
    expect(() => resolveAllConflicts(l, "newest")).toThrow(UsageError);
    expect(countOpenConflicts(l.db)).toBe(4);

    const { resolved, failed } = resolveAllConflicts(l, "keep_both");
    expect(resolved.map((r) => r.conflictId).sort()).toEqual(held.map((h) => h.conflictId).sort());
    expect(resolved.every((r) => r.strategy === "keep_both" && r.copy !== null && r.entry.syncStatus === "pending")).toBe(true);
    expect(failed).toMatchObject([{ conflictId: "01ORPHANCONFLICT", error: { code: "conflict-orphaned" } }]);
    expect(countOpenConflicts(l.db)).toBe(1);
    // Each resolution is the one resolveConflict makes: the next sync takes the share's side, no conflict.
    for (const h of held) expect(nextSync(l, h.id, h.share)?.conflict).toBeUndefined();
    expect(resolveAllConflicts(l, "local_wins").resolved).toEqual([]);
  });

  it("is one transaction: a keep_both copy that cannot be created leaves the conflict open and the entry untouched", async () => {
    const l = await lib();
    const { e, conflictId, before } = await contentConflict(l);
    const clock = l.getState("hlc");
    l.blobs.remove(before.state.hash); // the local bytes vanished (the copy is inserted after the entry is stamped)
    expect(() => resolveConflict(l, conflictId, "keep_both")).toThrow(/disappearing/);
    expect(row(l, e.id)).toEqual(before);
    expect(l.list()).toHaveLength(1);
    expect(listOpenConflicts(l.db).map((c) => c.id)).toEqual([conflictId]);
    expect(l.getState("hlc")).toBe(clock);
    // The other strategies still work.
    expect(resolveConflict(l, conflictId, "local_wins").entry.syncStatus).toBe("pending");
  });

  it("keep_both of an entry whose name is near the length limit: the copy's name is shortened, still valid", async () => {
    const l = await lib();
    const e = await synced(l, "base", `${"n".repeat(1020)}.pdf`);
    await l.updateContent(e.id, Buffer.from("local edit"));
    const conflictId = hold(l, e.id, remoteEdit(toState(e), content("remote edit")));
    const { copy } = resolveConflict(l, conflictId, "keep_both");
    expect(copy?.name).toHaveLength(1024);
    expect(copy?.name).toMatch(/^n+ \(conflict laptop \d{4}-\d{2}-\d{2}\)\.pdf$/);
  });

  it("a second handle on the same data directory (another process) finds it resolved", async () => {
    const first = await lib();
    const { conflictId } = await contentConflict(first);
    const second = await lib();
    const outcomes = ["local_wins", "remote_wins"].map((s, i) => {
      try {
        return resolveConflict(i === 0 ? first : second, conflictId, s).strategy;
      } catch (err) {
        return err;
      }
    });
    expect(outcomes[0]).toBe("local_wins");
    expect(outcomes[1]).toBeInstanceOf(ConflictResolvedError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The pure decision against the planner, over random states.

const NAMES = ["a.txt", "b/c.pdf"];
const HASHES = ["0", "1", "2"].map((c) => c.repeat(64));
const KEYS = ["k1", "k2", "k3"];

const arbEdit = fc.record({
  name: fc.option(fc.nat(NAMES.length - 1), { nil: undefined }),
  hash: fc.option(fc.nat(HASHES.length - 1), { nil: undefined }),
  meta: fc.array(fc.tuple(fc.nat(KEYS.length - 1), fc.integer({ min: -1, max: 2 })), { maxLength: 3 }),
});
type Edit = typeof arbEdit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(from: EntryState, edit: Edit, node: string, wall: number, deleteIt: boolean): EntryState {
  const meta = { ...from.meta };
  for (const [k, v] of edit.meta) {
    if (v < 0) delete meta[KEYS[k] as string];
    else meta[KEYS[k] as string] = v;
  }
  return {
    ...from,
    name: edit.name === undefined ? from.name : (NAMES[edit.name] as string),
    hash: edit.hash === undefined ? from.hash : (HASHES[edit.hash] as string),
    size: edit.hash === undefined ? from.size : edit.hash + 1,
    meta,
    deleted: deleteIt,
    version: from.version + 1,
    hlc: formatHlc({ wall, counter: 0, node }),
    origin: node,
  };
}

describe("planResolution (property)", () => {
  const pctx = (policy: ConflictPolicy): PlanContext => {
    let n = 0;
    return {
      policy,
      instanceId: "LOCAL",
      instanceName: "laptop",
      stamp: () => formatHlc({ wall: 9_000_000, counter: ++n, node: "LOCAL" }),
      newId: () => `copy${++n}`,
      now: 0,
      nameOf: (x) => x,
    };
  };

  it("the next sync has no conflict and reaches what the policy of the same name would; a moved share still conflicts or merges", () => {
    fc.assert(
      fc.property(
        fc.record({
          baseKind: fc.constantFrom("live", "live", "none", "tombstone"),
          local: arbEdit,
          remote: arbEdit,
          later: arbEdit,
          localDeleted: fc.nat(4),
          remoteDeleted: fc.nat(4),
          strategy: fc.constantFrom(...RESOLVE_STRATEGIES),
        }),
        ({ baseKind, local: le, remote: re, later, localDeleted, remoteDeleted, strategy }) => {
          const b0: EntryState = { name: "a.txt", hash: HASHES[0] as string, size: 1, meta: { k1: 0 }, deleted: false, version: 3, hlc: formatHlc({ wall: 1000, counter: 0, node: "OTHER" }), origin: "OTHER" };
          const base = baseKind === "none" ? null : baseKind === "tombstone" ? { ...b0, deleted: true } : b0;
          const local = applyEdit(b0, le, "LOCAL", 2000, localDeleted === 0);
          const remote = applyEdit(b0, re, "REMOTE", 3000, remoteDeleted === 0);
          const held = planEntry({ id: "E", local, base, remote, pending: true }, pctx("manual"));
          fc.pre(held?.reason === "conflict");
          const res = planResolution("E", local, base, remote, strategy);
          expect(res.conflict).toEqual(held?.conflict);
          // The next sync with the share unchanged: no conflict, and the share ends where the policy puts it.
          const next = planEntry({ id: "E", local, base: res.base, remote, pending: true }, pctx("manual"));
          expect(next?.conflict).toBeUndefined();
          expect(next).not.toBeNull();
          const result = sharedAfter(next, remote);
          const policy = strategy === "keep_both" ? (held?.conflict?.kind === "edit-delete" ? "keep_both" : "remote_wins") : strategy;
          const expected = planEntry({ id: "E", local, base, remote, pending: true }, pctx(policy));
          expect(sameContent(result, expected?.remote as EntryState)).toBe(true);
          expect(res.copyLocal).toBe(strategy === "keep_both" && held?.conflict?.kind !== "edit-delete");
          // The share moved on after the conflict was recorded: the next sync records a new conflict, or
          // merges and keeps every field the share changed since the resolution's base (never simply
          // overwrites the newer remote change).
          const moved = applyEdit(remote, later, "REMOTE", 4000, remote.deleted);
          fc.pre(!sameContent(moved, remote));
          const again = planEntry({ id: "E", local, base: res.base, remote: moved, pending: true }, pctx("manual"));
          if (again?.reason === "conflict") return;
          const after = sharedAfter(again, moved);
          const b = res.base as EntryState;
          if (moved.deleted && !b.deleted) expect(after.deleted).toBe(true);
          if (!moved.deleted && !b.deleted && !after.deleted) {
            if (moved.name !== b.name) expect(after.name).toBe(moved.name);
            if (moved.hash !== b.hash) expect(after.hash).toBe(moved.hash);
            for (const key of KEYS) {
              if (JSON.stringify(moved.meta[key]) !== JSON.stringify(b.meta[key])) expect(after.meta[key]).toEqual(moved.meta[key]);
            }
          }
        },
      ),
      { numRuns: Number(process.env.SYNCD_PROPERTY_RUNS ?? 300) },
    );
  });
});
