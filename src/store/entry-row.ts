/**
 * The one place where a row of the local `entries` table (migrations.ts, v1) becomes an Entry and back,
 * and where application metadata is checked before it is stored.
 */
import { IntegrityError, UsageError } from "../errors.js";
import { type Entry, type EntryState, type JsonValue, type Meta, type SyncStatus, canonicalJson } from "../model/entry.js";

export interface EntryRow {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: string;
  version: number;
  deleted: number;
  hlc: string;
  origin: string;
  sync_status: SyncStatus;
  synced_rev: number | null;
  base: string | null;
  created_at: number;
  updated_at: number;
}

export function rowToEntry(row: EntryRow): Entry {
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    size: row.size,
    meta: parseMeta(row.id, row.meta),
    version: row.version,
    deleted: row.deleted === 1,
    hlc: row.hlc,
    origin: row.origin,
    syncStatus: row.sync_status,
  };
}

/** The `meta` column of entry `id`, parsed; a column that is not JSON is reported as damage to the library. */
export function parseMeta(id: string, json: string): Meta {
  try {
    return JSON.parse(json) as Meta;
  } catch (err) {
    throw new IntegrityError(`The local library holds unreadable metadata for entry ${id}.`, { cause: err });
  }
}

/** The synced part of an entry (drops id and syncStatus), as the sync engine compares and stores it. */
export function toState(entry: EntryState): EntryState {
  return {
    name: entry.name,
    hash: entry.hash,
    size: entry.size,
    meta: entry.meta,
    deleted: entry.deleted,
    version: entry.version,
    hlc: entry.hlc,
    origin: entry.origin,
  };
}

/** Metadata of one entry travels in every instance's copy of metadata.db: keep it bounded. */
export const MAX_META_BYTES = 1024 * 1024;
const MAX_META_DEPTH = 32;

/**
 * Checks that `meta` is a JSON object made only of JSON values (no undefined, NaN, Date, class instances,
 * cycles) and returns its canonical JSON, the form stored in the table (key order never makes two equal
 * metadata differ).
 */
export function metaToJson(meta: unknown): string {
  if (!isPlainObject(meta)) {
    throw new UsageError(`Invalid metadata: it must be a JSON object (got ${describe(meta)}).`, { code: "invalid-meta" });
  }
  checkJson(meta, "meta", 0);
  const json = canonicalJson(meta as Meta);
  if (Buffer.byteLength(json) > MAX_META_BYTES) {
    throw new UsageError(`Invalid metadata: it is larger than ${MAX_META_BYTES} bytes as JSON.`, { code: "invalid-meta" });
  }
  return json;
}

function checkJson(value: unknown, path: string, depth: number): asserts value is JsonValue {
  const bad = (problem: string) => new UsageError(`Invalid metadata: ${path} ${problem}.`, { code: "invalid-meta" });
  if (depth > MAX_META_DEPTH) throw bad(`is nested deeper than ${MAX_META_DEPTH} levels`);
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw bad("is not a finite number");
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkJson(item, `${path}[${i}]`, depth + 1));
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`, depth + 1);
    return;
  }
  throw bad(`is not a JSON value (got ${describe(value)})`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return (value as object).constructor?.name ?? "an object";
  return typeof value;
}
