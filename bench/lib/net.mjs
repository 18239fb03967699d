/**
 * Starting helper servers on 127.0.0.1, shared by the benchmarks and the test harness (test/helpers): a free
 * port, and waiting until a freshly spawned server answers HTTP.
 */
import { createServer } from "node:net";

/** A port that was free a moment ago (the usual bind-to-0 trick; the server binds it right after). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `OPTIONS /` until the server on `port` answers (any status), for up to 15 s. `failed` returns a
 * message once the server's process has died, so that a broken config fails at once with its log.
 */
export async function waitForHttp(port, failed) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const failure = failed();
    if (failure) throw new Error(failure);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: "OPTIONS" });
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} within 15 s`);
}
