/**
 * How an application opens syncd (SPEC §7): from a configuration object, checked by the same schema and
 * with the same one-sentence errors as a configuration file, or from a file (`loadConfigFile`).
 */
import { loadConfig, parseConfig } from "../config/load.js";
import type { Config, ConfigFileInput } from "../config/schema.js";
import type { SyncEvent } from "../sync/events.js";
import { openInstance } from "./instance.js";
import type { Syncd } from "./syncd.js";

/** A configuration as an object: the keys of the configuration file (SPEC §4), every one optional. */
export type ConfigInput = ConfigFileInput;

export interface OpenOptions {
  /** Relative paths of a ConfigInput (dataDir, passwordFile, caFile) are resolved against it; default: the current directory. */
  baseDir?: string;
  /** Where SYNCD_WEBDAV_PASSWORD is read from; default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Every event of every run of this instance (each sync() also takes its own listeners). */
  onEvent?: (event: SyncEvent) => void;
}

/**
 * Opens an instance: its library in `dataDir` (created if needed) and, when first needed, the share
 * (`webdav.url`, or the embedded share in `<dataDir>/share` when there is none). Takes a ConfigInput, or a
 * Config that loadConfigFile() or parseConfig() returned. Invalid configuration: ConfigError (exitCode 2).
 */
export async function openSyncd(config: ConfigInput | Config, options: OpenOptions = {}): Promise<Syncd> {
  const resolved = isResolved(config) ? config : parseConfig(config, options);
  return openInstance(resolved, options.onEvent ? { onEvent: options.onEvent } : {});
}

/** Reads and checks a configuration file; relative paths in it are relative to its folder. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(path, env);
}

export { parseConfig };

function isResolved(config: ConfigInput | Config): config is Config {
  // The file's schema is strict: no ConfigInput has this key, every resolved Config does.
  return typeof (config as Partial<Config>).configPath === "string";
}
