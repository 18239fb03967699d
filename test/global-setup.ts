import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Integration tests run the real `syncd` binary (bin/syncd.js → dist/), so the build must match the
 * sources under test: compile once before the suite.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.json"], {
    cwd: root,
    stdio: "inherit",
  });
}
