/**
 * Runs the longest test files first, so that the long poles (kill, check, faults: minutes each) start at
 * once and the short files fill the workers around them, instead of a long file starting late and running
 * alone at the end while the other workers idle.
 *
 * Vitest orders by its results cache (node_modules/.vite) when it has one, but a fresh clone (CI) has none,
 * and then vitest orders by file size, which put kill.test.ts behind larger but quicker files.
 * test/durations.json holds the per-file figures of a whole run (test/durations.mjs writes it from a run's
 * JSON report); it comes first, so that the order is the same on every machine. A file it does not name
 * takes vitest's cached figure, and a file in neither (a new one) runs first, as with vitest's own order:
 * it may be long.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const RECORDED = new URL("./durations.json", import.meta.url);

function recorded(): Record<string, number> {
  try {
    return (JSON.parse(readFileSync(RECORDED, "utf8")) as { files: Record<string, number> }).files;
  } catch {
    return {};
  }
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const durations = recorded();
    const root = this.ctx.config.root;
    const duration = (spec: TestSpecification): number => {
      const path = relative(root, spec.moduleId).split("\\").join("/");
      return durations[path] ?? this.ctx.cache.getFileTestResults(`${spec.project.name}:${path}`)?.duration ?? Number.MAX_VALUE;
    };
    return [...files].sort((a, b) => duration(b) - duration(a));
  }
}
