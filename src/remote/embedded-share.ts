/**
 * The embedded WebDAV share (SPEC §4: no webdav.url → `<dataDir>/share`, served so that other instances
 * can point at it), built on webdav-server v2, which is not fit to face a network or a browser by itself
 * (FIELD-NOTES). Around it:
 * - it listens on every interface unless told otherwise: we run our own http.Server bound to `host` only;
 * - it grants CORS to every origin, treats POST as PUT and hands out locks that lock nothing:
 *   share-policy.ts decides what reaches it, share-faults.ts strips what it must not answer;
 * - malformed input kills it with uncaught errors: share-policy.ts and dav-body-check.ts refuse what is
 *   known to, share-faults.ts contains the rest;
 * - COPY overwrites whatever Overwrite says: copy-check.ts.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { v2 } from "webdav-server";
import { errorMessage } from "../errors.js";
import { AtomicFileSystem } from "./atomic-fs.js";
import { copyCheck } from "./copy-check.js";
import { propfindRefusal, proppatchRefusal } from "./dav-body-check.js";
import { answer, runShareRequest, wrapCommands, type ShareFaultListener } from "./share-faults.js";
import { refusal, sanitize, type Refusal } from "./share-policy.js";

export interface ShareHandlerOptions {
  dir: string;
  username?: string;
  password?: string;
  /**
   * The caller's own check of a request's credentials (the daemon's server.token), instead of
   * username/password. Its Authorization header is then removed, so that webdav-server does not look the
   * user name up in its own (empty) user list.
   */
  authorize?: (req: IncomingMessage) => boolean;
  /**
   * Serve under this URL path (e.g. "/dav") instead of at "/": the daemon puts the share beside its API on
   * one port. Requests must start with it; hrefs in responses and MOVE destinations carry it.
   */
  mountPath?: string;
  /** Told of each request that failed inside webdav-server (share-faults.ts). Default: a line on stderr. */
  onFault?: ShareFaultListener;
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
 * The share for the length of one command (a CLI command on an instance without webdav.url syncs through
 * it): loopback, a free port, and a password made up now, so that nothing else on the machine can use it
 * meanwhile. `username` and `password` are for the one client that talks to it.
 */
export async function startPrivateShare(dir: string): Promise<EmbeddedShare & { username: string; password: string }> {
  const credentials = { username: "syncd", password: randomBytes(32).toString("hex") };
  const share = await startEmbeddedShare({ dir, host: "127.0.0.1", port: 0, ...credentials });
  return { ...share, ...credentials };
}

/**
 * The share as a plain request handler over `dir`, so that a caller (the daemon, the test helper) can put
 * its own http.Server in front of it. webdav-server's own start() is not used: it ignores port 0 and binds `::`.
 */
export async function createShareHandler(opts: ShareHandlerOptions): Promise<RequestHandler> {
  await mkdir(opts.dir, { recursive: true });
  const options: v2.WebDAVServerOptions = { rootFileSystem: new AtomicFileSystem(opts.dir) };
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
  const mount = opts.mountPath?.replace(/\/+$/, "") || "";
  const dav = new v2.WebDAVServer(options);
  const checks = {
    propfind: (_: unknown, body: Buffer) => propfindRefusal(body),
    proppatch: (_: unknown, body: Buffer) => proppatchRefusal(body),
    copy: copyCheck(opts.dir, mount),
  };
  for (const [name, command] of Object.entries(wrapCommands(dav.methods, checks))) dav.method(name, command);
  const onFault = opts.onFault ?? reportFault;
  return (req, res) => {
    const url = req.url ?? "/";
    if (mount !== "" && url !== mount && !url.startsWith(`${mount}/`) && !url.startsWith(`${mount}?`)) {
      return answer(res, { status: 404, code: "not-found", message: `The share is under ${mount}/.` });
    }
    const refused = refusal(req, mount) ?? (opts.authorize && !opts.authorize(req) ? UNAUTHORIZED : null);
    if (refused) {
      req.resume(); // discard any body, keep the connection usable
      return answer(res, refused);
    }
    if (opts.authorize) delete req.headers.authorization;
    sanitize(req);
    if (mount === "") return runShareRequest(req, res, onFault, () => dav.executeRequest(req, res));
    // webdav-server resolves req.url against the mounted folder and prefixes what it sends back with rootPath.
    req.url = url.slice(mount.length) || "/";
    if (req.url.startsWith("?")) req.url = `/${req.url}`;
    runShareRequest(req, res, onFault, () => dav.executeRequest(req, res, mount));
  };
}

const UNAUTHORIZED: Refusal = {
  status: 401,
  code: "unauthorized",
  message: "The share needs HTTP Basic authentication: any user name, server.token as the password.",
  headers: { "WWW-Authenticate": 'Basic realm="syncd", charset="UTF-8"' },
};

function reportFault(err: unknown, req: IncomingMessage): void {
  process.stderr.write(`syncd: the embedded share failed on ${req.method} ${(req.url ?? "").split("?")[0]}: ${errorMessage(err)}\n`);
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
