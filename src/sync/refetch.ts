/**
 * One more download when a body failed after it had started. The Remote retries a request only until its
 * body starts (remote/retry.ts); a body that breaks off or arrives with the wrong bytes (a proxy, a flaky
 * link) is fetched once more by the caller, which alone knows what "the wrong bytes" means for it.
 */
import { isTransient } from "../remote/retry.js";

/** A GET whose body broke off (cut short, reset, stalled): worth fetching again. */
export function isBrokenBody(err: unknown): boolean {
  return isTransient(err) && err.method === "GET";
}

/** Runs `fetch`, and once more if its failure is `worthAnother`; the second failure is final. */
export async function fetchTwiceIf<T>(fetch: () => Promise<T>, worthAnother: (err: unknown) => boolean): Promise<T> {
  try {
    return await fetch();
  } catch (err) {
    if (!worthAnother(err)) throw err;
    return fetch();
  }
}
