/**
 * The Remote over a WebDAV share, with the `webdav` client (node-fetch underneath). Only plain requests
 * are used — GET, PUT, DELETE, MOVE, MKCOL, PROPFIND with an explicit Depth — because LOCK and the
 * conditional headers are ignored or racy on common servers (FIELD-NOTES); mutual exclusion is lease.ts.
 *
 * GET and PUT — every data file, metadata.db, version.txt and the O(1) check — go straight through
 * node:http(s) on the same keep-alive pool instead: the client's fetch layer cost more CPU per request than
 * loopback Apache spends serving it (2,000 small PUTs: 3.5–5.4 s through the client, 2.0 s direct; a GET of
 * version.txt 1.3 ms vs 0.7 ms), and a direct GET sends no Accept-Encoding, so bytes arrive exactly as stored.
 *
 * Timeouts: requests without a body to stream (PROPFIND, MKCOL, MOVE, DELETE) get a fixed timeout of
 * timeoutMs. GET and PUT bodies get an idle timeout of the same length instead (idle-timeout.ts), so a
 * large file on a slow link is not aborted while bytes still flow. A shutdown (stop.ts) aborts any of them.
 */
import { Agent as HttpAgent, request as httpRequest, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate } from "node:zlib";
import { createClient, type WebDAVClient } from "webdav";
import { ConfigError } from "../errors.js";
import { hostOf, isRemoteError, RemoteError, toRemoteError } from "./errors.js";
import { parseHttpDate } from "./http-date.js";
import { IdleTimer, watchDownload, watchUpload } from "./idle-timeout.js";
import { childrenOf, memberLengths, MultistatusError, parseMultistatus, requestPath, type DavResource } from "./multistatus.js";
import type { Listing, Remote, RemoteStat, StreamBody } from "./remote.js";
import { stopSignal } from "./stop.js";
import { speaksTls } from "./tls-check.js";

export interface WebdavRemoteOptions {
  url: string;
  root: string;
  username?: string;
  password?: string;
  /** PEM certificate authorities trusted besides the system's, for an https:// URL (webdav.caFile). */
  ca?: string;
  timeoutMs: number;
}

export function createWebdavRemote(opts: WebdavRemoteOptions): Remote {
  return new WebdavRemote(opts);
}

/**
 * One raw request, for the capability probe (probe.ts) only: it measures statuses and headers that the
 * Remote interface deliberately hides (the answer to a PUT into a missing folder, ETag headers,
 * `Depth: infinity`). The sync engine never uses it.
 */
export interface RawRequest {
  method: string;
  /** Relative to the share root, as every Remote path; a trailing "/" is kept (a folder's URL). */
  path: string;
  headers?: Record<string, string>;
  /** Always sent with a Content-Length (0 without a body), never chunked. */
  body?: Buffer;
  /** MOVE/COPY: the destination, relative to the root, sent as the absolute, encoded Destination URL. */
  destination?: string;
}

export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** Never rejects on an HTTP status; rejects with a RemoteError when there is no answer (network, timeout). */
export type RawRequester = (req: RawRequest) => Promise<RawResponse>;

/**
 * Where a Remote keeps its raw requester. A decorator (retries…) that wants the probe to see through it
 * forwards this property: `get [RAW_REQUEST]() { return rawRequesterOf(this.inner); }`.
 */
export const RAW_REQUEST: unique symbol = Symbol("syncd.webdav.rawRequest");

/** The raw requester of a WebDAV Remote (same URL, credentials and socket pool), or null for any other. */
export function rawRequesterOf(remote: Remote): RawRequester | null {
  const raw = (remote as unknown as { [RAW_REQUEST]?: unknown })[RAW_REQUEST];
  return typeof raw === "function" ? (raw as RawRequester) : null;
}

/** Raw response bodies are for diagnostics only: keep at most this much. */
const RAW_BODY_LIMIT = 256 * 1024;

/** Upload slices for a Buffer body: small enough that the idle timer sees progress on a slow link. */
const SLICE = 64 * 1024;
/** Errors of a request sent on a reused keep-alive socket that the server had closed (see send). */
const STALE_SOCKET = new WeakSet<object>();
const STALE_CODES = new Set(["ECONNRESET", "EPIPE"]);
/** Redirects a GET follows (as the client's fetch did); a PUT's streamed body cannot be replayed, so it follows none. */
const MAX_REDIRECTS = 5;
/** Takes of a listing that came back odd (see list) before it is handed on as it is. */
const ODD_LISTING_ATTEMPTS = 3;
/** The body of `sizes`' PROPFIND: getcontentlength and nothing else (no XML declaration: every server does without). */
const SIZES_QUERY = Buffer.from('<propfind xmlns="DAV:"><prop><getcontentlength/></prop></propfind>');

class WebdavRemote implements Remote {
  readonly location: string;
  /** The root folder's URL, percent-encoded, without a trailing slash. */
  private readonly rootUrl: string;
  private readonly client: WebDAVClient;
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;
  /** Headers of every request (the Authorization header, when there are credentials). */
  private readonly headers: Record<string, string>;
  /** The folders of webdav.root above the root itself, outermost first (`…/Apps/`), encoded, with a trailing "/". */
  private readonly ancestorUrls: string[];
  /** For an http:// URL, whether its port turned out to speak TLS (asked once, after a failure; see plainToTls). */
  private tlsPort: Promise<boolean> | null = null;

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
    const urlPath = base.pathname.replace(/\/+$/, "");
    this.ancestorUrls = rootSegments.slice(0, -1).map((_, i) => {
      base.pathname = [urlPath, ...rootSegments.slice(0, i + 1).map(encodeURIComponent)].join("/") + "/";
      return base.toString();
    });
    base.pathname = [urlPath, ...rootSegments.map(encodeURIComponent)].join("/");
    const remoteURL = base.toString().replace(/\/+$/, "");

    this.rootUrl = remoteURL;
    this.location = safeDecode(remoteURL);
    this.timeoutMs = opts.timeoutMs;
    // One keep-alive pool per remote: a sync makes hundreds of small requests, and a fresh TCP (and TLS)
    // handshake for each dominates their cost. maxSockets bounds what a high `sync.concurrency` can open.
    const agentOptions = { keepAlive: true, maxSockets: 16 };
    // A private authority is added to the system's, not put in their place (SPEC §4): a share that moves to a
    // public certificate keeps working.
    this.agent =
      base.protocol === "https:"
        ? new HttpsAgent({ ...agentOptions, ...(opts.ca ? { ca: [...rootCertificates, opts.ca] } : {}) })
        : new HttpAgent(agentOptions);
    // Basic credentials are encoded here as UTF-8 (RFC 7617): the client's own encoder sends Latin-1, so a
    // password with "ö" never matches and one with "€" throws.
    const headers: Record<string, string> =
      username !== undefined || password !== undefined
        ? { Authorization: `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`, "utf8").toString("base64")}` }
        : {};
    this.headers = headers;
    this.client = createClient(remoteURL, { headers, httpAgent: this.agent, httpsAgent: this.agent });
  }

  readonly [RAW_REQUEST]: RawRequester = (req) => this.raw(req);

  async get(path: string): Promise<Buffer> {
    const stream = await this.getStream(path);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(path: string): Promise<Readable> {
    const url = this.urlFor(path);
    const stop = stopNow("GET", url);
    for (let attempt = 1; ; attempt++) {
      const idle = new IdleTimer(this.timeoutMs, stop);
      let response: IncomingMessage;
      try {
        // A status ≥ 400 rejects here, before a stream is handed out (never as an error on a returned stream).
        response = await this.send("GET", this.fileUrl(path), { signal: idle.signal });
      } catch (err) {
        idle.clear();
        if (attempt === 1 && STALE_SOCKET.has(err as object)) continue;
        throw await this.failure(err, idle, "GET", url);
      }
      return watchDownload(response, idle, (err) => (idle.stopped ? stopped("GET", url, err) : toRemoteError(timedOut(err, idle.signal), "GET", url)));
    }
  }

  async put(path: string, body: Buffer | StreamBody): Promise<void> {
    const url = this.urlFor(path);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    const stop = stopNow("PUT", url);
    for (let attempt = 1; ; attempt++) {
      // A stream body is a factory so that a second attempt reads it afresh.
      const source = Buffer.isBuffer(body) ? Readable.from(slices(body)) : body.open();
      const idle = new IdleTimer(this.timeoutMs, stop);
      const upload = watchUpload(source, size, idle, path);
      try {
        // Always a Content-Length, never a chunked body: servers behind PHP-FPM store a chunked PUT as an
        // empty file (FIELD-NOTES). No If-None-Match / If-Match: ignored or racy (FIELD-NOTES).
        const response = await this.send("PUT", this.fileUrl(path), {
          headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
          body: upload.body,
          signal: idle.signal,
        });
        // The answer's small body must be read for the socket to go back to the pool.
        await drain(response);
        return;
      } catch (err) {
        // A failure of the local body (unreadable file, wrong size) is not the server's fault: report it as is.
        const local = upload.localError();
        if (local) throw local;
        if (attempt === 1 && STALE_SOCKET.has(err as object)) continue;
        // A PUT into a missing folder is 409 on most servers, 404 on rclone, 500 on nginx (FIELD-NOTES).
        throw await this.missingParent(await this.failure(err, idle, "PUT", url), path, [404, 500]);
      } finally {
        idle.clear();
        // The server may answer (401, 507…) before the body is consumed: release the file handle.
        upload.body.destroy();
        source.destroy();
      }
    }
  }

  async delete(path: string): Promise<void> {
    // A folder keeps its trailing slash: nginx answers 409 to a DELETE of a folder without it.
    await this.call("DELETE", path, (signal) => this.client.deleteFile(clientPath(path), { signal }));
  }

  async move(from: string, to: string): Promise<void> {
    try {
      // The client builds the absolute Destination URL (encoded, under the same root).
      await this.call("MOVE", from, (signal) => this.client.moveFile(clientPath(from), clientPath(to), { overwrite: true, signal }));
    } catch (err) {
      // A MOVE into a missing folder is 409 on webdav-server, 500 on Apache, 403 on rclone (FIELD-NOTES).
      throw isRemoteError(err) ? await this.missingParent(err, to, [403, 500]) : err;
    }
  }

  async mkdir(path: string): Promise<void> {
    if (normalise(path) !== "") return this.mkcol(this.collectionUrl(path), 0);
    // Every server answers a MKCOL whose parent is missing with 409 (FIELD-NOTES): the folders of webdav.root
    // are created one level at a time, outermost first; those of webdav.url never are, so that a mistyped
    // URL still fails loudly.
    const levels = [...this.ancestorUrls, this.collectionUrl("")];
    try {
      await this.mkcol(levels[levels.length - 1] as string, 0);
      return;
    } catch (err) {
      if (!isMissingParent(err)) throw err;
      if (levels.length === 1) throw this.urlFolderMissing(err);
    }
    for (const [i, url] of levels.entries()) {
      try {
        await this.mkcol(url, 0);
      } catch (err) {
        throw i === 0 && isMissingParent(err) ? this.urlFolderMissing(err) : err;
      }
    }
  }

  /** A 409 on the outermost folder of webdav.root: the folder webdav.url names is not there. */
  private urlFolderMissing(err: RemoteError): RemoteError {
    const parent = safeDecode((this.ancestorUrls[0] ?? this.rootUrl).replace(/\/?[^/]*\/?$/, ""));
    const status = err.status === undefined ? "" : `${err.status} ${STATUS_CODES[err.status] ?? ""}`.trim() + ": ";
    const reason = `${status}the folder ${parent}/ that webdav.url names does not exist on the server (check webdav.url; syncd creates the folders of webdav.root, not those of the URL).`;
    return new RemoteError("conflict", err.method, err.url, reason, { status: err.status, cause: err });
  }

  /** MKCOL of a folder's URL (always with its trailing slash: nginx refuses a MKCOL without one). */
  private async mkcol(url: string, attempt: number): Promise<void> {
    const where = safeDecode(url).replace(/\/$/, "");
    try {
      await this.callAt("MKCOL", where, (signal) => this.client.customRequest("", { url, method: "MKCOL", signal }));
    } catch (err) {
      // 405 Method Not Allowed is how RFC 4918 servers say "already exists" (rclone answers 201).
      if (isRemoteError(err) && err.status === 405) return;
      // rclone holds a short internal lock on a path while a request on it runs, and answers a concurrent
      // MKCOL of the same folder 423 (measured: 8 lease contenders creating version.txt.lock/). The other
      // MKCOL is creating it: try again shortly (MKCOL of an existing folder is success).
      if (isRemoteError(err, "locked") && attempt < 3) {
        await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
        return this.mkcol(url, attempt + 1);
      }
      // Concurrent MKCOLs of one folder race on Apache: the losers may get 403 or 409 although the folder
      // now exists. What matters is that it exists: ask.
      if (isRemoteError(err) && (err.kind === "auth" || err.kind === "conflict" || err.kind === "locked")) {
        const found = await this.propfind(where, url, "0").catch(() => null);
        if (found?.resources.some((r) => r.type === "directory")) return;
      }
      throw err;
    }
  }

  async stat(path: string): Promise<RemoteStat | null> {
    const self = normalise(path);
    try {
      // Depth 0, explicitly (Apache and lighttpd refuse a PROPFIND without Depth).
      const url = path.endsWith("/") ? this.collectionUrl(self) : this.fileUrl(self);
      const { resources } = await this.propfind(this.urlFor(path), url, "0");
      const found = resources.find((r) => r.path === requestPath(url)) ?? resources[0];
      return found ? toRemoteStat(found, self) : null;
    } catch (err) {
      if (isRemoteError(err, "not-found")) return null;
      throw err;
    }
  }

  /**
   * The direct children of a folder. A listing that is odd — a file without a modification time (sabre/dav
   * now and then, while others write in the folder: FIELD-NOTES), a body that is no multistatus, or nginx's
   * 500 and sabre's 404 for a member deleted while they listed — is
   * taken again before anything is concluded from it; what is returned after the last attempt is the
   * caller's to judge (the lease and the probe are cautious about undated files).
   */
  async list(dir: string): Promise<Listing> {
    for (let attempt = 1; ; attempt++) {
      try {
        const listing = await this.listOnce(dir);
        const odd = listing.entries.some((e) => e.type === "file" && Number.isNaN(e.mtime.getTime()));
        if (!odd || attempt >= ODD_LISTING_ATTEMPTS) return listing;
      } catch (err) {
        // nginx (dav-ext) answers 500 when a member is deleted between its readdir and its stat (FIELD-NOTES,
        // fixtures/dav): a folder others are writing in, which a second look lists fine.
        // sabre/dav answers 404 for the whole folder then (a member's NotFound escapes): the folder is there.
        const odd =
          isRemoteError(err, "protocol") ||
          (isRemoteError(err, "server") && err.status === 500) ||
          (isRemoteError(err, "not-found") && attempt < ODD_LISTING_ATTEMPTS && (await this.stat(`${normalise(dir)}/`))?.type === "directory");
        if (!odd || attempt >= ODD_LISTING_ATTEMPTS) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }

  private async listOnce(dir: string): Promise<Listing> {
    const self = normalise(dir);
    // Our own folder URL: the client drops a collection's trailing slash, which Apache answers with a redirect.
    const url = this.collectionUrl(self);
    const { resources, serverDate } = await this.propfind(this.urlFor(dir), url, "1");
    const entries = childrenOf(resources, url).map(({ name, resource }) => toRemoteStat(resource, self ? `${self}/${name}` : name));
    return { entries, serverDate };
  }

  /**
   * A HEAD, whose answer is headers only: ~450–620 bytes on the wire with its request on the six servers of
   * the matrix, where a PROPFIND Depth 0 asking only for getcontentlength takes ~800–1,100 (its answer
   * repeats the path inside XML). An answer that does not say the length plainly (no Content-Length, an
   * encoded body, a redirect, HEAD refused) is asked again by PROPFIND, which every server answers.
   */
  async size(path: string): Promise<number | null> {
    const self = normalise(path);
    const res = await this.exchange("HEAD", this.fileUrl(self), this.urlFor(self), this.headers, { keep: 0 });
    if (res.status === 404 || res.status === 410) return null;
    const length = res.status >= 200 && res.status < 300 ? plainLength(res.headers) : null;
    if (length !== null) return length;
    if (res.status < 400 || res.status === 405 || res.status === 501) {
      const found = await this.stat(self);
      return found?.type === "file" ? found.size : null;
    }
    throw toRemoteError(new HttpStatusError({ statusCode: res.status, headers: res.headers }), "HEAD", this.urlFor(self));
  }

  /**
   * A PROPFIND Depth 1 that asks for getcontentlength alone: ~240–315 bytes per entry on the wire on the
   * six servers of the matrix, against ~700–900 for `list`'s allprop. A compressed answer is asked for:
   * ~45 bytes per entry where the server compresses (Nextcloud's recommended nginx gzips XML). An odd
   * answer (no multistatus; nginx's 500 for a member deleted while it lists) is taken again, as `list`
   * does; a 404 is an empty folder (sabre/dav's 404 for a folder whose member was deleted while it listed
   * then has its files asked for one by one, as any member a listing leaves out).
   */
  async sizes(dir: string): Promise<Map<string, number>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sizesOnce(dir);
      } catch (err) {
        const odd = isRemoteError(err, "protocol") || (isRemoteError(err, "server") && err.status === 500);
        if (!odd || attempt >= ODD_LISTING_ATTEMPTS) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }

  private async sizesOnce(dir: string): Promise<Map<string, number>> {
    const url = this.collectionUrl(normalise(dir));
    const where = this.urlFor(dir);
    const headers = {
      ...this.headers,
      Depth: "1",
      // lighttpd refuses a PROPFIND body without an XML media type (415).
      "Content-Type": "application/xml",
      "Content-Length": String(SIZES_QUERY.length),
      "Accept-Encoding": "gzip",
    };
    const res = await this.exchange("PROPFIND", url, where, headers, { body: SIZES_QUERY, keep: Number.POSITIVE_INFINITY });
    if (res.status === 404) return new Map();
    if (res.status !== 207) throw toRemoteError(new HttpStatusError({ statusCode: res.status, headers: res.headers }), "PROPFIND", where);
    try {
      return memberLengths(await decoded(res), url);
    } catch (err) {
      const reason = err instanceof MultistatusError ? err.message : `its body could not be decoded (${(err as Error).message})`;
      throw new RemoteError("protocol", "PROPFIND", where, `unexpected answer from the server: ${reason}.`, { status: res.status });
    }
  }

  /** One PROPFIND (allprop: no body), read by multistatus.ts rather than the client's parser (see there). */
  private async propfind(where: string, url: string, depth: "0" | "1"): Promise<{ resources: DavResource[]; serverDate: Date | null }> {
    return this.callAt("PROPFIND", where, async (signal) => {
      const response = await this.client.customRequest("", { url, method: "PROPFIND", headers: { Depth: depth, Accept: "text/plain,application/xml" }, signal });
      const body = await response.text();
      let resources: DavResource[];
      try {
        resources = parseMultistatus(body, url);
      } catch (err) {
        if (err instanceof MultistatusError) throw new RemoteError("protocol", "PROPFIND", where, `unexpected answer from the server: ${err.message}.`, { status: response.status });
        throw err;
      }
      return { resources, serverDate: parseHttpDate(response.headers.get("date")) };
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /**
   * Servers disagree on how they refuse a write into a folder that does not exist (FIELD-NOTES): 409 is
   * already kind "conflict", but rclone's 404 reads as "not found", nginx's and Apache's 500 as a server
   * fault (which would be retried in vain) and rclone's 403 as a permission problem. For those statuses
   * the parent folder is looked up, and when it is missing the failure becomes kind "conflict" saying so.
   */
  private async missingParent(err: RemoteError, path: string, statuses: number[]): Promise<RemoteError> {
    if (err.status === undefined || !statuses.includes(err.status)) return err;
    const parent = normalise(path).split("/").slice(0, -1).join("/");
    const stat = await this.stat(parent).catch(() => undefined);
    if (stat !== null) return err; // the parent is there (or could not be checked): the answer meant something else
    const reason = err.message.slice(err.message.indexOf(" failed: ") + 9).replace(/ \(.*\)\.$|\.$/, "");
    const where = parent ? `the folder "${parent}"` : "the share's root folder";
    return new RemoteError("conflict", err.method, err.url, `${reason}: ${where} does not exist (folders must be created first).`, {
      status: err.status,
      cause: err,
    });
  }

  /** See RawRequest. Uses the configured credentials and the same keep-alive pool as every other request. */
  private async raw(req: RawRequest): Promise<RawResponse> {
    const body = req.body ?? Buffer.alloc(0);
    const headers: Record<string, string> = { ...this.headers, ...req.headers, "Content-Length": String(body.length) };
    if (req.destination !== undefined) headers.Destination = this.pathUrl(req.destination);
    return this.exchange(req.method, this.pathUrl(req.path), this.urlFor(req.path), headers, { body, keep: RAW_BODY_LIMIT });
  }

  /**
   * One request whose answer is read whole (at most `keep` bytes of its body kept), on the keep-alive pool,
   * under a fixed timeout (timeoutMs) and the stop signal. Never rejects on a status; rejects with a
   * RemoteError when there is no answer. `headers` are sent as given (the credentials too): a request sent
   * to count its bytes carries nothing it does not need. A request sent on a pooled socket the server had
   * just closed is sent once more (see send).
   */
  private async exchange(method: string, url: string, where: string, headers: Record<string, string>, opts: { body?: Buffer; keep: number }): Promise<RawResponse> {
    for (let attempt = 1; ; attempt++) {
      const timer = new IdleTimer(this.timeoutMs, stopNow(method, where)); // never touched: a fixed timeout
      try {
        return await this.exchangeOnce(method, url, headers, opts, timer.signal);
      } catch (err) {
        if (attempt === 1 && STALE_SOCKET.has(err as object)) continue;
        throw await this.failure(err, timer, method, where);
      } finally {
        timer.clear();
      }
    }
  }

  private exchangeOnce(method: string, url: string, headers: Record<string, string>, opts: { body?: Buffer; keep: number }, signal: AbortSignal): Promise<RawResponse> {
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    return new Promise<RawResponse>((resolve, reject) => {
      const request = send(url, { method, headers, agent: this.agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on("data", (chunk: Buffer) => {
          if (kept < opts.keep) chunks.push(chunk);
          kept += chunk.length;
        });
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flattenHeaders(res.headers), body: Buffer.concat(chunks) }));
      });
      request.on("error", (err) => {
        if (request.reusedSocket && !signal.aborted && STALE_CODES.has((err as NodeJS.ErrnoException).code ?? "")) STALE_SOCKET.add(err);
        reject(err);
      });
      request.end(opts.body);
    });
  }

  /** The percent-encoded URL of a path; a trailing "/" (a folder) is kept, and the root is always "…/". */
  private pathUrl(path: string): string {
    const segments = normalise(path).split("/").filter(Boolean).map(encodeURIComponent);
    const folder = segments.length === 0 || path.endsWith("/");
    return [this.rootUrl, ...segments].join("/") + (folder ? "/" : "");
  }

  /** The percent-encoded URL of a folder, with the trailing slash RFC 4918 gives collections. */
  private collectionUrl(path: string): string {
    const segments = normalise(path).split("/").filter(Boolean).map(encodeURIComponent);
    return [this.rootUrl, ...segments].join("/") + "/";
  }

  /** The percent-encoded URL of a file below the root. */
  private fileUrl(path: string): string {
    const segments = normalise(path).split("/").filter(Boolean).map(encodeURIComponent);
    return [this.rootUrl, ...segments].join("/");
  }

  /**
   * One request on the keep-alive pool, resolved with the response once its head has arrived; a status
   * ≥ 400 (its body discarded) or a 3xx that is not followed rejects with an HttpStatusError. A body is
   * piped in; if it fails, the request is destroyed with its error. Aborting `signal` destroys the request
   * and its response.
   */
  private send(
    method: "GET" | "PUT",
    url: string,
    opts: { headers?: OutgoingHttpHeaders; body?: Readable; signal: AbortSignal },
    redirects = 0,
  ): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const target = new URL(url);
      // Credentials only ever go to the configured server (as fetch does on a redirect elsewhere).
      const sameOrigin = target.origin === new URL(this.rootUrl).origin;
      const headers = { ...(sameOrigin ? this.headers : {}), ...opts.headers };
      const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, { method, headers, agent: this.agent, signal: opts.signal });
      let answered = false;
      // Not `once`: a request can still fail after its response arrived (an abort); a settled promise ignores it.
      req.on("error", (err) => {
        // A pooled socket that the server closed just as we reused it (its keep-alive timeout: 5 s on Node's
        // own servers): nothing reached the server, and the caller sends the request once more.
        if (!answered && req.reusedSocket && !opts.signal.aborted && STALE_CODES.has((err as NodeJS.ErrnoException).code ?? "")) {
          STALE_SOCKET.add(err);
        }
        reject(err);
      });
      req.on("response", (res) => {
        answered = true;
        res.on("error", () => {}); // surfaces through the consumer (watchDownload) or drain
        const status = res.statusCode ?? 0;
        if (opts.body && !req.writableEnded) {
          // The answer came before the body reported its end. A body's end can lag behind its last byte (a
          // file stream reads its EOF separately, and a run destroys the body once answered), and a request
          // that never ends keeps its socket out of the pool until the server's keep-alive timeout: 2,000
          // uploads stalled 15 s at a time. A 2xx means the server has all Content-Length bytes: end the
          // request here, so the socket is reused. Any other answer may have left the body unread: the
          // connection cannot be reused.
          opts.body.unpipe(req);
          if (status >= 200 && status < 300) req.end();
          else req.destroy();
        }
        if (status >= 300 && status < 400 && res.headers.location && method === "GET" && redirects < MAX_REDIRECTS) {
          res.resume();
          resolve(this.send(method, new URL(res.headers.location, target).toString(), opts, redirects + 1));
          return;
        }
        if (status >= 300) {
          // Read (a small) or destroy (a large) error body, so that it cannot pin its pooled socket.
          discardBody(res);
          reject(new HttpStatusError(res));
          return;
        }
        resolve(res);
      });
      if (opts.body) {
        opts.body.on("error", (err) => req.destroy(err));
        opts.body.pipe(req);
      } else {
        req.end();
      }
    });
  }

  /** Human-readable URL of a path for messages (never with credentials). */
  private urlFor(path: string): string {
    const rel = path.replace(/^\/+/, "");
    return rel ? `${this.location}/${rel}` : this.location;
  }

  private call<T>(method: string, path: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.callAt(method, this.urlFor(path), fn);
  }

  /** `call` for a URL given whole (a folder of webdav.root above the root); `url` is for messages. */
  private async callAt<T>(method: string, url: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timer = new IdleTimer(this.timeoutMs, stopNow(method, url)); // never touched: a fixed timeout
    try {
      return await fn(timer.signal);
    } catch (err) {
      discardErrorBody(err);
      throw await this.failure(err, timer, method, url);
    } finally {
      timer.clear();
    }
  }

  /** The RemoteError for a request that got no usable answer: stopped, timed out, or whatever the cause says. */
  private async failure(err: unknown, timer: IdleTimer, method: string, url: string): Promise<RemoteError> {
    if (timer.stopped) return stopped(method, url, err);
    return this.plainToTls(toRemoteError(timedOut(err, timer.signal), method, url));
  }

  /**
   * An http:// URL that names a TLS port: servers answer the plain request by closing the connection
   * (Node, lighttpd), with a TLS alert that does not parse as HTTP, or with a 400 (Apache, nginx, Go). Those
   * failures are common for other reasons too, so the port is asked once, by a TLS handshake that sends
   * nothing, whether it speaks TLS; if it does, the failure says so instead of being retried as a network error.
   */
  private async plainToTls(err: RemoteError): Promise<RemoteError> {
    const base = new URL(this.rootUrl);
    if (base.protocol !== "http:") return err;
    const code = systemCodeOf(err.cause);
    const refused = err.kind === "network" && (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || /^HPE_/.test(code ?? ""));
    if (!refused && err.status !== 400) return err;
    this.tlsPort ??= speaksTls(base.hostname.replace(/^\[|\]$/g, ""), Number(base.port || 80), Math.min(this.timeoutMs, 3000));
    if (!(await this.tlsPort)) return err;
    const reason = `the server at ${hostOf(this.rootUrl)} speaks TLS (https) on that port, not plain HTTP; make webdav.url start with https://.`;
    return new RemoteError("tls", err.method, err.url, reason, { status: err.status, cause: err });
  }
}

/** A request must not start: a stop (stop.ts) has taken effect. Else the stop signal to give it, if any. */
function stopNow(method: string, url: string): AbortSignal | null {
  const stop = stopSignal();
  if (stop?.aborted) throw stopped(method, url);
  return stop;
}

function stopped(method: string, url: string, cause?: unknown): RemoteError {
  return new RemoteError("aborted", method, url, "stopped, because syncd was asked to stop.", cause === undefined ? {} : { cause });
}

/** The first system error code in a cause chain ("ECONNRESET", "HPE_INVALID_CONSTANT"…). */
function systemCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && !(e instanceof RemoteError)) return code;
  }
  return undefined;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** How servers refuse a MKCOL whose parent folder is missing: 409 (every server measured), or a 404. */
function isMissingParent(err: unknown): err is RemoteError {
  return isRemoteError(err, "conflict") || isRemoteError(err, "not-found");
}

/** Remote paths are relative ("a/b", "lock/"); the client wants them absolute below its base URL. */
function clientPath(path: string): string {
  return "/" + path.replace(/^\/+/, "");
}

/** The canonical relative form used in results: no leading or trailing slash. */
function normalise(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}

function toRemoteStat(resource: DavResource, path: string): RemoteStat {
  return {
    path,
    name: path.slice(path.lastIndexOf("/") + 1),
    type: resource.type,
    size: resource.size,
    // An absent getlastmodified yields an Invalid Date; lease.ts treats such a claim as live (cautious).
    mtime: resource.mtime ?? new Date(Number.NaN),
    etag: resource.etag,
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

/**
 * A response whose status is an error (or an unexpected redirect), shaped like the webdav client's errors
 * (`status`, `response.statusText`, `response.headers.get`) so that toRemoteError maps both alike.
 */
class HttpStatusError extends Error {
  readonly status: number;
  readonly response: { status: number; statusText: string; headers: { get(name: string): string | null } };

  constructor(res: Pick<IncomingMessage, "statusCode" | "headers"> & { statusMessage?: string }) {
    const status = res.statusCode ?? 0;
    const statusText = res.statusMessage || STATUS_CODES[status] || "";
    super(`Invalid response: ${status} ${statusText}`);
    this.status = status;
    const headers = res.headers;
    this.response = {
      status,
      statusText,
      headers: {
        get: (name: string) => {
          const value = headers[name.toLowerCase()];
          return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
        },
      },
    };
  }
}

/** An error body: read to the end when small (the socket then returns to the pool), else destroyed. */
function discardBody(res: IncomingMessage): void {
  const length = Number(res.headers["content-length"]);
  if (Number.isFinite(length) && length <= 64 * 1024) res.resume();
  else res.destroy();
}

/** Reads a response to its end (a PUT's short answer), so that its keep-alive socket is reused. */
async function drain(res: IncomingMessage): Promise<void> {
  await finished(res.resume());
}

/** An error caused by our own idle timer firing is a timeout, whatever the HTTP layer called it. */
function timedOut(err: unknown, signal: AbortSignal): unknown {
  if (!signal.aborted || (err as { name?: unknown } | null)?.name === "AbortError") return err;
  const timeout = new Error("timed out", { cause: err });
  timeout.name = "AbortError";
  return timeout;
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

/**
 * The Content-Length of an answer when it is the length of the resource itself: no transfer coding, no
 * content coding (we ask for none, but a server may encode anyway). Null otherwise.
 */
function plainLength(headers: Record<string, string>): number | null {
  if (headers["transfer-encoding"] !== undefined) return null;
  const coding = headers["content-encoding"];
  if (coding !== undefined && coding.trim().toLowerCase() !== "identity") return null;
  const text = headers["content-length"];
  const length = text === undefined || !/^\s*\d+\s*$/.test(text) ? Number.NaN : Number(text);
  return Number.isSafeInteger(length) ? length : null;
}

/** A response body as text, undone from the content coding the server chose (gzip, deflate or br). */
async function decoded(res: RawResponse): Promise<string> {
  const coding = (res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decode = CODINGS[coding];
  if (!decode) throw new Error(`unknown content coding "${coding}"`);
  return (await decode(res.body)).toString("utf8");
}

const CODINGS: Record<string, (body: Buffer) => Promise<Buffer>> = {
  identity: async (body) => body,
  gzip: promisify(gunzip),
  "x-gzip": promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};
