/**
 * An in-process WebDAV server for tests: the embedded share's handler (webdav-server over a temp folder)
 * behind our own http.Server on 127.0.0.1, which records every request that reaches it, so that tests can
 * assert what was really sent ("exactly one GET of version.txt", "Content-Length, not chunked").
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createShareHandler } from "../../src/remote/embedded-share.js";

export interface RecordedRequest {
  method: string;
  /** Decoded path, e.g. "/syncd/version.txt.lock/". */
  path: string;
  headers: {
    depth?: string;
    contentLength?: string;
    transferEncoding?: string;
    destination?: string;
    overwrite?: string;
    if?: string;
    ifMatch?: string;
    ifNoneMatch?: string;
    authorization: boolean;
  };
  /** Set when the response is finished (or the connection closed). */
  status?: number;
}

export type RequestFilter = ((r: RecordedRequest) => boolean) | { method?: string; path?: string | RegExp };

export interface DavServer {
  url: string;
  port: number;
  /** The folder served at "/". */
  dir: string;
  requests: RecordedRequest[];
  reset(): void;
  count(filter?: RequestFilter): number;
  close(): Promise<void>;
}

export interface DavServerOptions {
  username?: string;
  password?: string;
  /** Called as each request arrives, before the server handles it. */
  onRequest?: (r: RecordedRequest) => void;
}

export async function startDavServer(opts: DavServerOptions = {}): Promise<DavServer> {
  const dir = await mkdtemp(join(tmpdir(), "syncd-dav-"));
  const handle = await createShareHandler({ dir, username: opts.username, password: opts.password });
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const entry: RecordedRequest = {
      method: req.method ?? "",
      path: decodePath(req.url ?? "/"),
      headers: pickHeaders(req.headers),
    };
    requests.push(entry);
    opts.onRequest?.(entry);
    const done = () => (entry.status ??= res.statusCode);
    res.on("finish", done);
    res.on("close", done);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    requests,
    reset: () => void requests.splice(0),
    count: (filter) => requests.filter(matcher(filter)).length,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function decodePath(url: string): string {
  const pathname = new URL(url, "http://x").pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function pickHeaders(h: IncomingHttpHeaders): RecordedRequest["headers"] {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(", ") : v);
  const out: RecordedRequest["headers"] = { authorization: h.authorization !== undefined };
  const copy: [keyof RecordedRequest["headers"], string][] = [
    ["depth", "depth"],
    ["contentLength", "content-length"],
    ["transferEncoding", "transfer-encoding"],
    ["destination", "destination"],
    ["overwrite", "overwrite"],
    ["if", "if"],
    ["ifMatch", "if-match"],
    ["ifNoneMatch", "if-none-match"],
  ];
  for (const [key, name] of copy) {
    const value = one(h[name]);
    if (value !== undefined) (out as unknown as Record<string, string>)[key] = value;
  }
  return out;
}

function matcher(filter: RequestFilter | undefined): (r: RecordedRequest) => boolean {
  if (!filter) return () => true;
  if (typeof filter === "function") return filter;
  return (r) =>
    (filter.method === undefined || r.method === filter.method.toUpperCase()) &&
    (filter.path === undefined || (typeof filter.path === "string" ? r.path === filter.path : filter.path.test(r.path)));
}
