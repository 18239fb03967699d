/**
 * The shape of an open conflict, apart from the store that keeps it: the TS API's declarations (`Conflict`)
 * name it, and they must not pull in the store's database types (an application's compiler would then need
 * better-sqlite3's typings, which are not a dependency of the package).
 */
import type { EntryState } from "./entry.js";

/** An open conflict as `syncd conflicts --json` prints it (SPEC §5); the TS API's `Conflict`. */
export interface OpenConflict {
  id: string;
  entryId: string;
  kind: string;
  /** The fields that differ: "name", "content", "deleted", "meta.<key>". */
  fields: string[];
  local: EntryState;
  remote: EntryState;
  createdAt: string;
}
