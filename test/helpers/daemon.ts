/**
 * An in-process `syncd daemon` for API, SSE and browser tests (the child-process test uses the real binary):
 * a throwaway data directory, port 0, and a scheduler that never fires on its own unless asked to, so that
 * every run in a test is one the test started.
 */
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../src/config/schema.js";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import { startDaemon, type Daemon, type DaemonOptions } from "../../src/server/daemon.js";
import { silentLogger, type Logger } from "../../src/server/log.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import { SyncEngine } from "../../src/sync/engine.js";
import type { SyncEventListener } from "../../src/sync/events.js";

export interface TestDaemon {
  daemon: Daemon;
  config: Config;
  dir: string;
  url: string;
  token: string | undefined;
  /** fetch against the daemon, with the token unless `auth: false`. */
  api(path: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
  json<T = unknown>(path: string, init?: RequestInit & { auth?: boolean }): Promise<T>;
  close(): Promise<void>;
}

export interface TestDaemonOptions {
  name?: string;
  token?: string | null;
  webdav?: Partial<Config["webdav"]>;
  sync?: Partial<Config["sync"]>;
  hub?: DaemonOptions["hub"];
  scheduler?: DaemonOptions["scheduler"];
  resolveConflict?: DaemonOptions["resolveConflict"];
  log?: Logger;
}

const NEVER = 24 * 3600 * 1000;

export function testConfig(dir: string, opts: TestDaemonOptions = {}): Config {
  const token = opts.token === null ? undefined : (opts.token ?? "test-token");
  return {
    configPath: join(dir, "syncd.json"),
    instanceName: opts.name ?? "daemon",
    dataDir: join(dir, "data"),
    webdav: { root: "/syncd", timeoutMs: 10_000, ...opts.webdav },
    sync: {
      intervalSeconds: 3600,
      concurrency: 4,
      conflictPolicy: "manual",
      lockTtlSeconds: 30,
      lockWaitSeconds: 5,
      tombstoneRetentionDays: 90,
      maxDeletePercent: 50,
      ...opts.sync,
    },
    server: { host: "127.0.0.1", port: 0, ...(token === undefined ? {} : { token }) },
  };
}

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), "syncd-daemon-"));
  const config = testConfig(dir, opts);
  const daemon = await startDaemon({
    config,
    log: opts.log ?? silentLogger,
    hub: opts.hub,
    scheduler: { startDelayMs: NEVER, debounceMs: NEVER, debounceMaxMs: NEVER, ...opts.scheduler },
    resolveConflict: opts.resolveConflict,
  });
  const token = config.server.token;
  const api = (path: string, init: RequestInit & { auth?: boolean } = {}) => {
    const { auth = true, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (auth && token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return fetch(`${daemon.url}${path}`, { ...rest, headers });
  };
  return {
    daemon,
    config,
    dir,
    url: daemon.url,
    token,
    api,
    json: async <T>(path: string, init?: RequestInit & { auth?: boolean }) => {
      const res = await api(path, init);
      const text = await res.text();
      if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
    close: async () => {
      await daemon.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Another instance, in this process, syncing to a daemon's embedded share through /dav. */
export interface Peer {
  library: Library;
  engine: SyncEngine;
  close(): Promise<void>;
}

export async function openPeer(td: TestDaemon, name = "peer", onEvent?: SyncEventListener): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `syncd-${name}-`));
  const library = await openLibrary(join(dir, "data"), { instanceName: name });
  const remote = createWebdavRemote({
    url: td.daemon.shareUrl as string,
    root: td.config.webdav.root,
    username: "anyone",
    password: td.token,
    timeoutMs: 10_000,
  });
  const engine = new SyncEngine(library, remote, td.config.sync, onEvent);
  return {
    library,
    engine,
    close: async () => {
      await remote.close();
      library.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Reads an SSE response as events; `until` stops at the first event it accepts. */
export async function readEvents(
  res: Response,
  until: (e: SseEvent) => boolean,
  opts: { onComment?: (text: string) => void } = {},
): Promise<SseEvent[]> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const out: SseEvent[] = [];
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return out;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const e: Partial<SseEvent> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) opts.onComment?.(line.slice(1).trim());
          else if (line.startsWith("id: ")) e.id = line.slice(4);
          else if (line.startsWith("event: ")) e.event = line.slice(7);
          else if (line.startsWith("data: ")) e.data = JSON.parse(line.slice(6)) as unknown;
        }
        if (e.event) {
          out.push(e as SseEvent);
          if (until(e as SseEvent)) return out;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

export interface SseEvent {
  id: string;
  event: string;
  data: unknown;
}
