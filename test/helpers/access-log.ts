/**
 * The tests' view of a real server started by a launcher of bench/lib (nginx, lighttpd, sabre): its access
 * log read back as requests, so that tests count what reached the server, as test/helpers/apache.ts does.
 *
 * Every such log line reads "METHOD PATH STATUS BYTES CONTENT_LENGTH" (bench/lib/traffic.mjs). How PATH
 * is written differs by server, hence `paths`:
 * - "percent": as the client sent it (lighttpd's %U, sabre-server.php), decoded here;
 * - "escaped": decoded by the server, bytes outside printable ASCII written as \xHH (nginx's $uri), which
 *   may hold spaces: the fields around it are taken from both ends of the line.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type LoggedPaths = "percent" | "escaped";

export interface LoggedRequest {
  method: string;
  /** Decoded path, e.g. "/dav/syncd/a b.txt". */
  path: string;
  status: number;
}

/** A started server, as the launchers of bench/lib return it. */
export interface LaunchedServer {
  url: string;
  prefix: string;
  dir: string;
  username: string;
  password: string;
  log: string;
  close(): Promise<void>;
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

const LINE = /^(\S+) (.*) (\d{3}) (\S+) (\S+)$/;

export function parseLogLine(line: string, paths: LoggedPaths): LoggedRequest | null {
  const m = LINE.exec(line);
  if (!m) return null;
  const [, method = "", raw = "", status = "0"] = m;
  return { method, path: paths === "percent" ? safeDecode(raw) : unescapeBytes(raw), status: Number(status) };
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
        .flatMap((line) => parseLogLine(line, paths) ?? []),
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

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** nginx's escape=default: every \xHH is one byte (a UTF-8 name is several), the rest is ASCII. */
function unescapeBytes(text: string): string {
  if (!text.includes("\\x")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 2, i + 4);
    if (text.startsWith("\\x", i) && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
