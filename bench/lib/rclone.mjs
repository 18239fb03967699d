/**
 * rclone (Debian's package) as the baseline: `rclone copy` with its webdav backend against the same server,
 * configured through environment variables only (no config file is read or written).
 */
import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export function rcloneVersion() {
  try {
    return execFileSync("rclone", ["version"], { encoding: "utf8" }).split("\n")[0].trim();
  } catch {
    return null;
  }
}

/** A remote named `bench:` for `server` (url, username, password). */
export function rcloneEnv(server, workDir) {
  const config = join(workDir, "rclone.conf");
  writeFileSync(config, "");
  const pass = execFileSync("rclone", ["obscure", server.password ?? ""], { encoding: "utf8" }).trim();
  return {
    config,
    env: {
      ...process.env,
      RCLONE_CONFIG_BENCH_TYPE: "webdav",
      RCLONE_CONFIG_BENCH_URL: server.url,
      RCLONE_CONFIG_BENCH_VENDOR: "other",
      RCLONE_CONFIG_BENCH_USER: server.username ?? "",
      RCLONE_CONFIG_BENCH_PASS: pass,
    },
  };
}

/** Runs `rclone copy from to --transfers N`; resolves with the wall time in ms. */
export function rcloneCopy(rc, from, to, transfers) {
  const args = ["copy", from, to, "--transfers", String(transfers), "--config", rc.config];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("rclone", args, { env: rc.env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, args: ["rclone", ...args.slice(0, -2)].join(" ") });
      else reject(new Error(`rclone ${args.join(" ")} exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}
