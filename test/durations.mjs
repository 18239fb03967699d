#!/usr/bin/env node
/**
 * Writes test/durations.json (read by test/sequencer.ts) from a whole run's JSON report:
 *   npx vitest run --reporter=default --reporter=json --outputFile.json=/tmp/vitest.json
 *   node test/durations.mjs /tmp/vitest.json
 */
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

const report = process.argv[2];
if (!report) {
  process.stderr.write("usage: node test/durations.mjs <vitest JSON report>\n");
  process.exit(2);
}
const root = fileURLToPath(new URL("..", import.meta.url));
/** @type {{ testResults: Array<{ name: string; startTime: number; endTime: number }> }} */
const { testResults } = JSON.parse(readFileSync(report, "utf8"));
const files = Object.fromEntries(
  testResults
    .map((r) => [relative(root, r.name).split("\\").join("/"), Math.round(r.endTime - r.startTime)])
    .sort((a, b) => b[1] - a[1]),
);
const out = { note: "Per-file wall times (ms) of a whole `npm test` run, longest first: test/sequencer.ts starts the longest files first.", recorded: new Date().toISOString().slice(0, 10), files };
writeFileSync(new URL("durations.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`test/durations.json: ${Object.keys(files).length} files\n`);
