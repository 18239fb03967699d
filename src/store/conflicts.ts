import type { EntryState } from "../model/entry.js";
import type { OpenConflict } from "../model/conflict.js";
import type { Db } from "./db.js";

export type { OpenConflict };

export function listOpenConflicts(db: Db): OpenConflict[] {
  const rows = db
    .prepare("SELECT id, entry_id, kind, fields, local, remote, created_at FROM conflicts WHERE resolved_at IS NULL ORDER BY created_at")
    .all() as Array<{ id: string; entry_id: string; kind: string; fields: string; local: string; remote: string; created_at: number }>;
  return rows.map((r) => ({
    id: r.id,
    entryId: r.entry_id,
    kind: r.kind,
    fields: JSON.parse(r.fields) as string[],
    local: JSON.parse(r.local) as EntryState,
    remote: JSON.parse(r.remote) as EntryState,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}

export function countOpenConflicts(db: Db): number {
  return db.prepare("SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL").pluck().get() as number;
}
