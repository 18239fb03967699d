/**
 * multistatus.ts on what six real servers answered (fixtures/dav/, recorded by fixtures/record-dav.mjs): a
 * folder `syncd/` holding version.txt, metadata.db, a folder ab/ and five files with hostile names. Each
 * server writes its answers differently (absolute or relative hrefs, unencoded `#` and `?`, lower- or
 * upper-case escapes, lighttpd's `ns0:dt` attribute on dates, prefixes d:, D:, lp1:): all must read the same.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseHttpDate } from "../../src/remote/http-date.js";
import { childrenOf, memberLengths, parseMultistatus } from "../../src/remote/multistatus.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/dav/", import.meta.url));
const SERVERS = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

interface Recording {
  request: { url: string; path: string };
  status: number;
  headers: { date: string };
}

function recording(server: string, name: string): { body: string; meta: Recording } {
  return {
    body: readFileSync(join(FIXTURES, server, `${name}.xml`), "utf8"),
    meta: JSON.parse(readFileSync(join(FIXTURES, server, `${name}.json`), "utf8")) as Recording,
  };
}

const FILES = ["100%.txt", "a b.txt", "h#sh.txt", "metadata.db", "q?mark.txt", "version.txt", "ü née.txt"];

it("the six servers of the matrix were recorded", () => {
  expect(SERVERS).toEqual(["apache", "lighttpd", "nginx", "rclone", "sabre", "webdav-server"]);
});

describe.each(SERVERS)("%s", (server) => {
  it("a Depth 1 listing: every member by its real name, files dated by the server's clock, ab/ a folder", () => {
    const { body, meta } = recording(server, "propfind-depth1-folder");
    expect(meta.status).toBe(207);
    const children = childrenOf(parseMultistatus(body, meta.request.url), meta.request.url);
    expect(children.map((c) => c.name).sort()).toEqual([...FILES, "ab"].sort());
    const serverNow = parseHttpDate(meta.headers.date);
    expect(serverNow).not.toBeNull();
    for (const { name, resource } of children) {
      expect(resource.type, name).toBe(name === "ab" ? "directory" : "file");
      if (resource.type === "directory") continue;
      // Written a moment before the listing, by the same server.
      expect(resource.mtime, `${server}: ${name} has a modification time`).not.toBeNull();
      const age = serverNow!.getTime() - resource.mtime!.getTime();
      expect(age, `${server}: ${name}`).toBeGreaterThanOrEqual(0);
      expect(age, `${server}: ${name}`).toBeLessThan(60_000);
      expect(resource.size, name).toBeGreaterThan(0);
    }
  });

  it("memberLengths reads the same listing: every file by its real name and size, not the folder itself", () => {
    const { body, meta } = recording(server, "propfind-depth1-folder");
    const lengths = memberLengths(body, meta.request.url);
    const files = childrenOf(parseMultistatus(body, meta.request.url), meta.request.url).filter((c) => c.resource.type === "file");
    for (const { name, resource } of files) expect(lengths.get(name), name).toBe(resource.size);
    // A folder member is left out where the server gives folders no length (lighttpd gives them 4096).
    expect([...lengths.keys()].sort()).toEqual(server === "lighttpd" ? [...FILES, "ab"].sort() : [...FILES].sort());
  });

  it("a Depth 0 answer on a file and on the folder", () => {
    const file = recording(server, "propfind-depth0-file");
    const [version] = parseMultistatus(file.body, file.meta.request.url);
    expect(version?.path).toBe(decodeURIComponent(file.meta.request.path));
    expect(version?.type).toBe("file");
    expect(version?.mtime).not.toBeNull();
    const folder = recording(server, "propfind-depth0-folder");
    const [self] = parseMultistatus(folder.body, folder.meta.request.url);
    expect(self?.type).toBe("directory");
    expect(self?.path).toBe(decodeURIComponent(folder.meta.request.path).replace(/\/$/, ""));
    expect(childrenOf(parseMultistatus(folder.body, folder.meta.request.url), folder.meta.request.url)).toEqual([]);
  });

  it("the same listing behind a proxy that rewrites the path prefix: the folder is still told from its members", () => {
    const { body, meta } = recording(server, "propfind-depth1-folder");
    const elsewhere = new URL(meta.request.url);
    elsewhere.pathname = `/proxy/prefix${elsewhere.pathname}`;
    const children = childrenOf(parseMultistatus(body, elsewhere.toString()), elsewhere.toString());
    expect(children.map((c) => c.name).sort()).toEqual([...FILES, "ab"].sort());
  });
});
