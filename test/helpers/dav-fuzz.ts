/**
 * Seeded random WebDAV requests for the share's robustness test: methods (WebDAV's, and ones the share
 * must refuse), paths (valid, badly escaped, with NUL, "..", fragments, queries), the headers webdav-server
 * reads (Depth, Destination, Overwrite, If, Range, look-alike names…) and bodies (PROPPATCH, PROPFIND and
 * LOCK documents, well-formed or cut short, JSON, random bytes). Everything stays under `area` so that the
 * library's own folder on the share is never touched: the test checks a sync still works afterwards.
 */
import { seededRandom } from "../../bench/lib/prng.mjs";

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

// Mostly what the share takes, so that most requests reach webdav-server; the rest must be refused.
const METHODS = ["GET", "HEAD", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPFIND", "PROPPATCH", "OPTIONS"];
const REFUSED_METHODS = ["LOCK", "UNLOCK", "POST", "PATCH", "SEARCH", "REPORT", "TRACE", "ACL"];
const NAMES = ["a", "b", "c.txt", "d/", "d/e", "d/e/f.bin", "ü é", "%C3%BC", "a/../b", "a/./b", "", ".", "a%2Fb", "q?x=1", "%25", "a".repeat(300)];
const BAD_NAMES = ["%2e%2e/x", "x%00y", "%E0%A4%A", "%ZZ", "..%2f..", "q?x=%ZZ", "frag#ment"];
const DEPTHS = ["0", "1", "infinity", "Infinity", "-1", "2", "x", ""];
const IFS = ["(<opaquelocktoken:abc>)", "<http://127.0.0.1/dav/x> (<opaquelocktoken:x>)", "([\"etag\"])", "(Not <DAV:no-lock>)", "(", "<>", "garbage"];
const RANGES = ["bytes=0-0", "bytes=0-", "bytes=-5", "bytes=5-2", "bytes=0-1,3-4", "bytes=x", "items=0-1", "bytes=99999999999999999999-"];
const ORIGINS = ["http://evil.example", "null", "http://127.0.0.1", "file://", "%%%"];
const NAMESPACES = ["DAV:", "http://example.com/ns/", "urn:x", "", "DAV:x"];

export function fuzzRequests(seed: number, count: number, area: string, host: string): FuzzRequest[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const chance = (p: number) => random() < p;
  const name = () => (chance(0.15) ? pick(BAD_NAMES) : pick(NAMES));
  const path = () => `${area}/${name()}${chance(0.2) ? `/${name()}` : ""}`;
  const out: FuzzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const method = chance(0.1) ? pick(REFUSED_METHODS) : pick(METHODS);
    const headers: Record<string, string> = {};
    if (chance(0.4)) headers.Depth = pick(DEPTHS);
    if (chance(method === "MOVE" || method === "COPY" ? 0.9 : 0.1)) headers.Destination = destination(pick, chance, area, host, path);
    if (chance(0.3)) headers.Overwrite = pick(["T", "F", "t", "f", "X"]);
    if (chance(0.2)) headers.If = pick(IFS);
    if (chance(0.15)) headers.Range = pick(RANGES);
    if (chance(0.1)) headers.Origin = pick(ORIGINS);
    if (chance(0.05)) headers["Sec-Fetch-Site"] = pick(["cross-site", "same-site", "same-origin", "none"]);
    if (chance(0.1)) headers["Lock-Token"] = pick(["<opaquelocktoken:x>", "x", "<>"]);
    if (chance(0.1)) headers.Timeout = pick(["Second-10", "Infinite", "Infinite, Second-4100000000", "x"]);
    if (chance(0.1)) headers.Accept = pick(["application/json", "text/xml", "*/*", ""]);
    if (chance(0.05)) headers.Translate = pick(["f", "t"]);
    if (chance(0.05)) headers[pick(["Dep-th", "Over-write", "Desti-nation", "I-f"])] = pick(["1", "T", "/x", "(<x>)"]);
    if (chance(0.1)) headers["Content-Type"] = pick(["text/xml", "application/xml; charset=utf-8", "application/json", "multipart/form-data"]);
    const body = chance(0.6) ? bodyFor(method, pick, chance, random) : undefined;
    out.push({ method, path: path(), headers, ...(body === undefined ? {} : { body }) });
  }
  return out;
}

type Pick = <T>(list: readonly T[]) => T;

function destination(pick: Pick, chance: (p: number) => boolean, area: string, host: string, path: () => string): string {
  if (chance(0.5)) return `http://${host}${path()}`;
  if (chance(0.4)) return path();
  return pick([`http://evil.example${area}/x`, `${area.replace(/\/[^/]*$/, "")}/../api/v1/files`, "/api/v1/files", "", "::", `http://${host}${area}/%E0%A4%A`, `https://${host}${area}/y`, `//evil.example${area}/z`]);
}

function bodyFor(method: string, pick: Pick, chance: (p: number) => boolean, random: () => number): Buffer {
  const roll = random();
  if (roll < 0.1) return Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
  if (roll < 0.15) return Buffer.from(JSON.stringify({ elements: [{ type: "element", name: "D:propertyupdate", elements: [] }] }));
  let xml: string;
  if (method === "PROPPATCH" || (method !== "PROPFIND" && method !== "LOCK" && chance(0.3))) xml = propertyupdate(pick, chance, random);
  else if (method === "LOCK") xml = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${pick(["exclusive", "shared", "x"])}/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`;
  else xml = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:">${pick(["<D:allprop/>", "<D:propname/>", "<D:prop><D:getetag/><Z:x xmlns:Z=\"urn:z\"/></D:prop>", "<D:prop/>", ""])}</D:propfind>`;
  // Cut short now and then: malformed XML must be refused or ignored, never fatal.
  if (chance(0.15)) xml = xml.slice(0, Math.floor(random() * xml.length));
  return Buffer.from(xml);
}

function propertyupdate(pick: Pick, chance: (p: number) => boolean, random: () => number): string {
  const instructions: string[] = [];
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) {
    const kind = pick(["set", "remove"]);
    const props: string[] = [];
    const m = Math.floor(random() * 3);
    for (let j = 0; j < m; j++) {
      const ns = pick(NAMESPACES);
      const name = pick(["p", "getetag", "displayname", "x-y"]);
      props.push(kind === "set" ? `<Z:${name} xmlns:Z="${ns}">${pick(["v", "", "<Q:i xmlns:Q=\"urn:q\">1</Q:i>", "&amp;"])}</Z:${name}>` : `<Z:${name} xmlns:Z="${ns}"/>`);
    }
    instructions.push(chance(0.1) ? `<D:${kind}/>` : `<D:${kind}><D:prop>${props.join("")}</D:prop></D:${kind}>`);
  }
  return `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:">${instructions.join("")}</D:propertyupdate>`;
}
