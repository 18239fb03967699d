/**
 * A real Apache httpd with mod_dav_fs (Debian's apache2 package) on 127.0.0.1, for the tests: the benchmarks'
 * launcher (bench/lib/apache.mjs: private ServerRoot, WebDAV under /dav, basic auth, an access log) with a
 * reader of that log, so that tests count the requests that reached the server.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apacheAvailable, startApache as launchApache } from "../../bench/lib/apache.mjs";
import { parseLogLine } from "../../bench/lib/traffic.mjs";

export { apacheAvailable };

export interface ApacheShare {
  url: string;
  /** The folder served at `${url}/`. */
  dir: string;
  /** Requests as Apache logged them: method, decoded path, status. */
  requests(): Array<{ method: string; path: string; status: number }>;
  reset(): void;
  close(): Promise<void>;
}

export async function startApache(opts: { username: string; password: string; deflate?: boolean }): Promise<ApacheShare> {
  // A parent of our own: the launcher makes it traversable for www-data, which /tmp itself must not be changed to.
  const parent = mkdtempSync(join(tmpdir(), "syncd-apache-"));
  const server = await launchApache({ parent, ...opts });
  let offset = 0;
  const read = () => safeRead(server.log).slice(offset);
  return {
    url: server.url,
    dir: server.dir,
    requests: () =>
      read()
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          // The log format is "%m %U %>s %B %{Content-Length}i" (bench/lib/traffic.mjs LOG_FORMAT).
          const { method, path, tail } = parseLogLine(line, 3);
          return { method, path, status: Number(tail[0] ?? 0) };
        }),
    reset: () => {
      offset = safeRead(server.log).length;
    },
    close: async () => {
      await server.close();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

function safeRead(path: string): string {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : "";
  } catch {
    return "";
  }
}
