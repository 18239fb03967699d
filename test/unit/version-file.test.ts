import { describe, expect, it } from "vitest";
import { formatVersionFile, headOf, parseVersionFile, SEGMENT_WINDOW, type VersionInfo } from "../../src/share/version-file.js";

const h = (c: string) => c.repeat(64);
const share = "01JD8Q7X4V2B0M3N6P9R1S5T7W";

function v2(version: number, snapshot: number, window: number[]): VersionInfo {
  return {
    version,
    sha256: h("a"),
    share,
    journal: {
      snapshot: { version: snapshot, bytes: 4096 },
      first: Math.min(snapshot + 1, window[0] ?? snapshot + 1),
      bytesSinceSnapshot: 700 * (version - snapshot),
      window: window.map((v) => ({ version: v, sha256: h((v % 10).toString()), bytes: 700 })),
      compacting: null,
    },
  };
}

describe("version.txt", () => {
  it("format 1 is read as before, and its head is the snapshot's checksum", () => {
    const info = parseVersionFile(`2\nsha256=${h("b")}\nshare=${share}\n`);
    expect(info).toEqual({ version: 2, sha256: h("b"), share, journal: null });
    expect(headOf(info!)).toBe(h("b"));
  });

  it("format 2 round-trips, and keeps the three lines a format-1 reader reads", () => {
    const info = v2(7, 3, [4, 5, 6, 7]);
    const text = formatVersionFile(info);
    expect(text.split("\n").slice(0, 3)).toEqual(["7", `sha256=${h("a")}`, `share=${share}`]);
    expect(parseVersionFile(text)).toEqual(info);
    expect(headOf(info)).toBe(h("7"));
  });

  it("a share whose version is its snapshot has the snapshot as its head", () => {
    const info = v2(3, 3, []);
    expect(parseVersionFile(formatVersionFile(info))).toEqual(info);
    expect(headOf(info)).toBe(h("a"));
  });

  it("a compaction in progress is read back", () => {
    const info = v2(9, 3, [4, 5, 6, 7, 8, 9]);
    info.journal!.compacting = { version: 9, sha256: h("c"), bytes: 5000 };
    expect(parseVersionFile(formatVersionFile(info))?.journal?.compacting).toEqual({ version: 9, sha256: h("c"), bytes: 5000 });
  });

  it("refuses what a reader could not rely on", () => {
    const good = formatVersionFile(v2(7, 3, [4, 5, 6, 7]));
    const cases: Record<string, string> = {
      "an unknown format": good.replace("format=2", "format=3"),
      "a window that does not end at the head": good.replace(/segment=7 .*\n/, ""),
      "a gap in the window": good.replace(/segment=5 .*\n/, ""),
      "a snapshot beyond the head": good.replace("snapshot=3 4096", "snapshot=8 4096"),
      "a journal that starts after the snapshot": good.replace(/journal=\d+ /, "journal=5 "),
      "a malformed segment line": good.replace(/segment=6 \S+/, "segment=6 xyz"),
      "no snapshot line": good.replace(/snapshot=.*\n/, ""),
    };
    for (const [what, text] of Object.entries(cases)) expect(parseVersionFile(text), what).toBeNull();
    const long = v2(40, 3, Array.from({ length: SEGMENT_WINDOW + 1 }, (_, i) => 40 - SEGMENT_WINDOW + i));
    expect(parseVersionFile(formatVersionFile(long)), "more segment lines than the window").toBeNull();
  });

  it("ignores lines it does not know, and accepts CRLF", () => {
    const text = formatVersionFile(v2(5, 3, [4, 5])).replace("format=2\n", "format=2\nfuture=1\n").replaceAll("\n", "\r\n");
    expect(parseVersionFile(text)).toEqual(v2(5, 3, [4, 5]));
  });
});
