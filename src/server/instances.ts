/**
 * The instances that share the library (SPEC §6 `GET /api/v1/instances`), as this instance last saw them:
 * the shared metadata's `instances` table (every publish records its instance's name and time) and its
 * commit log (the newest share version each one wrote), read from this instance's replica of the share
 * (sync/engine.ts REPLICA_FILE), so that answering needs no request to the share.
 *
 * The replica is written by sync runs; it is opened read-only for a moment per request. When it cannot be
 * read (no run yet, a format-1 share that keeps no replica, a run replacing the file right now) the answer
 * is the last one read, or this instance alone.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Library } from "../store/library.js";
import { STATE } from "../sync/sync-state.js";
import { REPLICA_FILE } from "../sync/engine.js";

export interface InstanceInfo {
  id: string;
  name: string;
  /** When it last published a change to the share (its own clock), ISO 8601; null: never. */
  lastSeen: string | null;
  /** The newest share version it wrote, while the share's commit log still holds it; null: unknown. */
  lastVersion: number | null;
  /** This daemon's own instance. */
  thisMachine: boolean;
}

const lastRead = new WeakMap<Library, InstanceInfo[]>();

export function listInstances(library: Library): InstanceInfo[] {
  let others: InstanceInfo[];
  try {
    others = readReplica(join(library.dataDir, REPLICA_FILE), library.instanceId);
    lastRead.set(library, others);
  } catch {
    others = lastRead.get(library) ?? [];
  }
  const list = others.map((i) => ({ ...i }));
  if (!list.some((i) => i.thisMachine)) {
    // Never published yet (or no replica): still one of the instances; seen at its last sync, if any.
    list.push({ id: library.instanceId, name: library.instanceName, lastSeen: library.getState(STATE.lastSyncAt) || null, lastVersion: null, thisMachine: true });
  }
  // This machine first, then the most recently seen.
  return list.sort((a, b) => Number(b.thisMachine) - Number(a.thisMachine) || (b.lastSeen ?? "").localeCompare(a.lastSeen ?? ""));
}

function readReplica(file: string, selfId: string): InstanceInfo[] {
  if (!existsSync(file)) return [];
  // No busy wait: a run keeps a transaction open on the replica (share-access.ts beginPending), and a
  // synchronous wait here would stall the daemon's event loop, the run included. Busy: the last answer.
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
  try {
    const rows = db.prepare("SELECT id, name, last_seen FROM instances ORDER BY last_seen DESC LIMIT 1000").all() as Array<{ id: unknown; name: unknown; last_seen: unknown }>;
    const hasCommits = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'commits'").get() !== undefined;
    // The commit log holds the newest 10,000 commits at most (shared-db.ts COMMITS_KEPT): bounded.
    const versions = new Map<string, number>(
      hasCommits
        ? (db.prepare("SELECT instance, MAX(version) AS v FROM commits GROUP BY instance").all() as Array<{ instance: string; v: number }>).map((r) => [r.instance, r.v])
        : [],
    );
    // Rows come from other machines through the share: keep only well-formed ones.
    return rows
      .filter((r): r is { id: string; name: string; last_seen: number } => typeof r.id === "string" && typeof r.name === "string" && Number.isFinite(r.last_seen) && Math.abs(r.last_seen as number) < 8.64e15)
      .map((r) => ({
        id: r.id,
        name: r.name.slice(0, 200),
        lastSeen: new Date(r.last_seen).toISOString(),
        lastVersion: versions.get(r.id) ?? null,
        thisMachine: r.id === selfId,
      }));
  } finally {
    db.close();
  }
}
