/**
 * Where the benchmarks load syncd's compiled code from: `BENCH_DIST` (a dist/ folder of any build, e.g. an
 * earlier commit's from bench/build-ref.sh), else this checkout's dist/. Each process loads one build.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const DIST_URL = process.env.BENCH_DIST
  ? pathToFileURL(resolve(process.env.BENCH_DIST) + "/")
  : new URL("../../dist/", import.meta.url);

/** import() of a module of that build, by its path inside dist/ ("sync/engine.js"). */
export function fromDist(path) {
  return import(new URL(path, DIST_URL).href);
}

/** The same, or null when that build has no such module. */
export async function fromDistIfAny(path) {
  try {
    return await fromDist(path);
  } catch (err) {
    if (err?.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes(path)) return null;
    throw err;
  }
}
