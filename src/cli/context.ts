/**
 * What a command needs, opened on demand from the configuration through the same API applications use
 * (api/instance.ts): the library always, the share and the engine only for commands that talk to it.
 * Everything opened is closed when the command ends.
 *
 * A command that talks to the share stops cleanly on SIGINT or SIGTERM: its requests are stopped at once
 * (remote/stop.ts; a publish in progress finishes first), the lock claim is released, and the command
 * fails with a sentence saying it was stopped. A second signal exits at once. Commands that only work on
 * the local library keep Node's default: the signal ends the process (SQLite's journal keeps it whole).
 */
import { openInstance, type SyncdInstance } from "../api/instance.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Remote } from "../remote/remote.js";
import { stopRequestsOn } from "../remote/stop.js";
import { localDiskError } from "../store/disk-errors.js";
import type { Library } from "../store/library.js";
import type { SyncEngine } from "../sync/engine.js";
import type { SyncEventListener } from "../sync/events.js";

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

export class CommandContext {
  private opened: Promise<SyncdInstance> | null = null;
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

  /** The instance (library opened, share not yet): the API's object, with the CLI's internal accessors. */
  instance(): Promise<SyncdInstance> {
    this.opened ??= openInstance(this.config);
    return this.opened;
  }

  async openLibrary(): Promise<Library> {
    return (await this.instance()).library;
  }

  /** The instance's engine; `onEvent` receives its events (the progress display). */
  async engine(onEvent?: SyncEventListener): Promise<SyncEngine> {
    this.stopOnSignals(); // the engine talks to the share
    return (await this.instance()).engine(onEvent);
  }

  /** The configured share, opened once per command; SIGINT and SIGTERM now stop the command cleanly. */
  async share(): Promise<Remote> {
    this.stopOnSignals();
    return (await this.instance()).share();
  }

  /** The share's name in the capability probe's record (remote/probe.ts probeLocation). */
  async shareKey(): Promise<string> {
    this.stopOnSignals();
    return (await this.instance()).shareKey();
  }

  async close(): Promise<void> {
    this.removeSignalHandlers?.();
    const instance = await this.opened?.catch(() => null);
    await instance?.close();
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
