/**
 * `rclone serve webdav` (Debian's rclone) on 127.0.0.1, behind a small recording proxy so that tests can
 * count the requests that reach it. rclone ends a PROPFIND early when a file of the folder is deleted while
 * it lists it (every later entry is left out): the lease's end marker (lease.ts LISTING_END) is what keeps
 * it safe there.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForHttp } from "../../bench/lib/net.mjs";

export const RCLONE_BIN = "/usr/bin/rclone";

export function rcloneAvailable(): boolean {
  return existsSync(RCLONE_BIN);
}

export interface RcloneShare {
  url: string;
  dir: string;
  requests(): Array<{ method: string; path: string }>;
  reset(): void;
  close(): Promise<void>;
}

export async function startRclone(opts: { username: string; password: string }): Promise<RcloneShare> {
  const dir = mkdtempSync(join(tmpdir(), "syncd-rclone-"));
  const port = await freePort();
  const child = spawn(
    RCLONE_BIN,
    ["serve", "webdav", dir, "--addr", `127.0.0.1:${port}`, "--user", opts.username, "--pass", opts.password, "--config", "/dev/null"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await waitForHttp(port, () => (child.exitCode === null ? null : `rclone exited with ${child.exitCode}: ${stderr}`));

  const log: Array<{ method: string; path: string }> = [];
  const proxy = createServer((req, res) => {
    log.push({ method: req.method ?? "", path: safeDecode(new URL(req.url ?? "/", "http://x").pathname) });
    const upstream = request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    // A client that goes away mid-request (a cut connection) must cut the upstream one too, or rclone keeps
    // waiting for the rest of the body with the file held open (PUTs of it get 423, listings of its folder hang).
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    dir,
    requests: () => log,
    reset: () => void log.splice(0),
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
