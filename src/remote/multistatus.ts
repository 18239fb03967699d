/**
 * Reading a PROPFIND answer (a 207 multistatus) as servers really write it, not as RFC 4918's examples do
 * (FIELD-NOTES, fixtures/dav/): a property is read by its text whatever attributes or namespace prefix it
 * carries (lighttpd and IIS write `<D:getlastmodified ns0:dt="dateTime.rfc1123">`, which the `webdav`
 * client turns into an object and then an invalid date); dates in any form http-date.ts knows; hrefs
 * absolute or relative, percent-encoded or not (a raw `#`, `?`, space or `%` in a name is a name, not URL
 * syntax).
 */
import { XMLParser } from "fast-xml-parser";
import { parseHttpDate } from "./http-date.js";

export interface DavResource {
  /** The decoded path the server gave (`/dav/syncd/a b.txt`), without a trailing slash; "" for "/". */
  path: string;
  type: "file" | "directory";
  size: number;
  /** Null when the server gave no modification time (or one in no known form). */
  mtime: Date | null;
  /** Without its quotes, as the `webdav` client gave it (`W/"x"` → `W/x`); null when absent. */
  etag: string | null;
}

/** The answer was not a multistatus at all (an HTML page, a truncated or empty body). */
export class MultistatusError extends Error {}

const parser = new XMLParser({
  // Namespaces are read by local name: every server here uses DAV: for these properties, under any prefix.
  removeNSPrefix: true,
  // Attributes carry nothing we read; ignoring them makes `<x attr="…">text</x>` plain text.
  ignoreAttributes: true,
  // Text stays text: an ETag or a name of digits must not become a number.
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === "response" || name === "propstat" || name === "href",
});

/**
 * The resources of a multistatus body. `requestUrl` is the URL the PROPFIND was sent to: relative hrefs
 * are resolved against it. Members the server could not stat (no 2xx propstat) are left out.
 */
export function parseMultistatus(body: string, requestUrl: string): DavResource[] {
  return statedResources(body, requestUrl).map(({ path, props }) => {
    const type = field(props, "resourcetype");
    const isCollection = type !== undefined && field(type, "collection") !== undefined;
    const etag = textOf(field(props, "getetag"));
    return {
      path,
      type: isCollection ? "directory" : "file",
      size: lengthOf(props) ?? 0,
      mtime: parseHttpDate(textOf(field(props, "getlastmodified"))),
      etag: etag ? etag.replace(/"/g, "") : null,
    };
  });
}

/**
 * The lengths of the members of a Depth 1 listing of the folder at `requestUrl`, by name: what a PROPFIND
 * that asks for getcontentlength alone tells (the cheap way to check uploads, transfer.ts). A member listed
 * without a length (a folder, on most servers; a file the server could not stat) is left out, and so is the
 * folder itself. A folder member may still have one (lighttpd gives folders 4096): callers look names up.
 */
export function memberLengths(body: string, requestUrl: string): Map<string, number> {
  const folder = requestPath(requestUrl);
  const out = new Map<string, number>();
  for (const { path, props } of statedResources(body, requestUrl)) {
    const length = lengthOf(props);
    if (path === folder || length === null) continue;
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (name) out.set(name, length);
  }
  return out;
}

/** Each resource of a multistatus body that has a 2xx propstat: its decoded path and the properties given. */
function statedResources(body: string, requestUrl: string): Array<{ path: string; props: Record<string, unknown> }> {
  let doc: unknown;
  try {
    doc = parser.parse(body);
  } catch (err) {
    throw new MultistatusError(`the PROPFIND answer is not well-formed XML (${(err as Error).message.split("\n")[0]})`);
  }
  const multistatus = field(doc, "multistatus");
  if (multistatus === undefined) {
    const start = body.trim().slice(0, 60).replace(/\s+/g, " ");
    throw new MultistatusError(`the PROPFIND answer is not a WebDAV multistatus (it starts ${JSON.stringify(start)})`);
  }
  const requestPath = new URL(requestUrl).pathname;
  const out: Array<{ path: string; props: Record<string, unknown> }> = [];
  for (const response of asArray(field(multistatus, "response"))) {
    const href = textOf(asArray(field(response, "href"))[0]);
    if (href === null) continue;
    const props = okProps(response);
    if (props) out.push({ path: hrefPath(href, requestPath), props });
  }
  return out;
}

/** getcontentlength as a byte count, or null when it is absent (or no count). */
function lengthOf(props: Record<string, unknown>): number | null {
  const text = textOf(field(props, "getcontentlength"));
  const length = text === null || text.trim() === "" ? Number.NaN : Number(text);
  return Number.isSafeInteger(length) && length >= 0 ? length : null;
}

/**
 * The members of a Depth 1 listing of the folder at `requestUrl`, by name: the folder itself is left out.
 * Every other resource is a direct child, so its last segment is all that is needed, even behind a proxy
 * that rewrites the path prefix of hrefs.
 */
export function childrenOf(resources: DavResource[], requestUrl: string): Array<{ name: string; resource: DavResource }> {
  const folder = requestPath(requestUrl);
  const out: Array<{ name: string; resource: DavResource }> = [];
  for (const resource of resources) {
    if (isSelf(resource, folder, resources)) continue;
    const name = resource.path.slice(resource.path.lastIndexOf("/") + 1);
    if (name) out.push({ name, resource });
  }
  return out;
}

/**
 * Whether a listed resource is the listed folder itself: its path is the folder's, or, behind a proxy that
 * rewrites the path prefix of hrefs, it is the one folder every other resource lies below.
 */
function isSelf(resource: DavResource, folder: string, all: DavResource[]): boolean {
  if (resource.path === folder) return true;
  if (resource.type !== "directory" || all.some((r) => r.path === folder)) return false;
  return all.every((r) => r.path === resource.path || r.path.startsWith(`${resource.path}/`));
}

/**
 * The decoded path of an href, without a trailing slash. Servers write them as absolute URLs
 * (`http://host:port/dav/x`), absolute paths, or paths relative to the request; encoded or not. Nothing
 * after the authority is read as URL syntax: a raw `?` or `#` is part of a file's name.
 */
export function hrefPath(href: string, requestPath: string): string {
  let path = href.trim().replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  if (!path.startsWith("/")) path = requestPath.replace(/[^/]*$/, "") + path.replace(/^\.\//, "");
  return normalisePath(decodePercent(path));
}

/** The path of the URL a PROPFIND was sent to, as resources' paths are written (see hrefPath). */
export function requestPath(requestUrl: string): string {
  return normalisePath(decodePercent(new URL(requestUrl).pathname));
}

/** Decoded, NFC (a server on macOS storage answers in NFD), without a trailing slash. */
export function normalisePath(path: string): string {
  return path.normalize("NFC").replace(/\/+$/, "");
}

/**
 * Percent-decoding that never throws: each run of `%XX` escapes is decoded when it is valid UTF-8 (else
 * only its ASCII escapes are), and a `%` that starts no escape stays, so an unencoded `100%.txt` (or
 * `%zz`) is what the server meant.
 */
export function decodePercent(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      // Not UTF-8 as a whole: decode the ASCII escapes in it, keep the others as written.
      return run.replace(/%([0-7][0-9a-f])/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  });
}

/** The merged props of a response's 2xx propstats (a server lists the missing ones in a 404 propstat). */
function okProps(response: unknown): Record<string, unknown> | null {
  let merged: Record<string, unknown> | null = null;
  for (const propstat of asArray(field(response, "propstat"))) {
    const status = textOf(field(propstat, "status"));
    // A propstat without a status is read as a success: what it holds is all the server said.
    if (status !== null && !/^\S+\s+2\d\d\b/.test(status)) continue;
    const prop = field(propstat, "prop");
    if (prop && typeof prop === "object") merged = { ...(merged ?? {}), ...(prop as Record<string, unknown>) };
    else merged ??= {};
  }
  return merged;
}

function field(node: unknown, name: string): unknown {
  return node && typeof node === "object" && !Array.isArray(node) ? (node as Record<string, unknown>)[name] : undefined;
}

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** The text of an element, whatever it carries besides: plain text, or the `#text` of a mixed element. */
function textOf(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return textOf(value[0]);
  if (value && typeof value === "object" && "#text" in value) return textOf((value as Record<string, unknown>)["#text"]);
  return null;
}
