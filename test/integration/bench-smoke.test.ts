/**
 * The benchmark suite (bench/run.mjs, issue 7) at its smoke sizes (BENCH_SMOKE=1), run as `npm run bench`
 * runs it (a child process on the built dist/), so that it cannot rot: it must finish and write well-formed
 * JSON. No timing is asserted: figures from a shared CI machine would only make the suite flaky. Apache or
 * rclone missing here is not a failure: the smoke run skips those parts and says so in its notes.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const BENCH = fileURLToPath(new URL("../../bench/run.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "syncd-bench-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBench(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Row {
  id: string;
  scenario: string;
  median: number | null;
  min?: number | null;
  max?: number | null;
  runs: number;
}

describe("bench/run.mjs at smoke sizes", () => {
  it("runs every scenario to the end and writes well-formed results", async () => {
    const out = join(dir, "results.json");
    const { code, stdout, stderr } = await runBench({ BENCH_SMOKE: "1", BENCH_RESULTS: out });
    expect(code, stderr.slice(-3000)).toBe(0);
    expect(stdout).toContain("| # | scenario");

    const doc = JSON.parse(readFileSync(out, "utf8")) as {
      ok: boolean;
      machine: { date: string; node: string; cores: number; rclone: string | null; apache: string | null };
      config: { smoke: boolean };
      notes: string[];
      targets: Array<{ id: string; target: string; measured: string; met: boolean | null }>;
      results: Row[];
    };
    expect(doc.ok).toBe(true);
    expect(doc.config.smoke).toBe(true);
    expect(doc.machine.node).toBe(process.version);
    expect(Number.isNaN(Date.parse(doc.machine.date))).toBe(false);

    // Every scenario that needs nothing but Node ran; the Apache ones ran wherever Apache is installed.
    const ids = new Set(doc.results.map((r) => r.id));
    for (const id of ["1", "4", "5", "6", "7"]) expect(ids, `scenario ${id}`).toContain(id);
    if (doc.machine.apache) for (const id of ["2", "3"]) expect(ids, `scenario ${id}`).toContain(id);
    if (!doc.machine.rclone) expect(doc.notes.join("\n")).toMatch(/rclone/);

    for (const r of doc.results) {
      expect(typeof r.scenario).toBe("string");
      expect(r.runs).toBeGreaterThanOrEqual(1);
      for (const v of [r.median, r.min, r.max]) if (v !== undefined && v !== null) expect(Number.isFinite(v)).toBe(true);
    }
    // Scenario 8 (bench/format2.mjs, issue 13's targets): its table, and each of its figures measured.
    expect(stdout).toContain("format 2 targets");
    const f2 = (doc as unknown as { format2?: { ok: boolean; table: Array<{ figure: string; this: number | null }> } }).format2;
    expect(f2?.ok).toBe(true);
    expect(new Set(f2?.table.map((r) => r.figure))).toEqual(new Set(["a", "b", "c", "d", "e", "f", "g", "h", "i"]));
    for (const r of f2?.table ?? []) expect(typeof r.this === "number" && Number.isFinite(r.this), JSON.stringify(r)).toBe(true);
    expect(doc.targets.length).toBeGreaterThan(0);
    for (const t of doc.targets) expect([true, false, null]).toContain(t.met);
  }, 120_000);
});
