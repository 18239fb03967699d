import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30000,
    hookTimeout: 30000,
    pool: "forks",
    // Most integration files wait on servers, child processes and lease back-offs rather than the CPU: two
    // files at a time on the 2-core CI machine take ~250 s instead of ~390 s one at a time.
    maxWorkers: 2,
    globalSetup: ["test/global-setup.ts"],
  },
});
