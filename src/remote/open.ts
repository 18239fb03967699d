/**
 * The share a configuration points at: the configured WebDAV URL, or, when there is none, the embedded
 * share in `<dataDir>/share` (SPEC §4). Outside the daemon the embedded share is served for the length of
 * the command on an ephemeral loopback port, so that every sync goes through the same WebDAV code path.
 */
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { startEmbeddedShare } from "./embedded-share.js";
import type { Remote } from "./remote.js";
import { createWebdavRemote } from "./webdav-remote.js";

export async function openRemote(config: Config): Promise<Remote> {
  const { webdav } = config;
  if (webdav.url) {
    return createWebdavRemote({
      url: webdav.url,
      root: webdav.root,
      username: webdav.username,
      password: webdav.password,
      timeoutMs: webdav.timeoutMs,
    });
  }
  const server = await startEmbeddedShare({ dir: join(config.dataDir, "share"), host: "127.0.0.1", port: 0 });
  const remote = createWebdavRemote({ url: server.url, root: webdav.root, timeoutMs: webdav.timeoutMs });
  // Closing the remote also stops the server it talks to.
  const closeClient = remote.close.bind(remote);
  remote.close = async () => {
    await closeClient();
    await server.close();
  };
  return remote;
}
