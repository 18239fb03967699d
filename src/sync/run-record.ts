/**
 * A durable record of the run in progress, kept beside the library in `<dataDir>/run/`:
 *   current.json   what the run started from (share id and version) and the phase it reached
 *   uploaded.log   one line per data file uploaded *and verified on the server*, with its share and time
 * After a crash or a kill, the next run reads it: verified uploads are not repeated, and an interrupted
 * run is reported. Nothing unverified is ever recorded, so nothing half-written is trusted. The record is
 * removed when a run completes. Plain files, not the library's SQLite: a record of a run must not be lost
 * with the transaction it is about to commit.
 */
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SyncPhase } from "./events.js";

export interface RunInfo {
  shareId: string;
  startedVersion: number;
  startedAt: string;
  phase: SyncPhase;
}

/**
 * How long a recorded upload is trusted without checking. Far below the grace period after which
 * orphaned data files may be collected (maintenance.ts), so a trusted upload cannot have been collected.
 */
export const UPLOAD_TRUST_MS = 60 * 60 * 1000;

export class RunRecord {
  private readonly dir: string;
  private info: RunInfo | null = null;

  constructor(dataDir: string) {
    this.dir = join(dataDir, "run");
    mkdirSync(this.dir, { recursive: true });
  }

  /** The run that was in progress when the process last stopped without finishing, if any. */
  interrupted(): RunInfo | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, "current.json"), "utf8")) as RunInfo;
    } catch {
      return null;
    }
  }

  begin(shareId: string, startedVersion: number, now = Date.now()): void {
    this.info = { shareId, startedVersion, startedAt: new Date(now).toISOString(), phase: "metadata" };
    this.write();
  }

  phase(phase: SyncPhase): void {
    if (!this.info) return;
    this.info.phase = phase;
    this.write();
  }

  /** Hashes uploaded and verified for this share within the trust window. */
  verifiedUploads(shareId: string, now = Date.now()): Set<string> {
    const out = new Set<string>();
    let text = "";
    try {
      text = readFileSync(join(this.dir, "uploaded.log"), "utf8");
    } catch {
      return out;
    }
    for (const line of text.split("\n")) {
      // A line torn by a crash does not parse and is ignored: that upload is simply done again.
      const [share, hash, at] = line.split(" ");
      // An upload stamped in the future (the clock was set back since) has an unknown age: not trusted, since
      // orphan collection may have removed it meanwhile (SPEC §3: no decision on one wall clock alone).
      const age = now - Number(at);
      if (share === shareId && hash && /^[0-9a-f]{64}$/.test(hash) && age >= 0 && age < UPLOAD_TRUST_MS) out.add(hash);
    }
    return out;
  }

  recordUploads(shareId: string, hashes: string[], now = Date.now()): void {
    if (hashes.length === 0) return;
    appendFileSync(join(this.dir, "uploaded.log"), hashes.map((h) => `${shareId} ${h} ${now}\n`).join(""));
  }

  /** The run completed (or failed cleanly before changing anything): nothing to resume. */
  finish(): void {
    this.info = null;
    rmSync(join(this.dir, "current.json"), { force: true });
    rmSync(join(this.dir, "uploaded.log"), { force: true });
  }

  private write(): void {
    writeFileSync(join(this.dir, "current.json"), JSON.stringify(this.info));
  }
}
