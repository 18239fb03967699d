/**
 * XML request bodies that webdav-server 2.6.3 cannot survive, refused before it sees them. Its PROPPATCH
 * runs each `<set>`/`<remove>` in its own callback chain and writes the answer when the second one ends:
 * - two `<set>` (or two `<remove>`) elements: the answer is sent, then written again, and the second
 *   write throws ERR_HTTP_HEADERS_SENT outside any handler (neon-based clients send one `<set>` per
 *   property, so litmus' props group meets it at once);
 * - a `<set>`/`<remove>` without `<prop>`: a TypeError in a callback;
 * - a DAV: property (protected, refused per property) next to a `<remove>` that succeeds: its rollback reads
 *   the old value of a property that does not exist, another TypeError in a callback;
 * - a property value nested ~1,500 deep is stored, and from then on every PROPFIND or PROPPATCH of that
 *   resource (or of its folder, Depth 1) overflows the stack serialising it.
 * Each of these kills the process, so the body is read here with the names webdav-server gives elements
 * (namespace URI + local name) and refused unless it is one of the shapes it handles. PROPFIND bodies are
 * held to the same reading: webdav-server answers a malformed one as if it asked for every property.
 */
import type { Refusal } from "./share-policy.js";

/** Far deeper than any client's property values (a few levels), far below what overflows the stack. */
const MAX_DEPTH = 32;

interface XmlElement {
  /** Namespace URI + local name ("DAV:set"), or the name as written when its prefix is not declared. */
  name: string;
  children: XmlElement[];
}

export function propfindRefusal(body: Buffer): Refusal | null {
  if (body.length === 0) return null; // allprop
  const root = parseElements(body.toString("utf8"));
  if (root === "too-deep") return refuse(422, `The PROPFIND body nests elements more than ${MAX_DEPTH} deep.`);
  if (root?.name !== "DAV:propfind") return refuse(400, "The PROPFIND body is not a DAV:propfind document this share can read.");
  return null;
}

export function proppatchRefusal(body: Buffer): Refusal | null {
  const root = parseElements(body.toString("utf8"));
  if (root === "too-deep") return refuse(422, `The PROPPATCH body nests elements more than ${MAX_DEPTH} deep.`);
  if (root?.name !== "DAV:propertyupdate") return refuse(400, "The PROPPATCH body is not a DAV:propertyupdate document this share can read.");
  const instructions = root.children.filter((c) => c.name === "DAV:set" || c.name === "DAV:remove");
  const sets = instructions.filter((c) => c.name === "DAV:set").length;
  if (sets > 1 || instructions.length - sets > 1) {
    return refuse(422, "This share takes at most one <set> and one <remove> per PROPPATCH: put every property in one.");
  }
  for (const instruction of instructions) {
    const prop = instruction.children.find((c) => c.name === "DAV:prop");
    if (!prop) return refuse(400, "A PROPPATCH <set> or <remove> needs a <prop>.");
    if (prop.children.some((p) => p.name.startsWith("DAV:"))) return refuse(403, "DAV: properties are protected on this share.");
  }
  return null;
}

function refuse(status: number, message: string): Refusal {
  return { status, code: "unsupported-body", message };
}

const TAG = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([^\s/>!?][^\s/>]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTRIBUTE = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * The element tree of a small XML document, namespaces resolved, or null for anything else (a DOCTYPE, an
 * unclosed or mismatched tag, text outside the root, an unknown entity in a namespace declaration), or
 * "too-deep" past MAX_DEPTH. Not a validating parser: it only has to see the elements webdav-server's
 * parser would see.
 */
function parseElements(xml: string): XmlElement | "too-deep" | null {
  const stack: Array<{ qname: string; ns: Map<string, string>; element: XmlElement }> = [];
  let root: XmlElement | null = null;
  let at = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (at < xml.length) {
    const lt = xml.indexOf("<", at);
    const text = xml.slice(at, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== "") return null;
    if (lt < 0) break;
    TAG.lastIndex = lt;
    const tag = TAG.exec(xml);
    if (!tag) return null;
    at = TAG.lastIndex;
    const [, closing, qname, attributes, selfClosing] = tag;
    if (qname === undefined) continue; // comment, processing instruction, CDATA
    const parent = stack.at(-1);
    if (closing) {
      if (parent?.qname !== qname || attributes || selfClosing) return null;
      stack.pop();
      continue;
    }
    let ns = parent?.ns ?? new Map<string, string>();
    for (const [, key, double, single] of (attributes ?? "").matchAll(ATTRIBUTE)) {
      if (key !== "xmlns" && !key?.startsWith("xmlns:")) continue;
      const uri = decodeEntities(double ?? single ?? "");
      if (uri === null) return null;
      if (ns === parent?.ns) ns = new Map(ns); // copied only where a declaration changes it
      ns.set(key === "xmlns" ? "" : key.slice(6), uri);
    }
    const colon = qname.indexOf(":");
    const prefix = colon < 0 ? "" : qname.slice(0, colon);
    const uri = ns.get(prefix);
    const element: XmlElement = { name: uri === undefined ? qname : uri + qname.slice(colon + 1), children: [] };
    if (parent) parent.element.children.push(element);
    else if (root) return null; // a second root
    else root = element;
    if (!selfClosing) stack.push({ qname, ns, element });
    if (stack.length > MAX_DEPTH) return "too-deep";
  }
  return stack.length === 0 ? root : null;
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML's five named entities and character references; null for any other entity. */
function decodeEntities(value: string): string | null {
  let unknown = false;
  const decoded = value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (_, ref: string) => {
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : ((unknown = true), "");
    }
    return NAMED[ref] ?? ((unknown = true), "");
  });
  return unknown || decoded.includes("&") ? null : decoded;
}
