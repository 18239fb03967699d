/**
 * What the embedded share lets through to webdav-server (SPEC §4: no browser of another origin, nothing a
 * WebDAV client does not need). Checked before the library sees a request, because webdav-server itself
 * answers every origin (`Access-Control-Allow-Origin: *`), treats POST as PUT, and dies on malformed input
 * that never reaches a handler of its own (FIELD-NOTES, "second round"; share-faults.ts for the rest).
 */
import type { IncomingMessage } from "node:http";
import { sameOrigin } from "../server/auth.js";

/**
 * The methods WebDAV clients and syncd use. Not LOCK/UNLOCK: webdav-server's locks hold against nobody
 * (every client of the daemon is the same user to it, and it grants an exclusive lock as shared), so the
 * share refuses them and says class 1 only (share-faults.ts), rather than hand out locks that do not lock.
 */
export const SHARE_METHODS = ["OPTIONS", "GET", "HEAD", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPFIND", "PROPPATCH"] as const;
const ALLOWED = new Set<string>(SHARE_METHODS);

/**
 * Request bodies other than PUT's are XML of a few KB (PROPFIND, PROPPATCH). webdav-server allocates the
 * whole Content-Length up front and waits for it, so a large or unbounded one is refused before it starts.
 */
export const MAX_XML_BODY = 1024 * 1024;

export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/**
 * webdav-server finds a header by its name with "-" and spaces removed (`Content-Lengt-h` is its
 * Content-Length), so a look-alike could carry a value past every check made on the real header here.
 */
const READ_BY_WEBDAV_SERVER = [
  "accept",
  "authorization",
  "content-length",
  "depth",
  "destination",
  "host",
  "if",
  "lock-token",
  "overwrite",
  "range",
  "source",
  "translate",
].map((name) => [squash(name), name] as const);

/** Why the share refuses this request, or null. `mount` is the URL path the share is served under. */
export function refusal(req: IncomingMessage, mount: string): Refusal | null {
  const host = req.headers.host;
  // A browser names the page's origin on every request except plain navigations and no-cors loads; those
  // it marks with Sec-Fetch-Site. The daemon's own pages are "same-origin"; a typed URL or a bookmark is "none".
  const origin = req.headers.origin;
  const site = req.headers["sec-fetch-site"];
  if ((origin !== undefined && !sameOrigin(origin, host)) || (site !== undefined && site !== "same-origin" && site !== "none")) {
    return { status: 403, code: "cross-origin", message: "The share does not answer pages of other origins." };
  }
  const method = req.method ?? "";
  if (!ALLOWED.has(method)) {
    return {
      status: 405,
      code: "method-not-allowed",
      message: `The share does not accept ${method.slice(0, 32)} requests.`,
      headers: { Allow: SHARE_METHODS.join(", ") },
    };
  }
  for (const name of Object.keys(req.headers)) {
    const twin = READ_BY_WEBDAV_SERVER.find(([squashed]) => squashed === squash(name));
    if (twin && twin[1] !== name) return badRequest(`The header ${JSON.stringify(name.slice(0, 64))} is ambiguous (read as ${twin[1]}).`);
  }
  // A fragment never belongs in a request (RFC 9112 §3.2); webdav-server would cut it off and act on the
  // rest (DELETE /a/#b deletes /a/).
  if (req.url?.includes("#")) return badRequest("The request path contains a fragment (#).");
  if (decodedPath(req.url ?? "/") === null) return badRequest("The request path is not valid percent-encoded UTF-8, or contains NUL.");

  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (method === "MKCOL" && hasBody) {
    // RFC 4918 §9.3: a body MKCOL does not understand is 415; webdav-server would ignore it and create.
    return { status: 415, code: "unsupported-media-type", message: "MKCOL takes no request body here." };
  }
  if (method !== "PUT") {
    if (req.headers["transfer-encoding"] !== undefined) {
      return { status: 411, code: "length-required", message: `A ${method} body needs a Content-Length.` };
    }
    if (Number(req.headers["content-length"] ?? 0) > MAX_XML_BODY) {
      return { status: 413, code: "body-too-large", message: `A ${method} body may be at most ${MAX_XML_BODY} bytes.` };
    }
  }
  if (method === "MOVE" || method === "COPY") return destinationRefusal(String(req.headers.destination ?? ""), host, mount);
  return null;
}

/**
 * A Destination must name this share on this host (RFC 4918 §9.8.4: 502 for another server). webdav-server
 * drops the scheme and host of an absolute URL without looking at them, and decodes the path in a
 * callback where a malformed escape is an uncaught URIError.
 */
function destinationRefusal(destination: string, host: string | undefined, mount: string): Refusal | null {
  if (destination === "") return badRequest("MOVE and COPY need a Destination header.");
  let url: URL;
  try {
    url = new URL(destination, `http://${host ?? "localhost"}`);
  } catch {
    return badRequest("The Destination header is not a URL.");
  }
  if (host === undefined || url.host.toLowerCase() !== host.toLowerCase() || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return { status: 502, code: "foreign-destination", message: "The Destination must be on this share, on this host." };
  }
  // Decoded as webdav-server will: everything after the host, query included.
  const afterScheme = destination.slice(destination.indexOf("://") + 3);
  const raw = destination.includes("://") ? afterScheme.slice(afterScheme.indexOf("/")) : destination;
  if (decodedPath(raw, false) === null) return badRequest("The Destination path is not valid percent-encoded UTF-8, or contains NUL.");
  const path = decodedPath(url.pathname);
  if (path === null || (mount !== "" && path !== mount && !path.startsWith(`${mount}/`))) {
    return { status: 502, code: "foreign-destination", message: `The Destination must be under ${mount}/.` };
  }
  return null;
}

/**
 * Headers removed before webdav-server sees the request:
 * - `If`: an untagged list `(<token>)` makes it look a file system up for an undefined path, and MKCOL
 *   dereferences a null file system for any `If`; both throw in a callback, which kills the process. When
 *   it does not crash, it passes every non-empty condition list anyway (its parseInternal answers "true" as
 *   soon as there are conditions), and this share holds no locks whose tokens a condition could name. So
 *   removing it changes nothing but availability.
 * - a `Range` of several ranges: webdav-server answers it with one stream per range over the same file; the
 *   whole body is a correct answer to it (RFC 9110 §14.2: a server may ignore Range).
 */
export function sanitize(req: IncomingMessage): void {
  delete req.headers.if;
  if (req.headers.range?.includes(",")) delete req.headers.range;
}

function decodedPath(url: string, withoutQuery = true): string | null {
  const path = withoutQuery ? (url.split("?")[0] ?? "") : url;
  try {
    const decoded = decodeURIComponent(path);
    return decoded.includes("\0") ? null : decoded;
  } catch {
    return null;
  }
}

function badRequest(message: string): Refusal {
  return { status: 400, code: "bad-request", message };
}

function squash(name: string): string {
  return name.replace(/[- ]/g, "").toLowerCase();
}
