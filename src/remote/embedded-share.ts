/**
 * The embedded WebDAV share (SPEC §4: no webdav.url → `<dataDir>/share`, served so that other instances
 * can point at it), built on webdav-server v2 with two guards against its known faults (FIELD-NOTES):
 * - it listens on every interface unless told otherwise: we run our own http.Server bound to `host` only;
 * - an `If:` header crashes it with an uncaught error (see `stripIfHeader`).
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { v2 } from "webdav-server";

export interface ShareHandlerOptions {
  dir: string;
  username?: string;
  password?: string;
  /**
   * Serve under this URL path (e.g. "/dav") instead of at "/": the daemon puts the share beside its API on
   * one port. Requests must start with it; hrefs in responses and MOVE destinations carry it.
   */
  mountPath?: string;
}

export interface EmbeddedShareOptions extends ShareHandlerOptions {
  /** Default 127.0.0.1: the share is reachable from elsewhere only when asked for explicitly. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
}

export interface EmbeddedShare {
  url: string;
  port: number;
  close(): Promise<void>;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export async function startEmbeddedShare(opts: EmbeddedShareOptions): Promise<EmbeddedShare> {
  const handler = await createShareHandler(opts);
  const host = opts.host ?? "127.0.0.1";
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive sockets of clients would otherwise hold close() open for seconds.
        server.closeAllConnections();
      }),
  };
}

/**
 * The share as a plain request handler over `dir`, so that a caller (the test helper) can put its own
 * http.Server in front of it. webdav-server's own start() is not used: it ignores port 0 and binds `::`.
 */
export async function createShareHandler(opts: ShareHandlerOptions): Promise<RequestHandler> {
  await mkdir(opts.dir, { recursive: true });
  const options: v2.WebDAVServerOptions = { rootFileSystem: new v2.PhysicalFileSystem(opts.dir) };
  if (opts.username !== undefined || opts.password !== undefined) {
    const users = new v2.SimpleUserManager();
    const user = users.addUser(opts.username ?? "", opts.password ?? "", false);
    // Only this user has rights: the anonymous default user gets nothing, on top of being refused a login.
    const privileges = new v2.SimplePathPrivilegeManager();
    privileges.setRights(user, "/", ["all"]);
    options.requireAuthentification = true;
    options.httpAuthentication = new BasicAuthentication(users, opts.username ?? "", opts.password ?? "");
    options.privilegeManager = privileges;
  }
  const dav = new v2.WebDAVServer(options);
  const mount = opts.mountPath?.replace(/\/+$/, "") || "";
  return (req, res) => {
    stripIfHeader(req);
    if (mount === "") return dav.executeRequest(req, res);
    // webdav-server resolves req.url against the mounted folder and prefixes what it sends back with rootPath.
    const url = req.url ?? "/";
    if (url !== mount && !url.startsWith(`${mount}/`) && !url.startsWith(`${mount}?`)) {
      res.writeHead(404).end();
      return;
    }
    req.url = url.slice(mount.length) || "/";
    if (req.url.startsWith("?")) req.url = `/${req.url}`;
    dav.executeRequest(req, res, mount);
  };
}

/**
 * webdav-server 2.6.3 dies on an `If:` header: an untagged list `(<token>)` makes it look up a file system
 * for an undefined path, and MKCOL dereferences a null file system for any `If`; both throw inside a
 * callback, i.e. an uncaught exception. When it does not crash, its evaluation passes every non-empty
 * condition list anyway (parseInternal returns "true" as soon as it has conditions). So removing the
 * header changes nothing but availability. LOCK is the exception: it reads the header itself (no
 * evaluation) to find the token of a lock refresh.
 */
function stripIfHeader(req: IncomingMessage): void {
  if (req.headers.if !== undefined && req.method?.toUpperCase() !== "LOCK") delete req.headers.if;
}

/**
 * HTTP Basic authentication. webdav-server's own HTTPBasicAuthentication rejects base64 containing "+" or
 * "/" and truncates passwords at a ":"; this one decodes the header properly and compares in constant time.
 */
class BasicAuthentication implements v2.HTTPAuthentication {
  private readonly expected: Buffer;

  constructor(
    private readonly users: v2.SimpleUserManager,
    private readonly username: string,
    password: string,
    private readonly realm = "syncd",
  ) {
    this.expected = digest(`${username}:${password}`);
  }

  askForAuthentication(): { [name: string]: string } {
    return { "WWW-Authenticate": `Basic realm="${this.realm}", charset="UTF-8"` };
  }

  getUser(ctx: v2.HTTPRequestContext, callback: (error: Error, user?: v2.IUser) => void): void {
    const refuse = (error: Error) => this.users.getDefaultUser((anonymous) => callback(error, anonymous));
    const header = ctx.headers.find("Authorization");
    const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!match?.[1]) return refuse(header ? v2.Errors.WrongHeaderFormat : v2.Errors.MissingAuthorisationHeader);
    if (!timingSafeEqual(digest(Buffer.from(match[1], "base64").toString("utf8")), this.expected)) {
      return refuse(v2.Errors.BadAuthentication);
    }
    this.users.getUserByName(this.username, (error, user) => (error ? refuse(error) : callback(null as unknown as Error, user)));
  }
}

/** Fixed-length digests, so that timingSafeEqual can compare secrets of any length. */
function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
