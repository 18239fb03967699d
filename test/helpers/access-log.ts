/**
 * The tests' view of a real server started by a launcher of bench/lib (nginx, lighttpd, sabre): its access
 * log read back as requests, so that tests count what reached the server, as test/helpers/apache.ts does.
 *
 * Every such log line reads "METHOD PATH STATUS BYTES CONTENT_LENGTH", read by bench/lib/traffic.mjs's
 * parseLogLine (`paths` says how the server writes PATH).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LaunchedServer } from "../../bench/lib/proc.mjs";
import { parseLogLine } from "../../bench/lib/traffic.mjs";

export type LoggedPaths = "percent" | "escaped";

export interface LoggedRequest {
  method: string;
  /** Decoded path, e.g. "/dav/syncd/a b.txt". */
  path: string;
  status: number;
}

/** What test/helpers/shares.ts needs of a server (its TestShare), with the status of each request. */
export interface LoggedShare {
  url: string;
  prefix: string;
  dir: string;
  username: string;
  password: string;
  requests(): LoggedRequest[];
  reset(): void;
  close(): Promise<void>;
}

export function parseAccessLine(line: string, paths: LoggedPaths): LoggedRequest | null {
  const { method, path, tail } = parseLogLine(line, 3, paths);
  const status = Number(tail[0]);
  return method && Number.isInteger(status) && status >= 100 ? { method, path, status } : null;
}

/**
 * Starts a server through `launch` in a parent folder of its own (launchers make it traversable for
 * www-data, which /tmp itself must not be changed to), and reads its log from the last reset onwards.
 */
export async function startLogged(name: string, paths: LoggedPaths, launch: (parent: string) => Promise<LaunchedServer>): Promise<LoggedShare> {
  const parent = mkdtempSync(join(tmpdir(), `syncd-${name}-`));
  let server: LaunchedServer;
  try {
    server = await launch(parent);
  } catch (err) {
    rmSync(parent, { recursive: true, force: true });
    throw err;
  }
  let offset = 0;
  const read = () => readBytes(server.log);
  return {
    url: server.url,
    prefix: server.prefix,
    dir: server.dir,
    username: server.username,
    password: server.password,
    requests: () =>
      read()
        .subarray(offset)
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .flatMap((line) => parseAccessLine(line, paths) ?? []),
    reset: () => {
      offset = read().length;
    },
    close: async () => {
      await server.close();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}
