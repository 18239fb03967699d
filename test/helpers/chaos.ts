/**
 * What the fault, kill and race tests share: how a run ended (completed, failed cleanly, or anything
 * else), a model of what every library must hold at the end, and a check of the share's files on disk
 * (every data file matches its hash, metadata.db matches version.txt, no claim or temporary file left).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SyncdError } from "../../src/errors.js";
import { isClaimName } from "../../src/remote/lease.js";
import { readShareState } from "./share-state.js";
import { SYNCD_BIN, type CliResult } from "./cli.js";

export type Outcome = "completed" | "failed cleanly" | "other";

export interface RunResult {
  outcome: Outcome;
  /** The error sentence, or what made the outcome "other". */
  detail?: string;
  exitCode?: number;
}

/** An in-process run's failure: clean when it is a SyncdError with a one-line message. */
export function classifyError(err: unknown): RunResult {
  if (err instanceof SyncdError && err.message.length > 0 && !err.message.includes("\n")) {
    return { outcome: "failed cleanly", detail: `${err.code}: ${err.message}` };
  }
  const what = err instanceof Error ? `${err.constructor.name}: ${err.message}\n${err.stack ?? ""}` : String(err);
  return { outcome: "other", detail: what };
}

/**
 * A CLI run: exit 0, or exit 1 / 75 with exactly one `syncd: …` sentence on stderr and no stack trace and
 * no "unexpected error" (phase lines and warnings are allowed around it). Anything else is "other".
 */
export function classifyCli(r: CliResult & { timedOut?: boolean; signal?: string | null }): RunResult {
  if (r.timedOut) return { outcome: "other", detail: `hung: killed after the deadline; stderr: ${r.stderr.slice(-2000)}` };
  if (r.code === 0) return { outcome: "completed", exitCode: 0 };
  const lines = r.stderr.split("\n").filter(Boolean);
  const errors = lines.filter((l) => l.startsWith("syncd: "));
  const stack = lines.some((l) => /^\s+at /.test(l));
  const clean = (r.code === 1 || r.code === 75) && errors.length === 1 && !stack && !/unexpected error/.test(r.stderr) && !errors[0]!.slice(7).includes("syncd: ");
  return clean
    ? { outcome: "failed cleanly", detail: errors[0]!.slice(7), exitCode: r.code }
    : { outcome: "other", detail: `exit ${r.code} (signal ${r.signal ?? "none"}): ${r.stderr.slice(-3000)}`, exitCode: r.code };
}

/** Awaits a run, but no longer than `ms`: a run that takes longer is a hang ("other"). */
export async function runInProcess(run: () => Promise<unknown>, ms: number): Promise<RunResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RunResult>((resolve) => {
    timer = setTimeout(() => resolve({ outcome: "other", detail: `hung: no result after ${ms} ms` }), ms);
  });
  try {
    return await Promise.race([
      run().then(
        (): RunResult => ({ outcome: "completed" }),
        (err: unknown) => classifyError(err),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SpawnedCli {
  pid: number;
  result: Promise<CliResult & { timedOut: boolean; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): boolean;
  /** Called with every complete line the process writes to stderr (progress lines, warnings, errors). */
  onStderrLine(fn: (line: string) => void): void;
}

/** Starts `syncd …` as a child process; it is SIGKILLed (and reported as timed out) after `deadlineMs`. */
export function spawnCli(args: string[], deadlineMs: number, env: NodeJS.ProcessEnv = {}): SpawnedCli {
  const child = spawn(process.execPath, [SYNCD_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  let partial = "";
  const listeners: Array<(line: string) => void> = [];
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => {
    const text = d.toString();
    stderr += text;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) for (const fn of listeners) fn(line);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, deadlineMs);
  const result = new Promise<CliResult & { timedOut: boolean; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, timedOut, signal });
    });
  });
  return { pid: child.pid as number, result, kill: (signal) => child.kill(signal), onStderrLine: (fn) => void listeners.push(fn) };
}

/** Counts of outcomes per fault kind (or any other label), printed as a Markdown table. */
export class OutcomeTable {
  private readonly rows = new Map<string, Record<Outcome, number>>();

  record(label: string, outcome: Outcome, times = 1): void {
    const row = this.rows.get(label) ?? { completed: 0, "failed cleanly": 0, other: 0 };
    row[outcome] += times;
    this.rows.set(label, row);
  }

  get(label: string): Record<Outcome, number> {
    return this.rows.get(label) ?? { completed: 0, "failed cleanly": 0, other: 0 };
  }

  total(outcome?: Outcome): number {
    let n = 0;
    for (const row of this.rows.values()) n += outcome ? row[outcome] : row.completed + row["failed cleanly"] + row.other;
    return n;
  }

  merge(other: OutcomeTable): void {
    for (const [label, row] of other.rows) for (const o of ["completed", "failed cleanly", "other"] as const) this.record(label, o, row[o]);
  }

  format(title: string, order: readonly string[] = []): string {
    const labels = [...order.filter((l) => this.rows.has(l)), ...[...this.rows.keys()].filter((l) => !order.includes(l)).sort()];
    const lines = [`${title}`, "| fault | times tried | completed | failed cleanly | other |", "| --- | ---: | ---: | ---: | ---: |"];
    for (const label of labels) {
      const r = this.get(label);
      lines.push(`| ${label} | ${r.completed + r["failed cleanly"] + r.other} | ${r.completed} | ${r["failed cleanly"]} | ${r.other} |`);
    }
    lines.push(`| **all** | ${this.total()} | ${this.total("completed")} | ${this.total("failed cleanly")} | ${this.total("other")} |`);
    return lines.join("\n");
  }
}

export interface ListedEntry {
  id: string;
  name: string;
  hash: string;
  size: number;
  meta: Record<string, unknown>;
  version: number;
  deleted: boolean;
  syncStatus?: string;
}

interface ModelEntry {
  name: string;
  hash: string;
  meta: Record<string, unknown>;
  deleted: boolean;
}

/**
 * What every library must hold once all instances have converged, built from the edits the test made.
 * The tests keep edits free of conflicts — content and deletion only by the entry's creator, metadata keys
 * per instance — so the final state of every field is its last write, whatever order the syncs ran in.
 */
export class LibraryModel {
  readonly entries = new Map<string, ModelEntry>();

  add(id: string, name: string, hash: string, meta: Record<string, unknown> = {}): void {
    if (this.entries.has(id)) throw new Error(`model: duplicate id ${id}`);
    this.entries.set(id, { name, hash, meta: { ...meta }, deleted: false });
  }

  setMeta(id: string, key: string, value: unknown): void {
    this.require(id).meta[key] = value;
  }

  setContent(id: string, hash: string): void {
    this.require(id).hash = hash;
  }

  remove(id: string): void {
    this.require(id).deleted = true;
  }

  live(): string[] {
    return [...this.entries].filter(([, e]) => !e.deleted).map(([id]) => id);
  }

  /** Problems of one library's listing (with tombstones) against the model: lost, resurrected, extra, wrong. */
  problems(listing: ListedEntry[], who: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const e of listing) {
      if (seen.has(e.id)) out.push(`${who}: entry ${e.id} listed twice`);
      seen.add(e.id);
      const want = this.entries.get(e.id);
      if (!want) {
        out.push(`${who}: unexpected entry ${e.id} (${e.name})`);
        continue;
      }
      if (e.deleted !== want.deleted) out.push(`${who}: ${e.id} (${e.name}) ${want.deleted ? "was deleted but is live (resurrected)" : "was not deleted but is a tombstone"}`);
      if (e.name !== want.name) out.push(`${who}: ${e.id} named ${e.name}, expected ${want.name}`);
      if (e.hash !== want.hash) out.push(`${who}: ${e.id} (${e.name}) has content ${e.hash.slice(0, 12)}, expected ${want.hash.slice(0, 12)} (lost update)`);
      if (JSON.stringify(sortKeys(e.meta)) !== JSON.stringify(sortKeys(want.meta))) {
        out.push(`${who}: ${e.id} (${e.name}) meta ${JSON.stringify(sortKeys(e.meta))}, expected ${JSON.stringify(sortKeys(want.meta))}`);
      }
    }
    for (const id of this.entries.keys()) if (!seen.has(id)) out.push(`${who}: entry ${id} (${this.entries.get(id)!.name}) is missing (lost)`);
    const names = listing.filter((e) => !e.deleted).map((e) => e.name);
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    if (dupes.length > 0) out.push(`${who}: duplicate live names ${[...new Set(dupes)].join(", ")}`);
    return out;
  }

  private require(id: string): ModelEntry {
    const e = this.entries.get(id);
    if (!e) throw new Error(`model: no entry ${id}`);
    return e;
  }
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface ShareCheck {
  /** Problems that break SPEC §3 (a data file whose bytes do not match its name, metadata.db ≠ version.txt…). */
  problems: string[];
  version: number | null;
  dataFiles: number;
  claims: string[];
  tempFiles: string[];
  /** Unreferenced data files (orphans, collected later by the GC). */
  orphans: number;
  /**
   * Data files no live entry refers to whose bytes do not match their name: what a PUT cut short leaves on a
   * server that writes in place (rclone, sabre/dav). Nothing reads them and orphan collection removes them once
   * no row names them; a damaged file that a live entry refers to is a problem instead.
   */
  partialOrphans: string[];
}

/**
 * Reads the share's root folder on disk: every `<aa>/<sha256>` is hashed and compared with its name;
 * version.txt must name metadata.db's SHA-256, version and share id; every live entry's data file must
 * be there.
 */
export function checkShare(root: string): ShareCheck {
  const problems: string[] = [];
  const data = new Map<string, boolean>();
  const damaged = new Map<string, string>();
  const partialOrphans: string[] = [];
  const claims: string[] = [];
  const tempFiles: string[] = [];
  for (const name of existsSync(root) ? readdirSync(root) : []) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) {
      if (name === "version.txt.lock") {
        claims.push(...readdirSync(path).filter(isClaimName)); // not the end-of-listing marker
        continue;
      }
      if (!/^[0-9a-f]{2}$/.test(name)) continue; // readers ignore folders they do not know (SPEC §3)
      for (const file of readdirSync(path)) {
        const ok = /^[0-9a-f]{64}$/.test(file) && file.startsWith(name) && sha256(readFileSync(join(path, file))) === file;
        if (!ok) damaged.set(file, `data file ${name}/${file} does not match its hash (${statSync(join(path, file)).size} bytes)`);
        data.set(file, ok);
      }
    } else if (name.startsWith("metadata.db.tmp-")) tempFiles.push(name);
  }
  let version: number | null = null;
  let orphans = 0;
  const versionFile = join(root, "version.txt");
  const metadata = join(root, "metadata.db");
  const state = readShareState(root);
  if (!existsSync(versionFile) || !existsSync(metadata)) {
    problems.push(`share incomplete: version.txt ${existsSync(versionFile) ? "present" : "missing"}, metadata.db ${existsSync(metadata) ? "present" : "missing"}`);
  } else if (!state) problems.push("version.txt does not parse");
  else {
    const { db, info } = state;
    version = info.version;
    problems.push(...state.problems);
    try {
      if (state.problems.length === 0) {
        const referenced = new Set((db.prepare("SELECT DISTINCT hash FROM entries WHERE deleted = 0").all() as Array<{ hash: string }>).map((r) => r.hash));
        for (const hash of referenced) if (data.get(hash) !== true) problems.push(`live entry content ${hash.slice(0, 12)}… has ${data.has(hash) ? "a corrupt" : "no"} data file`);
        const all = new Set((db.prepare("SELECT DISTINCT hash FROM entries").all() as Array<{ hash: string }>).map((r) => r.hash));
        for (const hash of data.keys()) if (!all.has(hash)) orphans++;
        // Only live entries need their content: a tombstone keeps the hash of content it may never have had
        // whole on the share (an entry whose first upload was killed, then deleted before any run published it).
        for (const [hash, problem] of damaged) (referenced.has(hash) ? problems : partialOrphans).push(problem);
      } else version = null;
    } finally {
      db.close();
    }
  }
  // Without a readable metadata.db nothing tells orphans from referenced files: every damaged one is a problem.
  if (version === null) problems.push(...damaged.values());
  return { problems, version, dataFiles: data.size, claims, tempFiles, orphans, partialOrphans };
}
