/** `GET /api/v1/changes?since=TOKEN&limit=N` (SPEC §6); the token is described in changes-token.ts. */
import { Hono } from "hono";
import { entryJson } from "../../cli/output.js";
import { changeCounter, changesSince, type ChangePage } from "../../store/changes.js";
import type { AppEnv } from "../app.js";
import { checkCursor, decodeToken, encodeToken } from "../changes-token.js";
import { ApiError } from "../http-errors.js";

export const DEFAULT_CHANGES_LIMIT = 100;
export const MAX_CHANGES_LIMIT = 1000;

export function changesRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get("/", (c) => {
    const { library, tombstoneRetentionDays } = c.get("deps");
    const limit = parseLimit(c.req.query("limit"));
    const since = c.req.query("since");
    const cursor = since === undefined || since === "" ? null : decodeToken(since);
    const now = Date.now();
    // One read transaction: the counter checked and the page returned are the same snapshot.
    const page = library.db.transaction((): ChangePage => {
      if (cursor) {
        const counter = changeCounter(library.db);
        checkCursor(cursor, {
          instanceId: library.instanceId,
          floor: counter.floor,
          latest: counter.seq,
          retentionMs: tombstoneRetentionDays * 86_400_000,
          now,
        });
      }
      return changesSince(library.db, cursor?.seq ?? 0, limit);
    })();
    return c.json({
      entries: page.entries.map(entryJson),
      token: encodeToken({ instanceId: library.instanceId, seq: page.next, issuedAt: now }),
      hasMore: page.hasMore,
    });
  });
  return r;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === "") return DEFAULT_CHANGES_LIMIT;
  const n = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_CHANGES_LIMIT)) throw new ApiError(400, "invalid-query", `limit must be an integer from 1 to ${MAX_CHANGES_LIMIT}.`);
  return n;
}
