/**
 * `syncd conflicts` for people: each open conflict with what happened to the entry on each side and the
 * values that differ, "year: 1999 (this machine) vs 2021 (share)", then how to settle them. Pure.
 */
import { formatBytes } from "../bytes.js";
import { conflictCause, conflictDifferences, type Difference } from "../model/conflict-differences.js";
import type { EntryState, JsonValue } from "../model/entry.js";
import type { OpenConflict } from "../store/conflicts.js";

const HERE = "this machine";
const THERE = "share";
/** Longer values are cut: the line must stay readable; --json has them whole. */
const MAX_VALUE = 60;

export function describeConflicts(conflicts: readonly OpenConflict[]): string {
  if (conflicts.length === 0) return "No open conflicts.\n";
  const blocks = conflicts.map(describeConflict);
  const n = conflicts.length;
  const footer = [
    `${n} open conflict${n === 1 ? "" : "s"}. To settle ${n === 1 ? "it" : "one"}:`,
    "  syncd resolve ID --strategy local_wins    keep this machine's values",
    "  syncd resolve ID --strategy remote_wins   take the share's values",
    "  syncd resolve ID --strategy keep_both     take the share's values, and keep this machine's version as a copy",
    "With --all instead of an ID, every open conflict is settled the same way. The next sync carries the result to the share.",
  ];
  return `${blocks.join("\n")}\n${footer.join("\n")}\n`;
}

export function describeConflict(c: OpenConflict): string {
  const live = c.local.deleted ? c.remote : c.local;
  const lines = [`Conflict ${c.id} on ${JSON.stringify(live.name)} (entry ${c.entryId}): ${conflictCause(c)}.`];
  const differences = conflictDifferences(c.local, c.remote, c.fields);
  if (c.local.deleted !== c.remote.deleted) {
    lines.push(`  ${c.local.deleted ? `the share's` : `this machine's`} version: ${summary(live)}`);
  }
  const line = (d: Difference) => `${label(d.field)}: ${value(d.field, d.local)} (${HERE}) vs ${value(d.field, d.remote)} (${THERE})`;
  // "deleted" is said in the first line.
  const conflicting = differences.filter((d) => d.conflicting && d.field !== "deleted");
  const merged = differences.filter((d) => !d.conflicting);
  for (const d of conflicting) lines.push(`  ${line(d)}`);
  if (merged.length > 0) {
    lines.push("  Also different, but not in conflict (the side that changed it keeps its change):");
    for (const d of merged) lines.push(`    ${line(d)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** "year" for a metadata key; "metadata name" for one that would read like the entry's own fields. */
function label(field: string): string {
  if (!field.startsWith("meta.")) return field;
  const key = field.slice(5);
  return ["name", "content", "deleted"].includes(key) ? `metadata ${key}` : key;
}

function value(field: string, v: JsonValue | undefined): string {
  if (v === undefined) return "(not set)";
  if (field === "content" && v !== null && typeof v === "object" && !Array.isArray(v)) {
    return `${formatBytes(Number(v.size))}, sha256 ${String(v.hash).slice(0, 12)}`;
  }
  return cut(typeof v === "string" && field !== "name" && plain(v) ? v : JSON.stringify(v));
}

/** A string shown without quotes: not empty, no edge spaces, and not one that reads as a number or other JSON. */
function plain(v: string): boolean {
  if (v === "" || v.trim() !== v) return false;
  try {
    JSON.parse(v);
    return false;
  } catch {
    return true;
  }
}

/** A live side in a few words: name, size and its metadata. */
function summary(s: EntryState): string {
  const meta = Object.entries(s.meta).map(([k, v]) => `${k}: ${value(`meta.${k}`, v)}`);
  return [JSON.stringify(s.name), formatBytes(s.size), ...meta].join(", ");
}

function cut(text: string): string {
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}
