/**
 * The capability probe (issue 6) on every server of the matrix: it runs, leaves nothing behind, and finds
 * what FIELD-NOTES.md documents for that server. Where a measurement differs from FIELD-NOTES the expected
 * value below is what is measured, with a comment saying so.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeShare, probeStateKey, SCRATCH_PREFIX, type ProbeFindings, type ProbeReport } from "../../src/remote/probe.js";
import type { Remote } from "../../src/remote/remote.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { makeInstance } from "../helpers/cli.js";
import { shareMatrix, webdavConfig, type ShareKind, type TestShare } from "../helpers/shares.js";

interface Expected {
  putMissingParent: number;
  mkcolExisting: number;
  moveMissingParent: number;
  depthNone: number;
  depthInfinity: number;
  etagOnGet: boolean;
  etagOnPut: boolean;
  ifNoneMatchHonoured: boolean;
  /** What differs on nginx only; the defaults hold for every other server. */
  nginx?: {
    /** A MOVE into a missing folder creates it (204), so nothing fails and no kind is given. */
    moveCreatesParent: true;
    /** DELETE of a folder URL without its "/" (409): syncd never sends one. */
    deleteFolderWithoutSlash: number;
    /** A PUT with If-None-Match: * over an existing file replaces it (204). */
    ifNoneMatchStatus: number;
    /** No getetag in PROPFIND; GET's ETag (mtime-size) stays the same across a same-size rewrite in one second. */
    etagFromGetOnly: true;
  };
}

/** FIELD-NOTES.md, "WebDAV servers" table. */
const EXPECTED: Record<string, Expected> = {
  "webdav-server": {
    putMissingParent: 409,
    mkcolExisting: 405,
    // FIELD-NOTES says 409; measured 500. 409 is what webdav-server's VirtualFileSystem answers; the
    // PhysicalFileSystem that the embedded share (and this test server) uses fails the rename with 500.
    moveMissingParent: 500,
    depthNone: 207,
    depthInfinity: 403,
    etagOnGet: false,
    etagOnPut: false,
    ifNoneMatchHonoured: false, // "ignored (200)"
  },
  apache: {
    putMissingParent: 409,
    mkcolExisting: 405,
    moveMissingParent: 500,
    depthNone: 403, // what syncd never sends: every PROPFIND has Depth 0 or 1
    depthInfinity: 403,
    etagOnGet: true,
    etagOnPut: false,
    ifNoneMatchHonoured: true, // 412, but racy: never relied on
  },
  rclone: {
    putMissingParent: 404,
    mkcolExisting: 201,
    moveMissingParent: 403,
    depthNone: 207,
    depthInfinity: 207,
    etagOnGet: true,
    etagOnPut: true,
    ifNoneMatchHonoured: false,
  },
  // The three below as measured here (fixtures/dav/README.md and the probe's own report).
  nginx: {
    putMissingParent: 500, // create_full_put_path off: rename() of the uploaded body fails
    mkcolExisting: 405,
    moveMissingParent: 204,
    depthNone: 207, // answered as Depth 0
    depthInfinity: 403,
    etagOnGet: true,
    etagOnPut: false,
    ifNoneMatchHonoured: false,
    nginx: { moveCreatesParent: true, deleteFolderWithoutSlash: 409, ifNoneMatchStatus: 204, etagFromGetOnly: true },
  },
  lighttpd: {
    putMissingParent: 409,
    mkcolExisting: 405,
    moveMissingParent: 409,
    depthNone: 403, // <DAV:propfind-finite-depth/>, even on a file
    depthInfinity: 403,
    etagOnGet: true,
    etagOnPut: true,
    ifNoneMatchHonoured: true,
  },
  sabre: {
    putMissingParent: 404,
    mkcolExisting: 405,
    moveMissingParent: 409,
    depthNone: 207, // sabre 1.8 answers anything but Depth 0 as Depth 1
    depthInfinity: 207,
    etagOnGet: true,
    etagOnPut: true,
    ifNoneMatchHonoured: true,
  },
};

/** A root with a space and non-ASCII characters, which does not exist before the probe (a new share). */
const ROOT = "/probe root é";

function scratchFolders(share: TestShare): string[] {
  const dir = join(share.dir, ROOT.slice(1));
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(SCRATCH_PREFIX)) : [];
}

describe.each(shareMatrix())("capability probe on $name", (kind: ShareKind) => {
  const expected = EXPECTED[kind.name];
  let share: TestShare;
  let remote: Remote;
  let report: ProbeReport;

  beforeAll(async () => {
    share = await kind.start();
    remote = createWebdavRemote({ url: share.url, root: ROOT, username: share.username, password: share.password, timeoutMs: 10_000 });
    report = await probeShare(remote);
  });
  afterAll(async () => {
    await remote?.close();
    await share?.close();
  });

  it("accepts the share and removes its scratch folder", () => {
    expect(expected, `no FIELD-NOTES expectations for ${kind.name}`).toBeDefined();
    expect(report.verdict).toBe("ok");
    expect(report.refusal).toBeNull();
    expect(report.rawChecks).toBe(true);
    expect(report.location).toBe(`${share.url}${ROOT}`);
    expect(report.scratchRemoved).toBe(true);
    expect(scratchFolders(share)).toEqual([]);
    expect(existsSync(join(share.dir, ROOT.slice(1)))).toBe(true); // the root of a new share is created, as the lease would
    expect(report.warnings).toEqual([]);
    expect(report.durationMs).toBeLessThan(8000);
  });

  it("finds the documented statuses", () => {
    const f: ProbeFindings = report.findings;
    expect(f.roundTrip).toEqual({ ok: true, size: 4096, putStatus: 201 });
    expect(f.missingFile).toEqual({ get: 404, propfind: 404, remoteKind: "not-found", statIsNull: true });
    expect(f.putMissingParent.status).toBe(expected!.putMissingParent);
    expect(f.mkcolExisting).toEqual({ status: expected!.mkcolExisting, mkdirIdempotent: true });
    expect(f.moveOverwrite).toEqual({ status: 204, replaced: true, sourceGone: true });
    expect(f.moveMissingParent.status).toBe(expected!.moveMissingParent);
    expect(f.moveMissingParent.createdParent).toBe(expected!.nginx?.moveCreatesParent ?? false); // only nginx creates it (FIELD-NOTES)
    expect(f.depth).toEqual({ none: expected!.depthNone, infinity: expected!.depthInfinity });
    // syncd always sends folder URLs with their "/": without it these three still answer normally.
    expect(f.folderWithoutSlash.propfind).toBe(207);
    if (expected!.nginx) expect(f.folderWithoutSlash.delete).toBe(expected!.nginx.deleteFolderWithoutSlash);
    else expect([200, 204]).toContain(f.folderWithoutSlash.delete);
    expect(f.ifNoneMatchPut.honoured).toBe(expected!.ifNoneMatchHonoured);
    expect(f.ifNoneMatchPut.status).toBe(expected!.nginx?.ifNoneMatchStatus ?? (expected!.ifNoneMatchHonoured ? 412 : kind.name === "rclone" ? 201 : 200));
  });

  it("reports every way of writing into a missing folder as kind conflict (the remote layer's adaptation)", () => {
    // 409, rclone's 404 and 403, Apache's and webdav-server's 500 all become "conflict" once the parent is found missing.
    expect(report.findings.putMissingParent.remoteKind).toBe("conflict");
    // nginx's MOVE creates the missing folder and succeeds: there is no failure to classify.
    expect(report.findings.moveMissingParent.remoteKind).toBe(expected!.nginx?.moveCreatesParent ? null : "conflict");
  });

  it("finds the documented ETags", () => {
    const e = report.findings.etag;
    expect(e.get.present).toBe(expected!.etagOnGet);
    expect(e.put.present).toBe(expected!.etagOnPut);
    const getOnly = expected!.nginx?.etagFromGetOnly ?? false;
    expect(e.propfind.present).toBe(!getOnly); // getetag: only nginx lacks it
    expect(e.source).toBe(getOnly ? "get" : "propfind");
    expect(e.stableWithoutWrite).toBe(true);
    if (getOnly) {
      // nginx's ETag is its mtime in whole seconds and the size (FIELD-NOTES): a same-size rewrite keeps it only
      // when it lands in the same second as the write before it, so the probe may see either (it saw "changed"
      // once in a CI run on a busy machine). What holds is that the finding was measured.
      expect(typeof e.changesOnSameSizeRewrite).toBe("boolean");
    } else {
      expect(e.changesOnSameSizeRewrite).toBe(true);
    }
    if (kind.name === "apache") {
      // Weak for the first second after a write (FIELD-NOTES): the probe reads right after writing.
      expect(e.get.weak).toBe(true);
      expect(e.propfind.weak).toBe(true);
    } else {
      expect(e.propfind.weak).toBe(getOnly ? null : false);
      if (e.get.present) expect(e.get.weak).toBe(false);
    }
  });

  it("finds listings with modification times that show a new claim within a few relists, and the server's clock", () => {
    const { listing, clock } = report.findings;
    expect(listing.modificationTimes).toBe(true);
    expect(listing.visible).toBe(true);
    expect(listing.sizeMatches).toBe(true);
    expect(listing.relists).toHaveLength(16);
    // rclone's lag is real but intermittent (FIELD-NOTES; measured here: in 7 of 10 probes, 1–4 of 16 claims
    // missed their first listing, never more than one relist): it cannot be asserted to happen every time.
    expect(Math.max(...listing.relists.map((r) => r ?? Infinity))).toBeLessThanOrEqual(kind.name === "rclone" ? 5 : 0);
    expect(listing.lagged).toBe(listing.relists.filter((r) => r !== 0).length);
    expect(listing.listings).toBeGreaterThanOrEqual(16);
    // Only rclone ends a listing early (a file deleted while it lists: lease.ts LISTING_END); how often varies.
    if (kind.name !== "rclone") expect(listing.cutShort).toBe(0);
    expect(clock.dateHeader).toBe(true);
    // Same machine: the offset is 0 within the estimate's ±0.5 s (plus scheduling slack).
    expect(Math.abs(clock.offsetMs!)).toBeLessThanOrEqual(1000);
    // lighttpd stamps its Date header from a clock it refreshes once a second, so a file written in this
    // second can look up to 1 s younger than "now" (measured: -1000 ms in one CI run).
    expect(clock.freshMtimeAgeMs).toBeGreaterThanOrEqual(kind.name === "lighttpd" ? -1000 : 0);
    expect(clock.freshMtimeAgeMs).toBeLessThanOrEqual(2000);
  });

  it("syncd probe --json prints the report and records it in the local library; the table names the checks", async () => {
    const inst = makeInstance(`probe-${kind.name}`, webdavConfig(share, "/cli probe"));
    const printed = await inst.json<ProbeReport>("probe");
    expect(printed.verdict).toBe("ok");
    expect(printed.location).toBe(`${share.url}/cli probe`);
    expect(printed.findings.mkcolExisting.status).toBe(expected!.mkcolExisting);
    const db = new Database(join(inst.dir, "data", "library.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT value FROM state WHERE key = ?").get(probeStateKey(printed.location)) as { value: string } | undefined;
      expect(JSON.parse(row!.value)).toEqual(printed);
    } finally {
      db.close();
    }
    const table = await inst.ok("probe");
    expect(table).toMatch(/^Probe of .*cli probe at .*: usable$/m);
    expect(table).toMatch(/^PROPFIND Depth: infinity\s+\d{3}$/m);
    expect(table).toContain("What syncd does about it:");
    expect(scratchFolders(share)).toEqual([]);
  });
});

describe("syncd probe on the embedded share", () => {
  it("probes the share in <dataDir>/share and records it under a name that does not change with its port", async () => {
    const inst = makeInstance("probe-embedded", {});
    const report = await inst.json<ProbeReport>("probe");
    expect(report.verdict).toBe("ok");
    expect(report.location).toBe(`embedded:${join(inst.dir, "data")}/share/syncd`);
    expect(report.findings.mkcolExisting.status).toBe(405);
    expect(readdirSync(join(inst.dir, "data", "share", "syncd")).filter((n) => n.startsWith(SCRATCH_PREFIX))).toEqual([]);
  });
});
