/**
 * The Remote over a WebDAV share, with the `webdav` client (node-fetch underneath). Only plain requests
 * are used — GET, PUT, DELETE, MOVE, MKCOL, PROPFIND with an explicit Depth — because LOCK and the
 * conditional headers are ignored or racy on common servers (FIELD-NOTES); mutual exclusion is lease.ts.
 *
 * Timeouts: requests without a body to stream (PROPFIND, MKCOL, MOVE, DELETE) get a fixed
 * AbortSignal.timeout(timeoutMs). GET and PUT bodies get an idle timeout of the same length instead
 * (idle-timeout.ts), so a large file on a slow link is not aborted while bytes still flow.
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import { createClient, parseXML, prepareFileFromProps, type FileStat, type WebDAVClient } from "webdav";
import { ConfigError } from "../errors.js";
import { isRemoteError, toRemoteError } from "./errors.js";
import { IdleTimer, watchDownload, watchUpload } from "./idle-timeout.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "./remote.js";

export interface WebdavRemoteOptions {
  url: string;
  root: string;
  username?: string;
  password?: string;
  timeoutMs: number;
}

export function createWebdavRemote(opts: WebdavRemoteOptions): Remote {
  return new WebdavRemote(opts);
}

/** Upload slices for a Buffer body: small enough that the idle timer sees progress on a slow link. */
const SLICE = 64 * 1024;

class WebdavRemote implements Remote {
  readonly location: string;
  /** The root folder's URL, percent-encoded, without a trailing slash. */
  private readonly rootUrl: string;
  private readonly client: WebDAVClient;
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;

  constructor(opts: WebdavRemoteOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new ConfigError(`webdav.url is not a valid URL: ${JSON.stringify(opts.url)}.`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new ConfigError(`webdav.url must start with http:// or https:// (got ${base.protocol}).`);
    }
    // Credentials in the URL are accepted but moved out of it, so that no URL we print carries them.
    const username = opts.username ?? (base.username ? decodeURIComponent(base.username) : undefined);
    const password = opts.password ?? (base.password ? decodeURIComponent(base.password) : undefined);
    base.username = "";
    base.password = "";
    base.search = "";
    base.hash = "";
    // The root is a folder name, not URL syntax: encode each segment (spaces, "é", "%", "#"…). The
    // client then encodes the paths below it, and decodes hrefs relative to this base.
    const rootSegments = opts.root.split("/").filter((s) => s !== "" && s !== ".");
    if (rootSegments.includes("..")) throw new ConfigError(`webdav.root must not contain "..": ${opts.root}.`);
    base.pathname = [base.pathname.replace(/\/+$/, ""), ...rootSegments.map(encodeURIComponent)].join("/");
    const remoteURL = base.toString().replace(/\/+$/, "");

    this.rootUrl = remoteURL;
    this.location = safeDecode(remoteURL);
    this.timeoutMs = opts.timeoutMs;
    // One keep-alive pool per remote: a sync makes hundreds of small requests, and a fresh TCP (and TLS)
    // handshake for each dominates their cost. maxSockets bounds what a high `sync.concurrency` can open.
    const agentOptions = { keepAlive: true, maxSockets: 16 };
    this.agent = base.protocol === "https:" ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    // Basic credentials are encoded here as UTF-8 (RFC 7617): the client's own encoder sends Latin-1, so a
    // password with "ö" never matches and one with "€" throws.
    const headers: Record<string, string> =
      username !== undefined || password !== undefined
        ? { Authorization: `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`, "utf8").toString("base64")}` }
        : {};
    this.client = createClient(remoteURL, { headers, httpAgent: this.agent, httpsAgent: this.agent });
  }

  async get(path: string): Promise<Buffer> {
    const stream = await this.getStream(path);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(path: string): Promise<Readable> {
    const url = this.urlFor(path);
    const idle = new IdleTimer(this.timeoutMs);
    let body: unknown;
    try {
      // customRequest rejects on a status ≥ 400 before we hand out a stream; the client's
      // createReadStream would only emit the 404 later, as an error on an already returned stream.
      const response = await this.client.customRequest(clientPath(path), { method: "GET", signal: idle.signal });
      body = (response as unknown as { body: unknown }).body;
    } catch (err) {
      idle.clear();
      discardErrorBody(err);
      throw toRemoteError(err, "GET", url);
    }
    if (!(body instanceof Readable)) {
      idle.clear();
      return Readable.from([]); // a 2xx without a body (204)
    }
    return watchDownload(body, idle, (err) => toRemoteError(err, "GET", url));
  }

  async put(path: string, body: Buffer | StreamBody): Promise<void> {
    const url = this.urlFor(path);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const source = Buffer.isBuffer(body) ? Readable.from(slices(body)) : body.open();
    const idle = new IdleTimer(this.timeoutMs);
    const upload = watchUpload(source, size, idle, path);
    try {
      // putFileContents sets no Content-Length for a stream, so it is given as a header: a chunked PUT is
      // stored as an empty file by servers behind PHP-FPM (FIELD-NOTES). overwrite: true sends no
      // If-None-Match (ignored or racy anyway).
      await this.client.putFileContents(clientPath(path), upload.body, {
        overwrite: true,
        contentLength: size,
        headers: { "Content-Length": String(size) },
        signal: idle.signal,
      });
    } catch (err) {
      discardErrorBody(err);
      // A failure of the local body (unreadable file, wrong size) is not the server's fault: report it as is.
      throw upload.localError() ?? toRemoteError(err, "PUT", url);
    } finally {
      idle.clear();
      // The server may answer (401, 507…) before the body is consumed: release the file handle.
      upload.body.destroy();
      source.destroy();
    }
  }

  async delete(path: string): Promise<void> {
    // A folder keeps its trailing slash: nginx answers 409 to a DELETE of a folder without it.
    await this.call("DELETE", path, (signal) => this.client.deleteFile(clientPath(path), { signal }));
  }

  async move(from: string, to: string): Promise<void> {
    // The client builds the absolute Destination URL (encoded, under the same root).
    await this.call("MOVE", from, (signal) => this.client.moveFile(clientPath(from), clientPath(to), { overwrite: true, signal }));
  }

  async mkdir(path: string): Promise<void> {
    try {
      // Our own URL, because the client drops the trailing slash of the root folder ("") and nginx
      // refuses a MKCOL without one.
      const url = this.collectionUrl(path);
      await this.call("MKCOL", path, (signal) => this.client.customRequest("", { url, method: "MKCOL", signal }));
    } catch (err) {
      // 405 Method Not Allowed is how RFC 4918 servers say "already exists" (rclone answers 201).
      if (isRemoteError(err) && err.status === 405) return;
      // Concurrent MKCOLs of one folder race on Apache: the losers may get 403 or 409 although the folder
      // now exists. What matters is that it exists: ask.
      if (isRemoteError(err) && (err.kind === "auth" || err.kind === "conflict")) {
        const stat = await this.stat(path).catch(() => null);
        if (stat?.type === "directory") return;
      }
      throw err;
    }
  }

  async stat(path: string): Promise<RemoteStat | null> {
    try {
      // The client sends Depth: 0 explicitly (Apache and lighttpd refuse a PROPFIND without Depth).
      const stat = (await this.call("PROPFIND", path, (signal) => this.client.stat(clientPath(path), { signal }))) as FileStat;
      return toRemoteStat(stat, normalise(path));
    } catch (err) {
      if (isRemoteError(err, "not-found")) return null;
      throw err;
    }
  }

  async list(dir: string): Promise<Listing> {
    const self = normalise(dir);
    // Our own PROPFIND rather than getDirectoryContents: that one drops the collection's trailing slash
    // (Apache answers a DAV request on a folder without it with a redirect) and hides the Date header.
    const url = this.collectionUrl(self);
    return this.call("PROPFIND", dir, async (signal) => {
      const response = await this.client.customRequest("", {
        url,
        method: "PROPFIND",
        headers: { Depth: "1", Accept: "text/plain,application/xml" }, // explicit: Apache refuses a PROPFIND without Depth
        signal,
      });
      const dav = await parseXML(await response.text());
      const folder = hrefPath(url, url);
      const entries: RemoteStat[] = [];
      for (const item of dav.multistatus.response) {
        if (!("propstat" in item) || !item.propstat?.prop) continue; // a member the server could not stat
        const member = hrefPath(item.href, url);
        if (member === folder) continue; // the folder itself
        // Depth 1: every other item is a direct child, so its last segment is all we need. This holds
        // even behind a proxy that rewrites the path prefix of the hrefs.
        const name = member.slice(member.lastIndexOf("/") + 1);
        if (!name) continue;
        const path = self ? `${self}/${name}` : name;
        entries.push(toRemoteStat(prepareFileFromProps(item.propstat.prop, `/${path}`), path));
      }
      const date = new Date(response.headers.get("date") ?? Number.NaN);
      return { entries, serverDate: Number.isNaN(date.getTime()) ? null : date };
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /** The percent-encoded URL of a folder, with the trailing slash RFC 4918 gives collections. */
  private collectionUrl(path: string): string {
    const segments = normalise(path).split("/").filter(Boolean).map(encodeURIComponent);
    return [this.rootUrl, ...segments].join("/") + "/";
  }

  /** Human-readable URL of a path for messages (never with credentials). */
  private urlFor(path: string): string {
    const rel = path.replace(/^\/+/, "");
    return rel ? `${this.location}/${rel}` : this.location;
  }

  private async call<T>(method: string, path: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await fn(AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      discardErrorBody(err);
      throw toRemoteError(err, method, this.urlFor(path));
    }
  }
}

/** Remote paths are relative ("a/b", "lock/"); the client wants them absolute below its base URL. */
function clientPath(path: string): string {
  return "/" + path.replace(/^\/+/, "");
}

/** The canonical relative form used in results: no leading or trailing slash. */
function normalise(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}

function toRemoteStat(stat: FileStat, path: string): RemoteStat {
  return {
    path,
    name: path.slice(path.lastIndexOf("/") + 1),
    type: stat.type,
    size: Number.isFinite(stat.size) ? stat.size : 0,
    // An absent getlastmodified yields an Invalid Date; lease.ts treats such a claim as live (cautious).
    mtime: stat.lastmod ? new Date(stat.lastmod) : new Date(Number.NaN),
    etag: stat.etag || null,
  };
}

/**
 * The client throws on a status ≥ 400 without reading the body; an unread body pins its keep-alive socket,
 * and after maxSockets such errors every request waits for a socket until it times out (measured: 16
 * 404s with a 256 KB page). Destroying the body frees the socket (a small body has already been read,
 * and then the socket is already back in the pool).
 */
function discardErrorBody(err: unknown): void {
  const body = (err as { response?: { body?: unknown } } | null)?.response?.body;
  if (body instanceof Readable && !body.destroyed) {
    body.on("error", () => {});
    body.destroy();
  }
}

/** The decoded path of an href (absolute URL or absolute path), without a trailing slash. */
function hrefPath(href: string, base: string): string {
  const pathname = new URL(href, base).pathname.replace(/\/+$/, "");
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function* slices(buf: Buffer): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += SLICE) yield buf.subarray(i, i + SLICE);
}

function safeDecode(url: string): string {
  try {
    return decodeURI(url);
  } catch {
    return url;
  }
}
