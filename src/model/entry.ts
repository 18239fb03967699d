import { InvalidNameError } from "../errors.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** Application metadata of an entry: labels, collections, anything JSON. */
export type Meta = Record<string, JsonValue>;

/**
 * The part of an entry that sync carries between instances and compares three ways.
 * `hlc` and `origin` say which change produced this state (hybrid logical clock stamp, instance id).
 */
export interface EntryState {
  name: string;
  /** Lowercase hex SHA-256 of the content. */
  hash: string;
  size: number;
  meta: Meta;
  deleted: boolean;
  /** Per-entry edit counter; travels with the entry. */
  version: number;
  hlc: string;
  origin: string;
}

export type SyncStatus = "synced" | "pending" | "conflict";

export interface Entry extends EntryState {
  id: string;
  syncStatus: SyncStatus;
}

/** SHA-256 of zero bytes: the hash of an empty file. */
export const EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export const MAX_NAME_LENGTH = 1024;
const HASH_RE = /^[0-9a-f]{64}$/;

export function isValidHash(hash: string): boolean {
  return HASH_RE.test(hash);
}

/**
 * Checks that a name is a safe logical relative path (SPEC §2) and returns it unchanged.
 * Names come from users and from other instances through the share, so they are hostile until checked:
 * no `..` or `.` segment, no leading `/`, no backslash (a separator on Windows), no NUL or control
 * characters, no empty segment, and not over-long.
 */
export function validateName(name: string): string {
  const problem = nameProblem(name);
  if (problem) throw new InvalidNameError(`Invalid entry name ${JSON.stringify(name.slice(0, 200))}: ${problem}.`);
  return name;
}

export function nameProblem(name: string): string | null {
  if (typeof name !== "string" || name.length === 0) return "it is empty";
  if (name.length > MAX_NAME_LENGTH) return `it is longer than ${MAX_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "it contains a NUL or control character";
  if (name.startsWith("/")) return "it is an absolute path";
  if (name.includes("\\")) return "it contains a backslash";
  if (/^[A-Za-z]:/.test(name)) return "it starts with a drive letter";
  for (const segment of name.split("/")) {
    if (segment === "") return "it has an empty path segment";
    if (segment === "." || segment === "..") return "it has a '.' or '..' segment";
  }
  return null;
}

/** True when two states describe the same library content (bookkeeping fields aside). */
export function sameContent(a: EntryState, b: EntryState): boolean {
  if (a.deleted && b.deleted) return true;
  return a.deleted === b.deleted && a.name === b.name && a.hash === b.hash && a.size === b.size && sameMeta(a.meta, b.meta);
}

/**
 * Canonical forms of metadata objects already compared. The planner compares each entry's metadata with
 * its base and the other side several times; entry states are never mutated once built, so an object's
 * canonical form is computed once (a full plan of 100,000 entries spent most of its time here).
 */
const canonicalCache = new WeakMap<Meta, string>();

function canonicalMeta(meta: Meta): string {
  let key = canonicalCache.get(meta);
  if (key === undefined) {
    key = canonicalJson(meta);
    canonicalCache.set(meta, key);
  }
  return key;
}

/** Equal metadata, whatever the key order. */
export function sameMeta(a: Meta, b: Meta): boolean {
  return a === b || canonicalMeta(a) === canonicalMeta(b);
}

/** JSON with object keys sorted, so that equal metadata compares equal whatever the key order. */
export function canonicalJson(value: JsonValue): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key] as JsonValue);
    return out;
  }
  return value;
}
