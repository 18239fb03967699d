/**
 * The package's entry point (`import { openSyncd } from "syncd"`, SPEC §7): open an instance, write to its
 * library, sync, and read status and conflicts. Only what is exported here is public; the rest of dist/ is
 * internal and may change in any release.
 */
export { openSyncd, loadConfigFile, parseConfig, type ConfigInput, type OpenOptions } from "./api/open.js";
export {
  RESOLVE_STRATEGIES,
  type Conflict,
  type ContentSource,
  type EntryUpdate,
  type ResolveResult,
  type ResolveStrategy,
  type Syncd,
  type SyncRunOptions,
  type SyncStatusReport,
} from "./api/syncd.js";
export type { Config, ConflictPolicy } from "./config/schema.js";
export type { Entry, EntryState, JsonValue, Meta, SyncStatus as EntrySyncStatus } from "./model/entry.js";
export type { DryRunReport, ProgressEvent, SyncEvent, SyncPhase, SyncSummary } from "./sync/events.js";
export type { ConflictKind } from "./sync/plan.js";
export {
  SyncdError,
  ConfigError,
  UsageError,
  LockBusyError,
  LocalLockBusyError,
  LeaseLostError,
  EntryNotFoundError,
  InvalidNameError,
  ShareError,
  IntegrityError,
} from "./errors.js";
