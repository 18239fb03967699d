/**
 * What the capability probe (probe.ts) found, and what it means for syncd: the report's shape (stored in the
 * local library, printed by `syncd probe --json`), the verdict's reasons, and the sentences and table that
 * `syncd probe` prints. Pure: no I/O here.
 */

import type { RemoteErrorKind } from "./errors.js";

export const PROBE_REPORT_VERSION = 1;

/** One ETag as a response carried it: `null` fields when not measured. */
export interface EtagFinding {
  /** Whether it was there at all. */
  present: boolean | null;
  /** `W/"…"`: weak (Apache for the first second after a write). */
  weak: boolean | null;
  value: string | null;
}

export interface ProbeFindings {
  /** PUT (with Content-Length) then GET returns the same bytes. */
  roundTrip: { ok: boolean; size: number; putStatus: number | null };
  /** A file that does not exist: GET and PROPFIND statuses, and what the Remote makes of it. */
  missingFile: { get: number | null; propfind: number | null; remoteKind: RemoteErrorKind | null; statIsNull: boolean };
  /** PUT into a folder that does not exist (409, 404 or 500 by server): syncd always creates folders first. */
  putMissingParent: { status: number | null; remoteKind: RemoteErrorKind | null };
  /** MKCOL of an existing folder: 405 (RFC 4918) or 201 (rclone); mkdir accepts both. */
  mkcolExisting: { status: number | null; mkdirIdempotent: boolean };
  /** MOVE with Overwrite: T onto an existing file (how metadata.db is published). */
  moveOverwrite: { status: number | null; replaced: boolean; sourceGone: boolean };
  /** MOVE into a folder that does not exist: status, and whether the server created the folder (nginx). */
  moveMissingParent: { status: number | null; remoteKind: RemoteErrorKind | null; createdParent: boolean | null };
  /** PROPFIND Depth: 1 of a folder right after a PUT into it (how the lease sees claims). */
  listing: {
    /**
     * Listed files have a modification time (getlastmodified). Required. False only when most listings lacked
     * one: a single listing without dates (sabre/dav now and then, FIELD-NOTES) proves nothing.
     */
    modificationTimes: boolean;
    /** Listings in which some file had no modification time, even after the Remote took them again.
     *  Absent from reports recorded before syncd measured it. */
    undated?: number;
    /** Per trial (in the order they ended): listings after the first until the new file showed up; null: never. */
    relists: Array<number | null>;
    /** Trials whose first listing did not show the file just written. */
    lagged: number;
    /** Every trial's file showed up within maxRelists. Required. */
    visible: boolean;
    maxRelists: number;
    /** Listings taken, and how many of them lacked the lease's end marker (ended early: rclone, lease.ts).
     *  Absent from reports recorded before syncd measured it. */
    listings?: number;
    cutShort?: number;
    /** The file's size in the listing matched what was written. */
    sizeMatches: boolean | null;
  };
  /** The server's clock. */
  clock: {
    /** The server sends a Date header (the lease judges claims by it; else by the local clock). */
    dateHeader: boolean;
    /** Server Date minus the local clock, estimated from several answers (Date has a 1 s resolution). */
    offsetMs: number | null;
    /** Server Date minus the listed mtime of a file just written: ≥ 0 and small when both come from one clock. */
    freshMtimeAgeMs: number | null;
  };
  etag: {
    /** On a GET, right after the write. */
    get: EtagFinding;
    /** On the PUT's own response. */
    put: EtagFinding;
    /** `getetag` in PROPFIND. */
    propfind: EtagFinding;
    /** Where the two checks below read the ETag from. */
    source: "propfind" | "get" | null;
    /** Two reads with no write between give the same ETag. */
    stableWithoutWrite: boolean | null;
    /** A rewrite of the same size, within the same second, gives a new ETag (nginx: usually not). */
    changesOnSameSizeRewrite: boolean | null;
  };
  /** PROPFIND of a folder without a Depth header, and with `Depth: infinity` (syncd sends neither). */
  depth: { none: number | null; infinity: number | null };
  /** A folder's URL without its trailing slash (syncd always sends it): PROPFIND Depth 0, and DELETE. */
  folderWithoutSlash: { propfind: number | null; delete: number | null };
  /** PUT with `If-None-Match: *` onto an existing file: 412 honoured, 2xx ignored. Informational: never relied on. */
  ifNoneMatchPut: { status: number | null; honoured: boolean | null };
}

export interface ProbeReport {
  version: typeof PROBE_REPORT_VERSION;
  /** The share root probed (no credentials). */
  location: string;
  probedAt: string;
  durationMs: number;
  /** Whether the raw checks (statuses, headers) could run; the verdict does not depend on them. */
  rawChecks: boolean;
  verdict: "ok" | "refused";
  /** Why the lease cannot be safe here (only when refused). */
  refusal: string | null;
  findings: ProbeFindings;
  /** What syncd uses or does about each finding, one sentence each. */
  notes: string[];
  /** Findings that deserve attention but do not refuse the share. */
  warnings: string[];
  /** The scratch folder was removed at the end. */
  scratchRemoved: boolean;
}

export function refusalOf(f: ProbeFindings, maxRelists: number, relistDelay: (i: number) => number): string | null {
  if (!f.listing.modificationTimes) {
    return (
      "its folder listings (PROPFIND Depth: 1) give files no modification time (getlastmodified), but the writer's lock (SPEC §3) " +
      "is a lease of claim files judged by those times; without them no claim can ever be told expired, so a crashed instance would block every other one for good."
    );
  }
  if (!f.listing.visible) {
    let waited = 0;
    for (let i = 1; i <= maxRelists; i++) waited += relistDelay(i);
    return (
      `a claim file written with PUT never appeared in ${maxRelists + 1} listings of its folder over ${(waited / 1000).toFixed(1)} s, ` +
      "but an instance holds the writer's lock (SPEC §3) only once it sees its own claim listed (proof that the listing is recent enough to show a competitor's claim too), " +
      "so no instance could ever take the lock here."
    );
  }
  return null;
}

export function notesOf(f: ProbeFindings, raw: boolean): string[] {
  const notes: string[] = [];
  const s = (status: number | null) => (status === null ? "not measured" : String(status));
  notes.push("Every PUT carries a Content-Length (never a chunked body), and every upload is verified by its SHA-256.");
  notes.push(`Folders are created before anything is written into them (a PUT into a missing folder answers ${s(f.putMissingParent.status)} here).`);
  if (f.putMissingParent.remoteKind !== "conflict" && f.putMissingParent.remoteKind !== null) {
    notes.push(`A PUT into a missing folder is reported as kind "${f.putMissingParent.remoteKind}" here (expected "conflict").`);
  }
  notes.push(`MKCOL of an existing folder answers ${s(f.mkcolExisting.status)}; mkdir treats 201 and 405 alike as "exists".`);
  notes.push(
    `A MOVE into a missing folder answers ${s(f.moveMissingParent.status)}${f.moveMissingParent.createdParent ? " and creates the folder" : ""}; ` +
      "syncd moves only into folders it knows exist (metadata.db in the root).",
  );
  notes.push(
    `Every PROPFIND has an explicit Depth (0 or 1) and folder URLs end in "/" (here: no Depth → ${s(f.depth.none)}, Depth: infinity → ${s(f.depth.infinity)}, ` +
      `folder without "/" → PROPFIND ${s(f.folderWithoutSlash.propfind)}, DELETE ${s(f.folderWithoutSlash.delete)}).`,
  );
  const lag = Math.max(0, ...f.listing.relists.map((r) => r ?? 0));
  notes.push(
    f.listing.lagged > 0
      ? `Listings lag behind completed PUTs (${f.listing.lagged} of ${f.listing.relists.length} new claims were missing from the first listing, ` +
          `the slowest showed up after ${lag} relist${lag === 1 ? "" : "s"}): the lease holds only once its own claim is listed, and relists until then (SPEC §3).`
      : `A file written with PUT was listed at once (${f.listing.relists.length} concurrent claims); the lease still requires its own claim to be listed (SPEC §3).`,
  );
  if (f.listing.cutShort) {
    notes.push(
      `${f.listing.cutShort} of ${f.listing.listings} listings ended early, leaving out every entry after some point (a file deleted while ` +
        `the server listed the folder): the lease trusts only a listing that shows the end marker of its lock folder, and lists again (SPEC §3).`,
    );
  }
  notes.push(
    `ETags: GET ${etagWord(f.etag.get)}, PUT response ${etagWord(f.etag.put)}, PROPFIND ${etagWord(f.etag.propfind)}; ` +
      "syncd does not use ETags (content is checked by SHA-256, freshness by version.txt).",
  );
  notes.push(
    `If-None-Match: * on an existing file is ${f.ifNoneMatchPut.honoured === null ? "not measured" : f.ifNoneMatchPut.honoured ? "honoured (412)" : `ignored (${f.ifNoneMatchPut.status})`}; ` +
      "syncd never relies on conditional requests or LOCK (racy or ignored on common servers).",
  );
  if (!raw) notes.push("Statuses and headers were not measured: the remote offers no raw requests (run `syncd probe`).");
  return notes;
}

function etagWord(e: EtagFinding): string {
  if (e.present === null) return "not measured";
  if (!e.present) return "none";
  return e.weak ? "weak" : "strong";
}

export function warningsOf(f: ProbeFindings, scratchRemoved: boolean, scratch: string): string[] {
  const w: string[] = [];
  if (!f.roundTrip.ok) w.push("A file written with PUT did not read back with the same bytes: uploads will fail their verification on this server.");
  if (!f.moveOverwrite.replaced) w.push("MOVE onto an existing file did not replace it: publishing metadata.db will fail on this server.");
  if (f.missingFile.remoteKind !== "not-found" || !f.missingFile.statIsNull) {
    w.push(`A missing file is not reported as "not found" (GET → ${f.missingFile.get ?? "?"}, PROPFIND → ${f.missingFile.propfind ?? "?"}).`);
  }
  if (f.listing.sizeMatches === false) w.push("Listings report a size that differs from what was written.");
  if (!f.clock.dateHeader) {
    w.push("The server sends no Date header: the lease then judges claims by the local clock, which must be within a few seconds of the server's.");
  }
  if (f.clock.offsetMs !== null && Math.abs(f.clock.offsetMs) > 5000) {
    w.push(`The server's clock is ${(f.clock.offsetMs / 1000).toFixed(1)} s off the local one (harmless for the lease, which uses the server's clock; misleading in logs).`);
  }
  if (f.clock.freshMtimeAgeMs !== null && (f.clock.freshMtimeAgeMs < -2000 || f.clock.freshMtimeAgeMs > 5000)) {
    w.push(
      `A file just written is listed with a modification time ${(f.clock.freshMtimeAgeMs / 1000).toFixed(1)} s away from the server's Date: ` +
        "the storage and the web server disagree on the time, which shortens or lengthens every lease by as much.",
    );
  }
  if (!scratchRemoved) w.push(`The scratch folder ${scratch}/ could not be removed; delete it by hand (the next probe removes it after an hour).`);
  return w;
}

/** The report as a two-column table for `syncd probe` (check, result). */
export function describeReport(r: ProbeReport): string[][] {
  const f = r.findings;
  const s = (status: number | null) => (status === null ? "not measured" : String(status));
  const yes = (b: boolean | null, y = "yes", n = "no") => (b === null ? "not measured" : b ? y : n);
  const etag = (e: EtagFinding) => (e.present === null ? "not measured" : e.present ? `${e.weak ? "weak" : "strong"} ${e.value}` : "none");
  return [
    ["check", "result"],
    ["PUT (Content-Length) then GET", f.roundTrip.ok ? "same bytes" : "DIFFERENT BYTES"],
    ["missing file: GET / PROPFIND", `${s(f.missingFile.get)} / ${s(f.missingFile.propfind)}`],
    ["PUT into a missing folder", `${s(f.putMissingParent.status)} (syncd: ${f.putMissingParent.remoteKind ?? "no error"})`],
    ["MKCOL of an existing folder", s(f.mkcolExisting.status)],
    ["MOVE onto an existing file", `${s(f.moveOverwrite.status)}, ${f.moveOverwrite.replaced ? "replaced" : "NOT REPLACED"}`],
    ["MOVE into a missing folder", `${s(f.moveMissingParent.status)}${f.moveMissingParent.createdParent ? ", folder created" : ""}`],
    ["listing has modification times", `${f.listing.modificationTimes ? "yes" : "NO (required)"}${f.listing.undated ? ` (missing in ${f.listing.undated} of ${f.listing.listings} listings)` : ""}`],
    ["new claim listed late (of written)", `${f.listing.lagged} of ${f.listing.relists.length}${f.listing.visible ? `, at most ${Math.max(0, ...f.listing.relists.map((x) => x ?? 0))} relists` : `, one NEVER (${f.listing.maxRelists} relists)`}`],
    ["listings that ended early", f.listing.cutShort === undefined ? "not measured" : `${f.listing.cutShort} of ${f.listing.listings}`],
    ["server Date header", f.clock.dateHeader ? "yes" : "no"],
    ["clock offset (server − local)", f.clock.offsetMs === null ? "unknown" : `${seconds(f.clock.offsetMs)} (±0.5 s)`],
    ["fresh file's mtime age", f.clock.freshMtimeAgeMs === null ? "unknown" : seconds(f.clock.freshMtimeAgeMs)],
    ["ETag on GET", etag(f.etag.get)],
    ["ETag on PUT response", etag(f.etag.put)],
    ["getetag in PROPFIND", etag(f.etag.propfind)],
    ["ETag stable without writes", yes(f.etag.stableWithoutWrite)],
    ["ETag changes on same-size rewrite", yes(f.etag.changesOnSameSizeRewrite)],
    ["PROPFIND without Depth", s(f.depth.none)],
    ["PROPFIND Depth: infinity", s(f.depth.infinity)],
    ["folder URL without '/': PROPFIND / DELETE", `${s(f.folderWithoutSlash.propfind)} / ${s(f.folderWithoutSlash.delete)}`],
    ["PUT If-None-Match: * on existing", f.ifNoneMatchPut.status === null ? "not measured" : `${f.ifNoneMatchPut.status} (${f.ifNoneMatchPut.honoured ? "honoured" : "ignored"})`],
    ["scratch folder removed", r.scratchRemoved ? "yes" : "NO"],
  ];
}

function seconds(ms: number): string {
  const text = (ms / 1000).toFixed(1);
  return `${text === "-0.0" ? "0.0" : text} s`;
}
