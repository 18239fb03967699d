/**
 * Cursor tokens of `GET /api/v1/changes` (SPEC §6). A token is opaque to clients; inside it is
 * `1.<instance id>.<change sequence>.<issued at, ms>`, base64url-encoded:
 * - the sequence is the library's local change counter (store/changes.ts): "after N" is an index scan;
 * - the instance id ties the token to this data directory: a token from another library (or from a data
 *   directory that was recreated) is invalid, not silently wrong;
 * - the issue time is what "older than the tombstone window" (410 valid-sync-token) is measured on: a
 *   deletion is only guaranteed to be visible as a tombstone for `tombstoneRetentionDays`, so a client that
 *   has not asked for longer must start over. Every answer carries a fresh token, so a client that polls
 *   at least once per window never sees a 410. Separately, a token below the counter's floor (a purged
 *   tombstone's sequence) gets 410 whatever its age.
 */
import { ApiError } from "./http-errors.js";

export interface ChangesCursor {
  instanceId: string;
  seq: number;
  issuedAt: number;
}

export function encodeToken(cursor: ChangesCursor): string {
  return Buffer.from(`1.${cursor.instanceId}.${cursor.seq}.${cursor.issuedAt}`, "utf8").toString("base64url");
}

/** Throws a 400 for a token that is not one of ours at all. */
export function decodeToken(token: string): ChangesCursor {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(token) ? Buffer.from(token, "base64url").toString("utf8") : "";
  const match = /^1\.([0-9A-Za-z]{1,64})\.(\d{1,15})\.(\d{1,15})$/.exec(text);
  if (!match) throw new ApiError(400, "invalid-token", "The since parameter is not a token returned by this API.");
  return { instanceId: match[1] as string, seq: Number(match[2]), issuedAt: Number(match[3]) };
}

/** 410 valid-sync-token unless the cursor can still be resumed without missing a deletion. */
export function checkCursor(cursor: ChangesCursor, ctx: { instanceId: string; floor: number; retentionMs: number; now: number; latest: number }): void {
  const expired = (why: string) =>
    new ApiError(410, "valid-sync-token", `This token can no longer be resumed (${why}); list from the start again without "since".`);
  if (cursor.instanceId !== ctx.instanceId) throw expired("it belongs to another library");
  if (cursor.seq > ctx.latest) throw expired("it is ahead of this library");
  if (cursor.seq < ctx.floor) throw expired("deletions after it were purged");
  if (ctx.now - cursor.issuedAt > ctx.retentionMs) throw expired("it is older than the tombstone retention window");
}
