/**
 * In-process instances for engine-level tests: a real Library in a temp data dir and a real WebDAV client
 * against a real server on 127.0.0.1, without the cost of spawning the CLI for every step.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWebdavRemote } from "../../src/remote/webdav-remote.js";
import type { Remote } from "../../src/remote/remote.js";
import { openLibrary, type Library } from "../../src/store/library.js";
import { SyncEngine, type SyncSettings } from "../../src/sync/engine.js";
import type { SyncEvent } from "../../src/sync/events.js";

export const DEFAULT_SETTINGS: SyncSettings = {
  concurrency: 4,
  conflictPolicy: "manual",
  lockTtlSeconds: 10,
  lockWaitSeconds: 10,
  tombstoneRetentionDays: 90,
  maxDeletePercent: 50,
};

export interface EngineInstance {
  name: string;
  library: Library;
  remote: Remote;
  engine: SyncEngine;
  events: SyncEvent[];
  /** Adds an entry with the given text content. */
  add(name: string, content: string, meta?: Record<string, string | number | boolean>): Promise<string>;
  close(): Promise<void>;
}

export async function makeEngineInstance(
  name: string,
  share: { url: string; root?: string; username?: string; password?: string },
  settings: Partial<SyncSettings> = {},
  opts: {
    timeoutMs?: number;
    /** Wraps the WebDAV remote (retries, fault injection…) before the engine gets it. */
    wrap?: (remote: Remote, settings: SyncSettings) => Remote;
  } = {},
): Promise<EngineInstance> {
  const dir = mkdtempSync(join(tmpdir(), `syncd-engine-${name}-`));
  const library = await openLibrary(join(dir, "data"), { instanceName: name });
  const all = { ...DEFAULT_SETTINGS, ...settings };
  const plain = createWebdavRemote({
    url: share.url,
    root: share.root ?? "/syncd",
    username: share.username,
    password: share.password,
    timeoutMs: opts.timeoutMs ?? 10_000,
  });
  const remote = opts.wrap ? opts.wrap(plain, all) : plain;
  const events: SyncEvent[] = [];
  const engine = new SyncEngine(library, remote, all, (e) => events.push(e));
  let n = 0;
  return {
    name,
    library,
    remote,
    engine,
    events,
    async add(entryName, content, meta = {}) {
      const file = join(dir, `src-${n++}`);
      writeFileSync(file, content);
      return (await library.add({ source: file, name: entryName, meta })).id;
    },
    async close() {
      await remote.close();
      library.close();
    },
  };
}
