import { describe, expect, it } from "vitest";
import { propfindRefusal, proppatchRefusal } from "../../src/remote/dav-body-check.js";

const status = (check: (b: Buffer) => { status: number } | null, xml: string) => check(Buffer.from(xml))?.status ?? "ok";
const update = (inner: string, root = '<D:propertyupdate xmlns:D="DAV:">') => `<?xml version="1.0"?>${root}${inner}</D:propertyupdate>`;
const set = (props: string) => `<D:set><D:prop>${props}</D:prop></D:set>`;
const remove = (props: string) => `<D:remove><D:prop>${props}</D:prop></D:remove>`;

describe("proppatchRefusal", () => {
  it("lets through the shapes webdav-server handles: one <set> and/or one <remove>, any number of properties", () => {
    expect(status(proppatchRefusal, update(set('<Z:a xmlns:Z="urn:z">1</Z:a><Z:b xmlns:Z="urn:z"><Q:i xmlns:Q="urn:q"/></Z:b>')))).toBe("ok");
    expect(status(proppatchRefusal, update(remove('<a xmlns="urn:z"/>') + set('<a xmlns="urn:z">2</a>')))).toBe("ok");
    // Prefixes and the default namespace are resolved as XML says, not read as written.
    expect(status(proppatchRefusal, `<propertyupdate xmlns="DAV:"><set><prop><a xmlns="urn:z"/></prop></set></propertyupdate>`)).toBe("ok");
    expect(status(proppatchRefusal, `<!-- hi --><X:propertyupdate xmlns:X="DAV:"><X:set><X:prop><![CDATA[<D:set>]]></X:prop></X:set></X:propertyupdate>`)).toBe("ok");
  });

  it("refuses the shapes that crash it", () => {
    expect(status(proppatchRefusal, update(set('<a xmlns="urn:z"/>') + set('<b xmlns="urn:z"/>')))).toBe(422);
    expect(status(proppatchRefusal, update(remove('<a xmlns="urn:z"/>') + remove('<b xmlns="urn:z"/>')))).toBe(422);
    expect(status(proppatchRefusal, update("<D:set/>"))).toBe(400);
    expect(status(proppatchRefusal, update("<D:remove><D:other/></D:remove>"))).toBe(400);
    // A DAV: property, however it is spelled, is protected (its refusal next to a <remove> crashed the rollback).
    expect(status(proppatchRefusal, update(set("<D:getetag/>")))).toBe(403);
    expect(status(proppatchRefusal, update(set('<getetag xmlns="DAV:"/>')))).toBe(403);
    expect(status(proppatchRefusal, update(set('<Z:x xmlns:Z="DAV&#58;"/>')))).toBe(403);
    expect(status(proppatchRefusal, update(remove('<Z:x xmlns:Z="DAV:x"/>')))).toBe(403);
    // A property value deep enough to overflow the stack when it is listed later.
    expect(status(proppatchRefusal, update(set(`<a xmlns="urn:z">${"<b>".repeat(40)}${"</b>".repeat(40)}</a>`)))).toBe(422);
  });

  it("refuses what it cannot read rather than guess", () => {
    for (const xml of [
      "",
      "not xml",
      '{"elements": []}',
      update(set('<a xmlns="urn:z">')),
      update(set('<a xmlns="urn:z"></b>')),
      `<!DOCTYPE x [<!ENTITY e "DAV:">]>${update(set('<a xmlns="&e;"/>'))}`,
      update(set('<Z:a xmlns:Z="&unknown;"/>')),
      `${update(set('<a xmlns="urn:z"/>'))}<second/>`,
      update(set('<a xmlns="urn:z"/>'), '<D:propfind xmlns:D="DAV:">').replace("</D:propertyupdate>", "</D:propfind>"),
    ]) {
      expect(status(proppatchRefusal, xml), xml).toBe(400);
    }
  });
});

describe("propfindRefusal", () => {
  it("takes an empty body (allprop) and a DAV:propfind document; refuses anything else", () => {
    expect(status(propfindRefusal, "")).toBe("ok");
    expect(status(propfindRefusal, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>')).toBe("ok");
    expect(status(propfindRefusal, '<D:propfind xmlns:D="DAV:"><D:prop>')).toBe(400);
    expect(status(propfindRefusal, '<D:propertyupdate xmlns:D="DAV:"/>')).toBe(400);
    expect(status(propfindRefusal, `<D:propfind xmlns:D="DAV:">${"<a>".repeat(100)}${"</a>".repeat(100)}</D:propfind>`)).toBe(422);
  });
});
