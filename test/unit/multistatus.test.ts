/**
 * multistatus.ts on answers shaped as servers write them. The recorded bodies of six real servers are read in
 * multistatus-recorded.test.ts; these cases isolate each quirk.
 */
import { describe, expect, it } from "vitest";
import { decodePercent, hrefPath, memberLengths, MultistatusError, parseMultistatus } from "../../src/remote/multistatus.js";

const REQUEST = "http://127.0.0.1:8080/dav/syncd/";

function multistatus(responses: string, prefix = "D", ns = 'xmlns:D="DAV:"'): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<${prefix}:multistatus ${ns}>${responses}</${prefix}:multistatus>`;
}

function response(href: string, props: string, status = "HTTP/1.1 200 OK", p = "D"): string {
  return `<${p}:response><${p}:href>${href}</${p}:href><${p}:propstat><${p}:prop>${props}</${p}:prop><${p}:status>${status}</${p}:status></${p}:propstat></${p}:response>`;
}

describe("parseMultistatus", () => {
  it("reads a property by its text whatever attributes it carries (lighttpd, IIS: ns0:dt)", () => {
    const body = multistatus(
      response(
        "/dav/syncd/version.txt",
        `<D:getlastmodified ns0:dt="dateTime.rfc1123">Mon, 30 Nov 2026 05:50:19 GMT</D:getlastmodified><D:getcontentlength ns0:dt="int">12</D:getcontentlength><D:resourcetype/>`,
      ),
      "D",
      'xmlns:D="DAV:" xmlns:ns0="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"',
    );
    const [r] = parseMultistatus(body, REQUEST);
    expect(r).toEqual({ path: "/dav/syncd/version.txt", type: "file", size: 12, mtime: new Date(Date.UTC(2026, 10, 30, 5, 50, 19)), etag: null });
  });

  it("reads any namespace prefix, and the default namespace", () => {
    const withLp1 = multistatus(response("/dav/syncd/a", "<lp1:getlastmodified>Mon, 30 Nov 2026 05:50:19 GMT</lp1:getlastmodified><lp1:getcontentlength>3</lp1:getcontentlength>", "HTTP/1.1 200 OK", "d"), "d", 'xmlns:d="DAV:" xmlns:lp1="DAV:"');
    const bare = `<multistatus xmlns="DAV:"><response><href>/dav/syncd/a</href><propstat><prop><getlastmodified>Mon, 30 Nov 2026 05:50:19 GMT</getlastmodified><getcontentlength>3</getcontentlength></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`;
    for (const body of [withLp1, bare]) {
      const [r] = parseMultistatus(body, REQUEST);
      expect(r?.size).toBe(3);
      expect(r?.mtime?.getTime()).toBe(Date.UTC(2026, 10, 30, 5, 50, 19));
    }
  });

  it("reads ISO 8601 dates", () => {
    const [r] = parseMultistatus(multistatus(response("/dav/syncd/a", "<D:getlastmodified>2026-11-30T06:19:49Z</D:getlastmodified>")), REQUEST);
    expect(r?.mtime?.toISOString()).toBe("2026-11-30T06:19:49.000Z");
  });

  it("a missing or unreadable date is null, never an Invalid Date", () => {
    const body = multistatus(response("/dav/syncd/a", "<D:getcontentlength>1</D:getcontentlength>") + response("/dav/syncd/b", "<D:getlastmodified>soon</D:getlastmodified>"));
    expect(parseMultistatus(body, REQUEST).map((r) => r.mtime)).toEqual([null, null]);
  });

  it("folders by resourcetype/collection, with any prefix", () => {
    const body = multistatus(response("/dav/syncd/ab/", "<D:resourcetype><D:collection/></D:resourcetype>") + response("/dav/syncd/x", "<D:resourcetype></D:resourcetype>"));
    expect(parseMultistatus(body, REQUEST).map((r) => [r.path, r.type])).toEqual([
      ["/dav/syncd/ab", "directory"],
      ["/dav/syncd/x", "file"],
    ]);
  });

  it("merges the 2xx propstats and ignores the 404 one (properties the server lacks)", () => {
    const body = multistatus(
      `<D:response><D:href>/dav/syncd/a</D:href><D:propstat><D:prop><D:getcontentlength>5</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getetag/><D:getlastmodified/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>`,
    );
    expect(parseMultistatus(body, REQUEST)).toEqual([{ path: "/dav/syncd/a", type: "file", size: 5, mtime: null, etag: null }]);
  });

  it("leaves out a member without a 2xx propstat (a response-level 404)", () => {
    const body = multistatus(`<D:response><D:href>/dav/syncd/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>`);
    expect(parseMultistatus(body, REQUEST)).toEqual([]);
  });

  it("keeps an ETag as text (digits stay a string), without quotes", () => {
    const body = multistatus(response("/dav/syncd/a", "<D:getetag>&quot;0123&quot;</D:getetag>") + response("/dav/syncd/b", '<D:getetag>W/"5-abc"</D:getetag>'));
    expect(parseMultistatus(body, REQUEST).map((r) => r.etag)).toEqual(["0123", "W/5-abc"]);
  });

  it("an HTML page or an empty body is a MultistatusError that says what came", () => {
    expect(() => parseMultistatus("<html><body>Login</body></html>", REQUEST)).toThrow(MultistatusError);
    expect(() => parseMultistatus("<html><body>Login</body></html>", REQUEST)).toThrow(/not a WebDAV multistatus \(it starts "<html><body>Login/);
    expect(() => parseMultistatus("", REQUEST)).toThrow(MultistatusError);
  });
});

describe("hrefPath", () => {
  const dir = "/dav/syncd/";
  it.each([
    ["an absolute path, encoded", "/dav/syncd/a%20b.txt", "/dav/syncd/a b.txt"],
    ["an absolute URL", "http://127.0.0.1:8080/dav/syncd/a%20b.txt", "/dav/syncd/a b.txt"],
    ["an absolute https URL of another host name (a proxy)", "https://nas.example/dav/syncd/x", "/dav/syncd/x"],
    ["an unencoded space", "/dav/syncd/a b.txt", "/dav/syncd/a b.txt"],
    ["an unencoded # (a name, not a fragment)", "/dav/syncd/h#sh.txt", "/dav/syncd/h#sh.txt"],
    ["an unencoded ? (a name, not a query)", "/dav/syncd/q?mark.txt", "/dav/syncd/q?mark.txt"],
    ["an unencoded ? in an absolute URL", "http://h:1/dav/syncd/q?mark.txt", "/dav/syncd/q?mark.txt"],
    ["an encoded %", "/dav/syncd/100%25.txt", "/dav/syncd/100%.txt"],
    ["an unencoded %", "/dav/syncd/100%.txt", "/dav/syncd/100%.txt"],
    ["encoded UTF-8", "/dav/syncd/%C3%BC%20n%C3%A9e.txt", "/dav/syncd/ü née.txt"],
    ["raw UTF-8", "/dav/syncd/ü née.txt", "/dav/syncd/ü née.txt"],
    ["NFD (macOS storage) is compared as NFC", "/dav/syncd/u\u0308.txt", "/dav/syncd/ü.txt"],
    ["a relative href", "a%20b.txt", "/dav/syncd/a b.txt"],
    ["a relative href with ./", "./a.txt", "/dav/syncd/a.txt"],
    ["a folder's trailing slash", "/dav/syncd/ab/", "/dav/syncd/ab"],
    ["upper-case escapes and lower-case alike", "/dav/syncd/%c3%bc", "/dav/syncd/ü"],
    ["white space around it", "\n  /dav/syncd/a\n", "/dav/syncd/a"],
  ])("%s", (_what, href, expected) => {
    expect(hrefPath(href, dir)).toBe(expected);
  });

  it("decodePercent leaves what is not valid UTF-8 as it is", () => {
    expect(decodePercent("%zz%C3%28%41")).toBe("%zz%C3(A");
  });
});

describe("memberLengths (a listing that asked for getcontentlength alone)", () => {
  it("gives each member's length by name, without the folder itself or a member listed without a length", () => {
    const body = multistatus(
      [
        // The folder: Apache and rclone put its missing getcontentlength in a 404 propstat, nginx gives an empty prop.
        response("/dav/syncd/", "<D:getcontentlength/>", "HTTP/1.1 404 Not Found"),
        response("/dav/syncd/a%20b", "<D:getcontentlength>5</D:getcontentlength>"),
        response("/dav/syncd/empty", "<D:getcontentlength>0</D:getcontentlength>"),
        response("/dav/syncd/unstated", ""),
        response("/dav/syncd/garbled", "<D:getcontentlength>12 bytes</D:getcontentlength>"),
        `<D:response><D:href>/dav/syncd/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>`,
      ].join(""),
    );
    expect(memberLengths(body, REQUEST)).toEqual(
      new Map([
        ["a b", 5],
        ["empty", 0],
      ]),
    );
  });

  it("refuses an answer that is no multistatus", () => {
    expect(() => memberLengths("<html>502 Bad Gateway</html>", REQUEST)).toThrow(MultistatusError);
  });
});
