import { defineConfig } from "vitest/config";
import LongestFirst from "./test/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30000,
    hookTimeout: 30000,
    pool: "forks",
    // Most integration files wait on servers, child processes and lease back-offs rather than the CPU: two
    // files at a time on the 2-core CI machine took ~250 s instead of ~390 s one at a time. With six servers
    // in the matrix (issue 12) two took 644 s; three, with 15 kills and 12 race rounds per server, 466 s,
    // the two cores then ~98 % busy (vmstat), so a fourth would only queue.
    maxWorkers: 3,
    globalSetup: ["test/global-setup.ts"],
    // The longest files first (recorded in test/durations.json), so that no long pole starts late and ends alone.
    sequence: { sequencer: LongestFirst },
  },
});
