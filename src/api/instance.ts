/**
 * The one way syncd is opened, by applications (api/open.ts openSyncd), the CLI (cli/context.ts) and the
 * daemon (server/daemon.ts): the library, the share it syncs with, opened when first needed, and one sync
 * engine. The public methods are the Syncd interface (api/syncd.ts); the accessors marked "internal" serve
 * the CLI and the daemon and are not in the package's exports.
 *
 * The share and the engine modules are loaded on demand: the WebDAV client and server cost ~0.4 s of
 * start-up that the commands working on the local library alone (ls, add, get…) do not need.
 */
import type { Readable } from "node:stream";
import type { Config } from "../config/schema.js";
import { SyncdError, UsageError } from "../errors.js";
import type { Entry, Meta } from "../model/entry.js";
import type { Remote } from "../remote/remote.js";
import { listOpenConflicts } from "../store/conflicts.js";
import { openLibrary, type ContentSource as LibrarySource, type Library } from "../store/library.js";
import type { SyncEngine } from "../sync/engine.js";
import type { SyncEvent, SyncEventListener, SyncSummary } from "../sync/events.js";
import type { ClockWarning } from "../sync/hlc.js";
import type { Conflict, ContentSource, EntryUpdate, ResolveResult, ResolveStrategy, Syncd, SyncRunOptions, SyncStatusReport } from "./syncd.js";

export interface InstanceOptions {
  /** Every event of every run (the daemon's event hub and log; the CLI's progress display). */
  onEvent?: SyncEventListener;
  /** A received clock stamp was far ahead (default: one line on stderr). */
  onClockWarning?: (warning: ClockWarning) => void;
  /**
   * The share, when the caller builds it: a promise the caller settles (the daemon syncs through its own /dav
   * URL, which exists only once it listens; a run or a request waits for it meanwhile). Default: remote/open.ts
   * openRemote on the configuration, when first needed. Either way close() closes it.
   */
  share?: Promise<Remote>;
  /** The share's name in the capability probe's record (default: remote/probe.ts probeLocation). */
  shareKey?: (remote: Remote) => string;
}

export async function openInstance(config: Config, opts: InstanceOptions = {}): Promise<SyncdInstance> {
  const library = await openLibrary(config.dataDir, {
    instanceName: config.instanceName,
    ...(opts.onClockWarning ? { onClockWarning: opts.onClockWarning } : {}),
  });
  return new SyncdInstance(config, library, opts);
}

export class SyncdInstance implements Syncd {
  private remote: Promise<Remote> | null = null;
  private engineP: Promise<SyncEngine> | null = null;
  private readonly listeners = new Set<SyncEventListener>();
  /** The run in progress (runs of one instance take turns; the local lock would refuse a second anyway). */
  private running: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(
    readonly config: Config,
    /** internal: the CLI's commands and the daemon's routes work on it directly. */
    readonly library: Library,
    private readonly opts: InstanceOptions,
  ) {
    if (opts.onEvent) this.listeners.add(opts.onEvent);
    if (opts.share) this.remote = opts.share;
  }

  get instanceId(): string {
    return this.library.instanceId;
  }

  get instanceName(): string {
    return this.library.instanceName;
  }

  async add(content: ContentSource, options: { name: string; meta?: Meta }): Promise<Entry> {
    return this.library.add({ source: toSource(content), name: options.name, ...(options.meta ? { meta: options.meta } : {}) });
  }

  async update(id: string, change: EntryUpdate): Promise<Entry> {
    this.library.require(id);
    return this.library.update(id, { source: change.content === undefined ? undefined : toSource(change.content), name: change.name, meta: change.meta });
  }

  remove(id: string): Entry {
    return this.library.remove(id);
  }

  async restore(ids: string | string[]): Promise<Entry[]> {
    const { shareContent } = await import("../sync/share-content.js");
    return this.library.restore(typeof ids === "string" ? [ids] : ids, { fetch: shareContent(() => this.share()) });
  }

  get(id: string): Entry | null {
    return this.library.get(id);
  }

  list(options: { includeDeleted?: boolean } = {}): Entry[] {
    return this.library.list(options);
  }

  content(id: string): Readable {
    const entry = this.library.require(id);
    if (entry.deleted) throw new UsageError(`Entry ${id} is deleted; it has no content.`);
    return this.library.blobs.openRead(entry.hash);
  }

  sync(options: SyncRunOptions = {}): Promise<SyncSummary> {
    if (this.closing) return Promise.reject(new SyncdError("closed", "This syncd instance was closed; open it again to sync."));
    const run = this.running.catch(() => {}).then(() => this.runSync(options));
    this.running = run;
    return run;
  }

  async status(): Promise<SyncStatusReport> {
    return (await this.engine()).status();
  }

  conflicts(): Conflict[] {
    return listOpenConflicts(this.library.db);
  }

  async resolve(conflictId: string, strategy: ResolveStrategy): Promise<ResolveResult> {
    const { resolveConflict } = await import("../store/resolve.js");
    return resolveConflict(this.library, conflictId, strategy);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.running.catch(() => {});
      this.listeners.clear();
      const remote = await this.remote?.catch(() => null);
      await remote?.close();
      this.library.close();
    })();
    return this.closing;
  }

  /** internal: the share, opened once (the promise is kept: two callers at once must not open it twice). */
  share(): Promise<Remote> {
    this.remote ??= import("../remote/open.js").then(({ openRemote }) => openRemote(this.config));
    return this.remote;
  }

  /** internal: the share's name in the capability probe's record. */
  async shareKey(): Promise<string> {
    const remote = await this.share();
    if (this.opts.shareKey) return this.opts.shareKey(remote);
    const { probeLocation } = await import("../remote/probe.js");
    return probeLocation(this.config, remote);
  }

  /** internal: the engine (one per instance); `listener` receives every event from now on. */
  async engine(listener?: SyncEventListener): Promise<SyncEngine> {
    if (listener) this.listeners.add(listener);
    this.engineP ??= (async () => {
      const [remote, { SyncEngine }, shareKey] = await Promise.all([this.share(), import("../sync/engine.js"), this.shareKey()]);
      return new SyncEngine(this.library, remote, this.config.sync, (event) => this.dispatch(event), { shareKey });
    })();
    return this.engineP;
  }

  private async runSync(options: SyncRunOptions): Promise<SyncSummary> {
    const own: SyncEventListener = (event) => {
      options.onEvent?.(event);
      if (event.type === "sync.progress") options.onProgress?.(event);
    };
    this.listeners.add(own);
    try {
      const engine = await this.engine();
      // The engine stops at its next safe point on the signal, and its requests in flight at once (remote/stop.ts).
      return await engine.sync({
        force: options.force ?? false,
        allowDeletes: options.allowDeletes ?? false,
        dryRun: options.dryRun ?? false,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      this.listeners.delete(own);
    }
  }

  private dispatch(event: SyncEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** Bytes of any kind become a Buffer without a copy; paths and streams go as they are. */
function toSource(content: ContentSource): LibrarySource {
  if (typeof content === "string" || Buffer.isBuffer(content)) return content;
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  return content;
}
