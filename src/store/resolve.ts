/**
 * `syncd resolve ID --strategy …` and `POST /api/v1/sync/resolve-conflict` (SPEC §5, §6): resolves one open
 * conflict through the library's one write path. The decision is sync/resolution.ts (pure); this module
 * applies it in one IMMEDIATE transaction:
 * - the entry gets the resolution's base, a version above both sides, a fresh clock stamp, this instance as
 *   origin, and becomes pending: the next sync merges it against the share, pushes the winning local
 *   values, pulls (and downloads) the winning remote ones, and every instance follows on its next sync;
 * - keep_both adds the local state as a new entry (new id, same content, named
 *   `report (conflict <this instance> <date>).pdf`), pending like any addition;
 * - the conflict is marked resolved.
 * The conflict row is re-read inside the transaction: a conflict resolved meanwhile (by another process, or
 * closed by a sync that found the other side had settled it) is refused, and nothing is written.
 */
import { SyncdError, UsageError } from "../errors.js";
import type { Entry, EntryState } from "../model/entry.js";
import { conflictCopyName } from "../sync/plan.js";
import { isResolveStrategy, planResolution, RESOLVE_STRATEGIES, type ResolveStrategy } from "../sync/resolution.js";
import { type EntryRow, rowToEntry, toState } from "./entry-row.js";
import type { Library } from "./library.js";

export { RESOLVE_STRATEGIES, type ResolveStrategy } from "../sync/resolution.js";

export interface ResolveResult {
  conflictId: string;
  strategy: ResolveStrategy;
  /** The entry, as it now is locally (pending until the next sync). */
  entry: Entry;
  /** keep_both: the new entry holding the local side; null otherwise. */
  copy: Entry | null;
}

/** No conflict with that id in this library (exit code 1; HTTP 404). */
export class ConflictNotFoundError extends SyncdError {
  constructor(id: string) {
    super("conflict-not-found", `No conflict with id ${id} in this library; "syncd conflicts" lists the open ones.`);
  }
}

/** The conflict was already resolved, here or by a sync that found the other side had settled it (exit 1; HTTP 409). */
export class ConflictResolvedError extends SyncdError {
  constructor(id: string, at: number) {
    super("conflict-resolved", `Conflict ${id} was already resolved (${new Date(at).toISOString()}); nothing was changed.`);
  }
}

/** Checks a strategy given by a user or an HTTP client (exit code 2; HTTP 400). */
export function parseStrategy(value: unknown): ResolveStrategy {
  if (isResolveStrategy(value)) return value;
  const got = typeof value === "string" ? JSON.stringify(value) : value === undefined ? "none" : `a ${typeof value}`;
  throw new UsageError(`Unknown conflict strategy ${got}: use one of ${RESOLVE_STRATEGIES.join(", ")}.`, { code: "invalid-strategy" });
}

interface ConflictRow {
  id: string;
  entry_id: string;
  remote: string;
  resolved_at: number | null;
}

/**
 * Resolves one open conflict (see the module comment). `strategy` is checked (parseStrategy), so it may come
 * straight from a request body. Throws ConflictNotFoundError, ConflictResolvedError or UsageError.
 */
export function resolveConflict(library: Library, conflictId: string, strategy: string): ResolveResult {
  const chosen = parseStrategy(strategy);
  const { db } = library;
  return library.writeTransaction((w) => {
    const conflict = db.prepare("SELECT id, entry_id, remote, resolved_at FROM conflicts WHERE id = ?").get(conflictId) as ConflictRow | undefined;
    if (!conflict) throw new ConflictNotFoundError(conflictId);
    if (conflict.resolved_at !== null) throw new ConflictResolvedError(conflictId, conflict.resolved_at);
    const row = db.prepare("SELECT * FROM entries WHERE id = ?").get(conflict.entry_id) as EntryRow | undefined;
    if (!row) {
      throw new SyncdError("conflict-orphaned", `Conflict ${conflictId} is about entry ${conflict.entry_id}, which is not in the library; nothing was changed.`);
    }
    const local = toState(rowToEntry(row));
    const base = row.base ? (JSON.parse(row.base) as EntryState) : null;
    const remote = JSON.parse(conflict.remote) as EntryState;
    const resolution = planResolution(row.id, local, base, remote, chosen);

    const { hlc, now } = w.stamp();
    const copy = resolution.copyLocal
      ? w.insert(conflictCopyName(local.name, library.instanceName, now), { hash: local.hash, size: local.size }, local.meta)
      : null;
    const updated = db
      .prepare(
        `UPDATE entries SET version = @version, hlc = @hlc, origin = @origin, sync_status = 'pending', base = @base, updated_at = @now
         WHERE id = @id AND hlc = @expectHlc`,
      )
      .run({
        id: row.id,
        version: Math.max(local.version, remote.version) + 1,
        hlc,
        origin: library.instanceId,
        base: resolution.base ? JSON.stringify(resolution.base) : null,
        now,
        expectHlc: row.hlc,
      });
    const closed = db.prepare("UPDATE conflicts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL").run(now, conflictId);
    if (updated.changes !== 1 || closed.changes !== 1) {
      // Cannot happen under the IMMEDIATE transaction; if it does, roll everything back.
      throw new SyncdError("conflict-race", `Conflict ${conflictId} changed while it was being resolved; nothing was changed, try again.`);
    }
    // One open conflict per entry is the engine's rule; close any stray one with it.
    db.prepare("UPDATE conflicts SET resolved_at = ? WHERE entry_id = ? AND resolved_at IS NULL").run(now, row.id);
    return { conflictId, strategy: chosen, entry: library.require(row.id), copy };
  });
}

/** One conflict `resolveAllConflicts` could not resolve, and why (it was resolved meanwhile, its entry is gone…). */
export interface ResolveFailure {
  conflictId: string;
  error: SyncdError;
}

/**
 * `syncd resolve --all --strategy …`: every conflict open now, resolved one by one with the same strategy
 * (each in its own transaction, as resolveConflict). A conflict that another process or a sync settled
 * meanwhile is skipped, not an error; any other refusal is collected and the others still resolved.
 */
export function resolveAllConflicts(library: Library, strategy: string): { resolved: ResolveResult[]; failed: ResolveFailure[] } {
  const chosen = parseStrategy(strategy);
  const ids = library.db.prepare("SELECT id FROM conflicts WHERE resolved_at IS NULL ORDER BY created_at").pluck().all() as string[];
  const resolved: ResolveResult[] = [];
  const failed: ResolveFailure[] = [];
  for (const id of ids) {
    try {
      resolved.push(resolveConflict(library, id, chosen));
    } catch (err) {
      if (err instanceof ConflictResolvedError) continue;
      if (err instanceof SyncdError) failed.push({ conflictId: id, error: err });
      else throw err;
    }
  }
  return { resolved, failed };
}
