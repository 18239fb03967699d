/**
 * An in-process syncd instance for the benchmarks (library + WebDAV remote + engine), with the phase
 * timings of each run recorded from the engine's progress events.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fromDist } from "./dist.mjs";

// The build under test: this checkout's dist/, or BENCH_DIST's (dist.mjs).
const open = await fromDist("remote/open.js");
const { syncSchema } = await fromDist("config/schema.js");
const { createWebdavRemote } = await fromDist("remote/webdav-remote.js");
const { openLibrary } = await fromDist("store/library.js");
const { SyncEngine } = await fromDist("sync/engine.js");

/** syncd's defaults (SPEC §4), from the config schema itself; scenarios override what they need. */
export const DEFAULT_SETTINGS = syncSchema.parse({});

export const PHASES = ["check", "lock", "metadata", "plan", "upload", "download", "publish", "apply"];

/** Records, per run, when each phase first reported progress; `phases()` turns that into durations. */
export class PhaseClock {
  constructor() {
    this.starts = new Map();
  }
  listener = (e) => {
    if (e.type === "sync.progress" && !this.starts.has(e.phase)) this.starts.set(e.phase, performance.now());
  };
  reset() {
    this.starts.clear();
  }
  /** ms per phase: from its first event to the next phase's first event (the last one: to `end`). */
  phases(end) {
    const seen = PHASES.filter((p) => this.starts.has(p));
    const out = {};
    seen.forEach((p, i) => {
      const next = i + 1 < seen.length ? this.starts.get(seen[i + 1]) : end;
      out[p] = Math.round((next - this.starts.get(p)) * 100) / 100;
    });
    return out;
  }
}

/**
 * `engineOptions`: the engine's options (EngineOptions), e.g. a stable `shareKey` under which the one-time
 * capability probe is recorded when the same share is reached through several URLs (proxies).
 */
export async function openInstance({ dataDir, name, server, root, settings = {}, timeoutMs = 120_000, engineOptions = {} }) {
  const library = await openLibrary(dataDir, { instanceName: name });
  const webdav = createWebdavRemote({
    url: server.url,
    root,
    username: server.username,
    password: server.password,
    timeoutMs,
  });
  // As the CLI and the daemon build it (remote/open.ts): with the retries of transient failures, counted.
  const retries = [];
  const lockTtlSeconds = { ...DEFAULT_SETTINGS, ...settings }.lockTtlSeconds;
  const remote =
    typeof open.retrying === "function"
      ? open.retrying(webdav, { sync: { lockTtlSeconds } }, { onRetry: (r) => retries.push(`${r.op} ${r.error.message}`) })
      : webdav;
  const clock = new PhaseClock();
  const engine = new SyncEngine(library, remote, { ...DEFAULT_SETTINGS, ...settings }, clock.listener, engineOptions);
  return {
    library,
    remote,
    retries,
    engine,
    clock,
    /** One sync, timed: {ms, summary, phases}. */
    async sync(options = {}) {
      clock.reset();
      const t0 = performance.now();
      const summary = await engine.sync(options);
      const t1 = performance.now();
      return { ms: t1 - t0, summary, phases: clock.phases(t1) };
    },
    async close() {
      await remote.close();
      library.close();
    },
  };
}

/**
 * A copy of a closed data directory: library.db copied, blobs hard-linked (immutable files, only read by an
 * upload), so that each repetition of a scenario starts from the same state in a second, not a minute.
 */
export function cloneDataDir(from, to) {
  mkdirSync(to, { recursive: true });
  for (const f of ["library.db", "library.db-wal", "library.db-shm"]) {
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  }
  execFileSync("cp", ["-al", join(from, "blobs"), join(to, "blobs")]);
}
