import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { resolveConfigPath, writeInitialConfig } from "../../config/load.js";
import { openLibrary } from "../../store/library.js";
import type { GlobalOptions } from "../context.js";

interface InitFlags {
  dataDir?: string;
  url?: string;
  root?: string;
  user?: string;
  passwordFile?: string;
  name?: string;
}

export function registerInitCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("init")
    .description("write a config file (with a random server.token) and create the data directory")
    .option("--data-dir <dir>", "data directory (default ./data, relative to the config file)")
    .option("--url <url>", "WebDAV URL (default: the embedded share)")
    .option("--root <path>", "folder on the share (default /syncd)")
    .option("--user <name>", "WebDAV user name")
    .option("--password-file <file>", "file holding the WebDAV password (first line; keep it readable by you only)")
    .option("--name <instance>", "this instance's name (default: the host name)")
    .action(async (opts: InitFlags) => {
      const path = resolveConfigPath(globals().config);
      const config = writeInitialConfig(path, {
        // On the command line a relative path means relative to where the user is, as with every tool.
        dataDir: opts.dataDir === undefined ? undefined : resolve(opts.dataDir),
        url: opts.url,
        root: opts.root,
        username: opts.user,
        passwordFile: opts.passwordFile === undefined ? undefined : resolve(opts.passwordFile),
        instanceName: opts.name,
      });
      await mkdir(config.dataDir, { recursive: true });
      const library = await openLibrary(config.dataDir, { instanceName: config.instanceName });
      const id = library.instanceId;
      library.close();
      process.stdout.write(
        `wrote ${path} (readable by you only: its server.token opens the API, the dashboard and the embedded share)\n` +
          `data directory ${config.dataDir} (instance ${config.instanceName}, id ${id})\n`,
      );
    });
}
