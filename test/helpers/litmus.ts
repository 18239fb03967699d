/**
 * litmus, the WebDAV server test suite (Debian package `litmus`), run one group at a time against a URL.
 * It needs a collection it may write in (it creates `litmus/` below the URL) and writes a debug.log into
 * its working directory.
 */
import { spawn, spawnSync } from "node:child_process";

// Overridable only to check the skip/fail logic itself.
export const LITMUS = process.env.SYNCD_TEST_LITMUS ?? "litmus";

export const LITMUS_GROUPS = ["basic", "copymove", "props", "locks", "http"] as const;
export type LitmusGroup = (typeof LITMUS_GROUPS)[number];

export interface LitmusResult {
  group: LitmusGroup;
  /** From litmus' summary line; null when it printed none (it could not run the group at all). */
  run: number | null;
  passed: number;
  failed: number;
  skipped: number;
  /** The lines of the tests that failed, for messages. */
  failures: string[];
  output: string;
}

export function litmusAvailable(): boolean {
  return spawnSync(LITMUS, ["--version"], { stdio: "ignore" }).status === 0;
}

export function runLitmus(group: LitmusGroup, url: string, user: string, password: string, cwd: string): Promise<LitmusResult> {
  return new Promise((resolve, reject) => {
    // The credentials are litmus' own arguments: there is no other way to pass them; this is a throwaway token.
    const child = spawn(LITMUS, [url, user, password], { cwd, env: { ...process.env, TESTS: group }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const summary = /summary for `\w+': of (\d+) tests run: (\d+) passed, (\d+) failed/.exec(output);
      const skipped = /(\d+) tests? (?:was|were) skipped/.exec(output);
      resolve({
        group,
        run: summary ? Number(summary[1]) : null,
        passed: Number(summary?.[2] ?? 0),
        failed: Number(summary?.[3] ?? 0),
        skipped: Number(skipped?.[1] ?? 0),
        failures: output.split("\n").filter((l) => /\bFAIL\b/.test(l)),
        output,
      });
    });
  });
}
