/**
 * What differs between the two sides of a conflict, field by field: what a user must see to choose a side
 * (`syncd conflicts`). Pure; the conflict's own `fields` say which of these the merge could not settle.
 */
import { canonicalJson, type EntryState, type JsonValue } from "./entry.js";

export interface Difference {
  /** "deleted", "name", "content" or "meta.<key>", as a conflict's `fields` name them. */
  field: string;
  /**
   * This side's value: a boolean for "deleted", a string for "name", `{hash, size}` for "content", the
   * metadata value for "meta.<key>" (absent when that side does not set the key).
   */
  local?: JsonValue;
  remote?: JsonValue;
  /** In the conflict's fields: the merge could not settle it, a resolution picks a side. */
  conflicting: boolean;
}

/**
 * The fields whose values differ between `local` and `remote`. A deletion against a live state is one
 * difference ("deleted"): a tombstone has no name, content or metadata to compare.
 */
export function conflictDifferences(local: EntryState, remote: EntryState, conflictFields: readonly string[]): Difference[] {
  const out: Difference[] = [];
  const add = (field: string, l: JsonValue | undefined, r: JsonValue | undefined) => {
    const d: Difference = { field, conflicting: conflictFields.includes(field) };
    if (l !== undefined) d.local = l;
    if (r !== undefined) d.remote = r;
    out.push(d);
  };
  if (local.deleted || remote.deleted) {
    if (local.deleted !== remote.deleted) add("deleted", local.deleted, remote.deleted);
    return out;
  }
  if (local.name !== remote.name) add("name", local.name, remote.name);
  if (local.hash !== remote.hash || local.size !== remote.size) {
    add("content", { hash: local.hash, size: local.size }, { hash: remote.hash, size: remote.size });
  }
  const keys = [...new Set([...Object.keys(local.meta), ...Object.keys(remote.meta)])].sort();
  for (const key of keys) {
    const l = Object.hasOwn(local.meta, key) ? local.meta[key] : undefined;
    const r = Object.hasOwn(remote.meta, key) ? remote.meta[key] : undefined;
    const same = l !== undefined && r !== undefined ? canonicalJson(l) === canonicalJson(r) : l === r;
    if (!same) add(`meta.${key}`, l, r);
  }
  return out;
}

/**
 * What happened to the entry, in words: "it was deleted on this machine and changed on the share", "this
 * machine and the share both changed its year, to different values". `fields` as a conflict names them.
 */
export function conflictCause(c: { fields: readonly string[]; local: EntryState; remote: EntryState }): string {
  if (c.local.deleted && !c.remote.deleted) return "it was deleted on this machine and changed on the share";
  if (c.remote.deleted && !c.local.deleted) return "it was changed on this machine and deleted on the share";
  const what = c.fields.map((f) => (f === "content" ? "its content" : f === "name" ? "its name" : f.startsWith("meta.") ? `its ${f.slice(5)}` : `its ${f}`));
  return `this machine and the share both changed ${joinWords([...new Set(what)])}, to different values`;
}

function joinWords(words: string[]): string {
  if (words.length <= 1) return words[0] ?? "it";
  return `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}
