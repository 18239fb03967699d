/**
 * The code of an earlier commit, built: to prove things against what older syncd really does, not against
 * a restatement of it. The commit's tree is taken from this repository's own history (`git archive`), built
 * with its own tsconfig against this checkout's node_modules, and cached under the system's temp folder
 * by commit id, so that only the first test run pays for the build (~15 s).
 *
 * Since the build runs on this checkout's node_modules, a package the earlier commit imports must stay
 * installed here even when the current code no longer uses it (cli-progress, for the format-1 build of
 * format-refusal.test.ts, is a devDependency for that reason): earlierBuild checks it first.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Builds (once) the commit and returns the path of its bin/syncd.js. */
export function earlierBuild(commit: string): string {
  const dir = join(tmpdir(), `syncd-build-${commit}`);
  const bin = join(dir, "bin", "syncd.js");
  if (existsSync(join(dir, "dist", "cli", "main.js"))) return bin;
  try {
    execFileSync("git", ["cat-file", "-e", `${commit}^{commit}`], { cwd: REPO, stdio: "pipe" });
  } catch {
    throw new Error(`commit ${commit} is not in this clone's history (a shallow clone?): fetch the full history to run this test`);
  }
  const theirs = JSON.parse(execFileSync("git", ["show", `${commit}:package.json`], { cwd: REPO, encoding: "utf8" })) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const ours = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as typeof theirs;
  const installed = { ...ours.dependencies, ...ours.devDependencies };
  const missing = Object.keys({ ...theirs.dependencies, ...theirs.devDependencies }).filter((name) => !(name in installed));
  if (missing.length > 0) {
    throw new Error(`commit ${commit} needs ${missing.join(", ")}, which this checkout no longer installs: keep them in devDependencies`);
  }
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync("sh", ["-c", `git archive ${commit} | tar -x -C "${work}"`], { cwd: REPO, stdio: "pipe" });
  symlinkSync(join(REPO, "node_modules"), join(work, "node_modules"));
  execFileSync(process.execPath, [join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: work, stdio: "pipe" });
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return bin;
}
