/**
 * The library over HTTP (SPEC §6). Uploads stream the request body straight into the content store
 * (nothing is buffered whole). The entry's name and metadata travel in the query string,
 * `POST /api/v1/files?name=papers/x.pdf&meta={"year":2020}` (URL-encoded): every HTTP client can set it and
 * percent-encoding carries any UTF-8, which headers cannot. Metadata too large for a URL goes in a PATCH.
 */
import { Readable } from "node:stream";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { entryJson } from "../../cli/output.js";
import { SyncdError } from "../../errors.js";
import type { Meta } from "../../model/entry.js";
import { metaToJson } from "../../store/entry-row.js";
import { MAX_SEARCH_LIMIT, searchEntries, type EntrySearch, type SearchOrder } from "../../store/entry-search.js";
import type { Entry } from "../../model/entry.js";
import type { AppEnv } from "../app.js";
import { readJson } from "../body.js";
import { ApiError } from "../http-errors.js";

const patchBody = z
  .strictObject({
    name: z.string().optional(),
    /** Keys to set (values are any JSON). */
    meta: z.record(z.string(), z.unknown()).optional(),
    /** Keys to remove. */
    unset: z.array(z.string()).max(10_000).optional(),
  })
  .refine((b) => b.name !== undefined || b.meta !== undefined || (b.unset?.length ?? 0) > 0, {
    message: "give at least one of name, meta, unset",
  });

export function fileRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  // Without search parameters (deleted=true|false aside): every entry (as `syncd ls --json`). With any of
  // q, order, limit or another deleted: one bounded page (store/entry-search.ts), each entry with when it
  // last changed here; deleted=only is the one other value, anything else is refused (parseSearch).
  r.get("/", (c) => {
    const { library } = c.get("deps");
    const deleted = c.req.query("deleted");
    const q = c.req.query("q");
    const order = c.req.query("order");
    const limit = c.req.query("limit");
    const legacy = deleted === undefined || deleted === "true" || deleted === "false";
    if (q === undefined && order === undefined && limit === undefined && legacy) {
      return c.json(library.list({ includeDeleted: deleted === "true" }).map(entryJson));
    }
    const search = parseSearch({ q, order, limit, deleted });
    return c.json(searchEntries(library.db, search).map((f) => ({ ...entryJson(f.entry), updatedAt: new Date(f.updatedAt).toISOString() })));
  });

  r.post("/", async (c) => {
    const { library, scheduler } = c.get("deps");
    const name = c.req.query("name");
    if (name === undefined || name === "") throw new ApiError(400, "invalid-name", "Give the entry's name as the name query parameter.");
    const meta = parseMetaParam(c.req.query("meta"));
    const entry = await upload(c, (source) => library.add({ source, name, meta }));
    scheduler.notifyWrite();
    c.header("Location", `/api/v1/files/${entry.id}`);
    return c.json(entryJson(entry), 201);
  });

  r.get("/:id", (c) => c.json(entryJson(c.get("deps").library.require(c.req.param("id")))));

  r.patch("/:id", async (c) => {
    const { library, scheduler } = c.get("deps");
    const id = c.req.param("id");
    const body = await readJson(c, patchBody);
    library.require(id);
    // One change; a bad field changes nothing (Library.update checks them all first).
    const entry = await library.update(id, { name: body.name, meta: { set: body.meta as Meta | undefined, unset: body.unset } });
    scheduler.notifyWrite();
    return c.json(entryJson(entry));
  });

  r.delete("/:id", (c) => {
    const { library, scheduler } = c.get("deps");
    const entry = library.remove(c.req.param("id"));
    scheduler.notifyWrite();
    return c.json(entryJson(entry));
  });

  // Brings a deleted entry back (SPEC §6), through the one write path. Content that the local store released
  // on deletion is fetched from the daemon's share (verified), as `syncd restore` does; when neither has it,
  // 409 with the reason.
  r.post("/:id/restore", async (c) => {
    const { library, scheduler, restoreContent } = c.get("deps");
    let entry: Entry;
    try {
      [entry] = (await library.restore([c.req.param("id")], restoreContent ? { fetch: restoreContent } : {})) as [Entry];
    } catch (err) {
      if (err instanceof SyncdError && err.code === "content-unavailable") throw new ApiError(409, err.code, err.message);
      throw err;
    }
    scheduler.notifyWrite();
    return c.json(entryJson(entry));
  });

  r.get("/:id/content", (c) => {
    const { library } = c.get("deps");
    const entry = library.require(c.req.param("id"));
    if (entry.deleted) throw new ApiError(410, "entry-deleted", `Entry ${entry.id} is deleted; it has no content.`);
    const etag = `"${entry.hash}"`;
    c.header("ETag", etag);
    c.header("Cache-Control", "no-cache");
    if (c.req.header("if-none-match") === etag) return c.body(null, 304);
    const file = entry.name.split("/").pop() as string;
    c.header("Content-Type", "application/octet-stream");
    c.header("Content-Length", String(entry.size));
    c.header("Content-Disposition", `attachment; filename*=UTF-8''${encodeURIComponent(file)}`);
    return c.body(Readable.toWeb(library.blobs.openRead(entry.hash)) as ReadableStream<Uint8Array>);
  });

  // New content for an entry (the HTTP form of `syncd update ID --file`); the body as in POST.
  r.put("/:id/content", async (c) => {
    const { library, scheduler } = c.get("deps");
    const id = c.req.param("id");
    const entry = await upload(c, (source) => library.updateContent(id, source));
    scheduler.notifyWrite();
    return c.json(entryJson(entry));
  });
  return r;
}

const DEFAULT_SEARCH_LIMIT = 50;

function parseSearch(raw: { q?: string; order?: string; limit?: string; deleted?: string }): EntrySearch {
  if (raw.q !== undefined && raw.q.length > 1000) throw new ApiError(400, "invalid-query", "q must be at most 1,000 characters.");
  if (raw.order !== undefined && raw.order !== "name" && raw.order !== "recent") throw new ApiError(400, "invalid-query", 'order must be "name" or "recent".');
  const deleted = raw.deleted === undefined || raw.deleted === "false" ? "exclude" : raw.deleted === "true" ? "include" : raw.deleted === "only" ? "only" : null;
  if (deleted === null) throw new ApiError(400, "invalid-query", 'deleted must be "true", "false" or "only".');
  let limit = DEFAULT_SEARCH_LIMIT;
  if (raw.limit !== undefined) {
    limit = /^\d{1,4}$/.test(raw.limit) ? Number(raw.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_SEARCH_LIMIT)) throw new ApiError(400, "invalid-query", `limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}.`);
  }
  return { q: raw.q, order: (raw.order as SearchOrder | undefined) ?? "name", deleted, limit };
}

function parseMetaParam(raw: string | undefined): Meta | undefined {
  if (raw === undefined || raw === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ApiError(400, "invalid-meta", "The meta query parameter must be a JSON object.");
  }
  metaToJson(value); // throws invalid-meta with the reason
  return value as Meta;
}

/** Streams the request body into `write`; a client that hangs up mid-upload gets nothing stored. */
async function upload(c: Context<AppEnv>, write: (source: Readable | Buffer) => Promise<Entry>): Promise<Entry> {
  const body = c.req.raw.body;
  const source = body ? Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>) : Buffer.alloc(0);
  try {
    return await write(source);
  } catch (err) {
    if (err instanceof SyncdError || err instanceof ApiError) throw err;
    if (c.req.raw.signal.aborted || isStreamAbort(err)) throw new ApiError(400, "upload-incomplete", "The upload ended before its body was complete; nothing was stored.");
    throw err;
  } finally {
    if (source instanceof Readable && !source.destroyed) source.destroy();
  }
}

function isStreamAbort(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ABORT_ERR" || (err as Error | null)?.name === "AbortError";
}
