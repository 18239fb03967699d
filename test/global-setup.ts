import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Integration tests run the real `syncd` binary (bin/syncd.js → dist/), so the build must match the
 * sources under test: compile once before the suite (SYNCD_TEST_NO_BUILD=1 skips it, for runs side by side).
 */
export default function setup(): void {
  // Several suites run side by side (a stress loop) must not rebuild dist/ under each other's feet.
  if (process.env.SYNCD_TEST_NO_BUILD === "1") return;
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.json"], {
    cwd: root,
    stdio: "inherit",
  });
}
