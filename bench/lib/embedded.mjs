/**
 * The embedded share (src/remote/embedded-share.ts, the daemon's share) behind our own http.Server on
 * 127.0.0.1, logging each request in the format of traffic.mjs. It runs in a process of its own, as it does
 * for every instance but the daemon's own: the figures of a sync are then the client's, not those of a
 * WebDAV server sharing its event loop.
 */
import { spawn } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);

export function startCountingEmbeddedShare({ dir, log }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, JSON.stringify({ dir, log })], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the embedded share exited with ${code}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (!out.includes("\n")) return;
      child.removeAllListeners("exit");
      const { url } = JSON.parse(line);
      resolve({
        kind: "embedded",
        url,
        prefix: "",
        dir,
        owner: null,
        log,
        pid: child.pid,
        close: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

async function serve({ dir, log }) {
  const { createShareHandler } = await import("../../dist/remote/embedded-share.js");
  const handle = await createShareHandler({ dir });
  writeFileSync(log, "");
  const server = createServer((req, res) => {
    let down = 0;
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = (chunk, ...rest) => {
      if (chunk && typeof chunk !== "function") down += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    };
    res.end = (chunk, ...rest) => {
      if (chunk && typeof chunk !== "function") down += Buffer.byteLength(chunk);
      return end(chunk, ...rest);
    };
    res.on("finish", () => {
      const path = (req.url ?? "/").split("?")[0];
      appendFileSync(log, `${req.method} ${path} ${res.statusCode} ${down} ${req.headers["content-length"] ?? "-"}\n`);
    });
    handle(req, res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.on("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }) + "\n");
}

if (process.argv[1] === SELF) await serve(JSON.parse(process.argv[2]));
