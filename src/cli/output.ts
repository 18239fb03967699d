import { UsageError } from "../errors.js";
import type { Entry, JsonValue, Meta } from "../model/entry.js";

let printedJson = false;

export function printJson(value: unknown): void {
  printedJson = true;
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Whether this process already printed its JSON document (a failure after it then prints no second one). */
export function jsonPrinted(): boolean {
  return printedJson;
}

/**
 * What a command found before it failed (check's report, probe's), kept with the error it throws. With
 * --json, main.ts prints it with the error in it (`{...report, error: {code, message}}`): a script gets the
 * findings and the failure, and stdout still holds exactly one JSON document.
 */
const reports = new WeakMap<Error, Record<string, unknown>>();

export function withReport<E extends Error>(err: E, report: object): E {
  reports.set(err, { ...report });
  return err;
}

export function reportOf(err: Error): Record<string, unknown> {
  return reports.get(err) ?? {};
}

/** The entry as `ls --json`, `add --json` and `update --json` print it (SPEC §5 fields). */
export function entryJson(e: Entry): Record<string, unknown> {
  return {
    id: e.id,
    name: e.name,
    hash: e.hash,
    size: e.size,
    meta: e.meta,
    version: e.version,
    deleted: e.deleted,
    syncStatus: e.syncStatus,
  };
}

/**
 * `--meta k=v`: the value is read as JSON when it is valid JSON (`year=2020` is a number, `tags=["a"]` an
 * array, `ok=true` a boolean), and as a plain string otherwise (`title=Deep learning`). Quote a
 * JSON-looking value to keep it a string: `code='"007"'`.
 */
export function parseMetaPairs(pairs: string[]): Meta {
  const meta: Meta = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--meta expects key=value, got ${JSON.stringify(pair)}.`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: JsonValue;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    meta[key] = value;
  }
  return meta;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}
