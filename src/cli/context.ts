/**
 * What a command needs, opened on demand from the configuration: the library always, the share and the
 * engine only for commands that talk to it. Everything opened is closed when the command ends.
 */
import { loadConfig, resolveConfigPath } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Remote } from "../remote/remote.js";
import { openLibrary, type Library } from "../store/library.js";
import type { SyncEngine } from "../sync/engine.js";
import type { SyncEventListener } from "../sync/events.js";

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

export class CommandContext {
  private library: Library | null = null;
  private remote: Remote | null = null;

  private constructor(readonly config: Config) {}

  static load(opts: GlobalOptions): CommandContext {
    return new CommandContext(loadConfig(resolveConfigPath(opts.config)));
  }

  async openLibrary(): Promise<Library> {
    this.library ??= await openLibrary(this.config.dataDir, { instanceName: this.config.instanceName });
    return this.library;
  }

  async engine(onEvent?: SyncEventListener): Promise<SyncEngine> {
    const library = await this.openLibrary();
    // Loaded on demand: the WebDAV client and server modules cost ~0.4 s of start-up that the commands
    // working on the local library alone (ls, add, get…) do not need.
    const [{ openRemote }, { SyncEngine }, { probeLocation }] = await Promise.all([
      import("../remote/open.js"),
      import("../sync/engine.js"),
      import("../remote/probe.js"),
    ]);
    this.remote ??= await openRemote(this.config);
    return new SyncEngine(library, this.remote, this.config.sync, onEvent, { shareKey: probeLocation(this.config, this.remote) });
  }

  async close(): Promise<void> {
    await this.remote?.close();
    this.library?.close();
  }
}

export async function withContext<T>(opts: GlobalOptions, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = CommandContext.load(opts);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
