/**
 * The share a configuration points at: the configured WebDAV URL, or, when there is none, the embedded
 * share in `<dataDir>/share` (SPEC §4). Outside the daemon the embedded share is served for the length of
 * the command on an ephemeral loopback port, with a password of its own, so that every sync goes through
 * the same WebDAV code path.
 * Either way the Remote retries transient failures (retry.ts).
 */
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import type { Remote } from "./remote.js";
import { RETRY_DEFAULTS, withRetries, type RetryOptions } from "./retry.js";
import { createWebdavRemote } from "./webdav-remote.js";

export async function openRemote(config: Config, retry: Pick<RetryOptions, "onRetry"> = {}): Promise<Remote> {
  return retrying(await openPlainRemote(config), config, retry);
}

/**
 * The same share without the retry decorator, for the capability probe: it measures what the server
 * answers, which retries would repeat or hide (a MOVE answered 500 would be sent five times).
 */
export async function openPlainRemote(config: Config): Promise<Remote> {
  const { webdav } = config;
  if (webdav.url) {
    return createWebdavRemote({
      url: webdav.url,
      root: webdav.root,
      username: webdav.username,
      password: webdav.password,
      ...(webdav.ca === undefined ? {} : { ca: webdav.ca }),
      timeoutMs: webdav.timeoutMs,
    });
  }
  // Loaded only here: webdav-server costs ~50 ms of start-up that every command syncing to a configured URL
  // (most runs, and every `syncd sync` a timer starts) would otherwise pay for nothing.
  const { startPrivateShare } = await import("./embedded-share.js");
  const server = await startPrivateShare(join(config.dataDir, "share"));
  const remote = createWebdavRemote({
    url: server.url,
    root: webdav.root,
    username: server.username,
    password: server.password,
    timeoutMs: webdav.timeoutMs,
  });
  // Closing the remote also stops the server it talks to.
  const closeClient = remote.close.bind(remote);
  remote.close = async () => {
    await closeClient();
    await server.close();
  };
  return remote;
}

/**
 * Wraps a Remote built from this configuration in retries. The budget stays within a third of the lease
 * TTL: a write is checked against the lease once, before its first attempt, and the lease keeps that
 * third in reserve (lease.ts), so every retried attempt of a write still starts under a valid lease.
 */
export function retrying(remote: Remote, config: { sync: { lockTtlSeconds: number } }, extra: Pick<RetryOptions, "onRetry"> = {}): Remote {
  const leaseReserveMs = (config.sync.lockTtlSeconds * 1000) / 3;
  return withRetries(remote, { ...extra, budgetMs: Math.min(RETRY_DEFAULTS.budgetMs, leaseReserveMs) });
}
