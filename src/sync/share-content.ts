/**
 * The share as a source of content for `syncd restore` (Library.restore): a deleted entry's data file stays
 * on the share while its tombstone references it (maintenance.ts collects only unreferenced files), so bytes
 * that the local store released on deletion can be fetched back from there. The Remote is opened only when a
 * restore needs it: restoring what the local store still holds works offline.
 */
import { isRemoteError } from "../remote/errors.js";
import type { Remote } from "../remote/remote.js";
import type { ContentFetcher } from "../store/library.js";
import { dataPath } from "../share/layout.js";

export function shareContent(openRemote: () => Promise<Remote>): ContentFetcher {
  return async (hash) => {
    const remote = await openRemote();
    try {
      return await remote.getStream(dataPath(hash));
    } catch (err) {
      if (isRemoteError(err, "not-found")) return null;
      throw err;
    }
  };
}
