/**
 * What a command needs, opened on demand from the configuration: the library always, the share and the
 * engine only for commands that talk to it. Everything opened is closed when the command ends.
 *
 * A command that talks to the share stops cleanly on SIGINT or SIGTERM: its requests are stopped at once
 * (remote/stop.ts; a publish in progress finishes first), the lock claim is released, and the command
 * fails with a sentence saying it was stopped. A second signal exits at once. Commands that only work on
 * the local library keep Node's default: the signal ends the process (SQLite's journal keeps it whole).
 */
import { loadConfig, resolveConfigPath } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Remote } from "../remote/remote.js";
import { stopRequestsOn } from "../remote/stop.js";
import { localDiskError } from "../store/disk-errors.js";
import { openLibrary, type Library } from "../store/library.js";
import type { SyncEngine } from "../sync/engine.js";
import type { SyncEventListener } from "../sync/events.js";

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

export class CommandContext {
  private library: Library | null = null;
  private remote: Promise<Remote> | null = null;
  private readonly interrupt = new AbortController();
  private removeSignalHandlers: (() => void) | null = null;

  private constructor(readonly config: Config) {}

  /** Aborted by the first SIGINT or SIGTERM, once stopOnSignals() was called. */
  get signal(): AbortSignal {
    return this.interrupt.signal;
  }

  /** From now on SIGINT and SIGTERM stop the command cleanly (see the header) instead of killing it. */
  stopOnSignals(): void {
    if (this.removeSignalHandlers) return;
    const onSignal = () => {
      if (this.interrupt.signal.aborted) process.exit(1); // the second one: now
      this.interrupt.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    this.removeSignalHandlers = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
  }

  static load(opts: GlobalOptions): CommandContext {
    return new CommandContext(loadConfig(resolveConfigPath(opts.config)));
  }

  async openLibrary(): Promise<Library> {
    this.library ??= await openLibrary(this.config.dataDir, { instanceName: this.config.instanceName });
    return this.library;
  }

  async engine(onEvent?: SyncEventListener): Promise<SyncEngine> {
    const library = await this.openLibrary();
    const [remote, { SyncEngine }, shareKey] = await Promise.all([this.share(), import("../sync/engine.js"), this.shareKey()]);
    return new SyncEngine(library, remote, this.config.sync, onEvent, { shareKey });
  }

  /**
   * The configured share (opened once per command). Loaded on demand: the WebDAV client and server modules
   * cost ~0.4 s of start-up that the commands working on the local library alone (ls, add, get…) do not need.
   */
  share(): Promise<Remote> {
    this.stopOnSignals();
    // The promise, not the Remote, is kept: two callers at once must not open (or serve) the share twice.
    this.remote ??= import("../remote/open.js").then(({ openRemote }) => openRemote(this.config));
    return this.remote;
  }

  /** The share's name in the capability probe's record (remote/probe.ts probeLocation). */
  async shareKey(): Promise<string> {
    const [{ probeLocation }, remote] = await Promise.all([import("../remote/probe.js"), this.share()]);
    return probeLocation(this.config, remote);
  }

  async close(): Promise<void> {
    this.removeSignalHandlers?.();
    const remote = await this.remote?.catch(() => null);
    await remote?.close();
    this.library?.close();
  }
}

export async function withContext<T>(opts: GlobalOptions, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = CommandContext.load(opts);
  try {
    // Every request the command makes to the share, whoever makes it, is stopped by the first signal.
    return await stopRequestsOn(ctx.signal, () => fn(ctx));
  } catch (err) {
    // A read-only data directory or a full disk, met by whatever wrote: one sentence that says which.
    throw localDiskError(err, ctx.config.dataDir) ?? err;
  } finally {
    await ctx.close();
  }
}
