/**
 * Request bodies: JSON read with a size cap (also for chunked bodies, which carry no Content-Length),
 * parsed, then validated with zod. Each failure is a 4xx ApiError whose message names the problem.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError } from "./http-errors.js";

/** Entry metadata may be 1 MiB as JSON (entry-row.ts); leave room for the rest of a body. */
export const MAX_JSON_BYTES = 2 * 1024 * 1024;

export async function readJson<T>(c: Context, schema: z.ZodType<T>, opts: { allowEmpty?: boolean } = {}): Promise<T> {
  const text = await readText(c, MAX_JSON_BYTES);
  if (text.trim() === "") {
    if (opts.allowEmpty) return parse(schema, {});
    throw new ApiError(400, "invalid-body", "The request needs a JSON body.");
  }
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    // Also a CSRF guard: a cross-site form or "simple" fetch cannot send application/json without a preflight.
    throw new ApiError(415, "unsupported-media-type", "Send the body as JSON with Content-Type: application/json.");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, "invalid-json", `The body is not valid JSON: ${(err as Error).message}.`);
  }
  return parse(schema, value);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : "the body";
  throw new ApiError(400, "invalid-body", `Invalid request body: ${where}: ${issue?.message ?? "does not match the expected shape"}.`);
}

async function readText(c: Context, max: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > max) throw tooLarge(max);
  const body = c.req.raw.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) throw tooLarge(max);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ApiError(400, "invalid-json", "The body is not valid UTF-8.");
  }
}

function tooLarge(max: number): ApiError {
  // The rest of the body is never read: the connection cannot carry another request after it.
  return new ApiError(413, "payload-too-large", `The body is larger than ${max} bytes.`, { Connection: "close" });
}
