/**
 * Counting requests and body bytes at the server. Both servers write one line per request to a log file in
 * the same format (Apache through its CustomLog, the embedded share through the wrapper below), so any
 * process — the bench or a child running a sync — can read what reached the server between two marks.
 *
 *   METHOD PATH STATUS RESPONSE_BODY_BYTES REQUEST_CONTENT_LENGTH
 *
 * (No server code is imported here: a child process that reads the log must not carry webdav-server's
 * ~11 MB into the peak RSS it reports.)
 */
import { readFileSync, statSync } from "node:fs";

export const LOG_FORMAT = "%m %U %>s %B %{Content-Length}i";

/** A reader of a traffic log from a byte offset onwards. */
export class TrafficLog {
  constructor(file, prefix) {
    this.file = file;
    this.prefix = prefix;
    this.offset = 0;
  }

  /** Forget everything logged so far. */
  mark() {
    this.offset = size(this.file);
    return this.offset;
  }

  /** Requests since the last mark (or since `from`), parsed. */
  since(from = this.offset) {
    let text = "";
    try {
      text = readFileSync(this.file).subarray(from).toString("utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const { method, path, tail } = parseLogLine(line, 3);
        const [status = "0", down = "0", up = "-"] = tail;
        return { method, path, status: Number(status), down: num(down), up: num(up) };
      });
  }
}

/**
 * One access-log line "METHOD PATH FIELD…", with `tailCount` fields after the path. How PATH is written
 * differs by server, hence `paths`:
 * - "escaped": decoded by the server, bytes outside printable ASCII written as \xHH (Apache's %U, nginx's
 *   $uri); it may hold spaces, so it is everything between the first word and the last `tailCount` ones;
 * - "percent": as the client sent it (lighttpd's %U, bench/lib/sabre-server.php), decoded here.
 */
export function parseLogLine(line, tailCount, paths = "escaped") {
  const words = line.split(" ");
  const method = words[0] ?? "";
  const cut = Math.max(2, words.length - tailCount);
  const raw = words.slice(1, cut).join(" ");
  return { method, path: paths === "percent" ? safeDecode(raw) : unescapeBytes(raw), tail: words.slice(cut) };
}

/** Apache and nginx write the bytes of a non-ASCII path as \xHH escapes (UTF-8 "ü" is \xc3\xbc). */
function unescapeBytes(text) {
  return text.replace(/(?:\\x[0-9a-f]{2})+/gi, (run) => Buffer.from(run.replace(/\\x/gi, ""), "hex").toString("utf8"));
}

/**
 * Sums requests by method and body bytes by what they carry, for a share rooted at `${prefix}/${root}`:
 * metadata (metadata.db, its temporary uploads, version.txt), lock (the claim folder), data (<aa>/<sha256>,
 * including the requests that check uploads: a HEAD per file or a listing per folder), other.
 */
export function summarise(requests, prefix, root) {
  const base = `${prefix}/${root.replace(/^\/+|\/+$/g, "")}`;
  const out = {
    requests: requests.length,
    methods: {},
    bytes: { metadata: { up: 0, down: 0 }, data: { up: 0, down: 0 }, lock: { up: 0, down: 0 }, other: { up: 0, down: 0 } },
  };
  for (const r of requests) {
    out.methods[r.method] = (out.methods[r.method] ?? 0) + 1;
    const rel = r.path.startsWith(`${base}/`) ? r.path.slice(base.length + 1) : null;
    let kind = "other";
    if (rel !== null) {
      if (rel === "version.txt" || rel.startsWith("metadata.db")) kind = "metadata";
      else if (rel.startsWith("version.txt.lock")) kind = "lock";
      else if (/^[0-9a-f]{2}(\/[0-9a-f]{64})?\/?$/.test(rel)) kind = "data";
    }
    out.bytes[kind].up += r.up;
    out.bytes[kind].down += r.down;
  }
  return out;
}

function size(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function num(text) {
  const n = Number(text);
  return Number.isFinite(n) ? n : 0;
}

function safeDecode(path) {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
