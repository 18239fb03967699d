/** The content of a claim file `version.txt.lock/<token>.json` (SPEC §3), and reading it back safely. */
import { isRemoteError } from "./errors.js";
import type { Remote, RemoteStat } from "./remote.js";

export interface Claim {
  token: string;
  instance: string;
  host: string;
  pid: number;
  ttlMs: number;
  /** Wall-clock time of the acquisition, for people reading the claim; never used to judge liveness. */
  acquiredAt: string;
}

/**
 * Reads another instance's claim: "gone" when it no longer exists, "garbage" when it is not a claim we can
 * understand (empty, truncated, foreign). Other failures (network, auth) propagate: a claim we could not
 * read is not evidence that it expired.
 */
export async function readClaim(remote: Remote, path: string): Promise<Claim | "gone" | "garbage"> {
  let body: Buffer;
  try {
    body = await remote.get(path);
  } catch (err) {
    if (isRemoteError(err, "not-found")) return "gone";
    throw err;
  }
  try {
    const parsed = JSON.parse(body.toString("utf8")) as Partial<Claim> | null;
    if (!parsed || typeof parsed.ttlMs !== "number" || !(parsed.ttlMs > 0)) return "garbage";
    return {
      token: String(parsed.token ?? ""),
      instance: String(parsed.instance ?? "?"),
      host: String(parsed.host ?? "?"),
      pid: Number(parsed.pid ?? 0),
      ttlMs: parsed.ttlMs,
      acquiredAt: String(parsed.acquiredAt ?? "?"),
    };
  } catch {
    return "garbage";
  }
}

/**
 * A listed claim with a modification time to judge it by: as listed, or, when the listing gave it none
 * (sabre/dav now and then, even after the Remote took the listing again), as a PROPFIND of the claim itself
 * says. Null when it is gone. Its time may still be missing: a claim that cannot be aged counts as live.
 */
export async function datedClaim(remote: Remote, listed: RemoteStat): Promise<RemoteStat | null> {
  return Number.isNaN(listed.mtime.getTime()) ? remote.stat(listed.path) : listed;
}
