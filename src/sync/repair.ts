/**
 * Repair instead of failing for good (SPEC §3, last bullet), inside a sync run:
 * - A data file that cannot be downloaded because it is missing or damaged on the share no longer fails the
 *   run: its entries stay as they were here (the engine never commits a row without its bytes, so they are
 *   retried next run), everything else syncs, and the hash is recorded in the share's `wanted_data` list.
 *   The run then ends with an error that names those entries.
 * - Every run that loads the share looks at that list: the bytes this instance holds (re-hashed first) are
 *   uploaded again, verified like any upload, and taken off the list in the same publish.
 * - A state the run is about to write locally whose `size` is not the size of the bytes held for its hash is
 *   never accepted: the bytes decide (a hash names exactly one content, so one size), and the run publishes
 *   the state with the true size as its own change, so that every instance converges on it.
 * The engine holds one DataRepair per run and calls it at the few points below; nothing here decides what
 * syncs where.
 */
import { IntegrityError, ShareError } from "../errors.js";
import type { EntryState } from "../model/entry.js";
import type { Library } from "../store/library.js";
import type { SyncEventListener } from "./events.js";
import { dataPath } from "../share/layout.js";
import type { EntryAction } from "./plan.js";
import type { SharedDb, SharedRow } from "../share/shared-db.js";
import type { DataFile, DataProblem } from "./transfer.js";

/** Entries named in the end-of-run error; the rest are counted. */
const NAMED_IN_ERROR = 5;

interface Unavailable {
  file: DataFile;
  problem: DataProblem;
  entries: Array<{ id: string; name: string }>;
}

export class DataRepair {
  /** The share's metadata changed here (a report recorded or settled): the run must publish a new version. */
  changed = false;
  private readonly unavailable = new Map<string, Unavailable>();

  constructor(
    private readonly library: Library,
    private readonly db: SharedDb,
    private readonly emit: SyncEventListener,
  ) {}

  /**
   * The reported data files that this instance holds with the right bytes: the engine uploads them with the
   * run's other uploads (before anything is published). Each is taken off the list in the working copy, so
   * the report is settled by the same publish; if an upload fails, the run fails and nothing is published.
   * Reports no live entry needs any more are dropped too.
   */
  async heldWanted(): Promise<DataFile[]> {
    const out: DataFile[] = [];
    for (const { hash } of this.db.wantedData()) {
      if (this.db.liveEntriesWithHash(hash).length === 0) {
        this.changed = this.db.settleWanted(hash) || this.changed;
        continue;
      }
      const size = this.library.blobs.sizeOf(hash);
      // Only bytes that still hash to their name go up: a damaged local copy is no repair.
      if (size === null || !(await this.library.blobs.verify(hash))) continue;
      out.push({ hash, size });
      this.changed = this.db.settleWanted(hash) || this.changed;
    }
    if (out.length > 0) {
      this.emit({
        type: "log",
        level: "warn",
        message: `uploading again ${out.length} data file${out.length === 1 ? "" : "s"} that another instance found missing or damaged on the share: ${out.map((f) => dataPath(f.hash)).join(", ")}`,
      });
    }
    return out;
  }

  /** For downloadFiles' onUnavailable: remembers the file for the end-of-run error and reports it in the share. */
  reportUnavailable(file: DataFile, problem: DataProblem): void {
    const entries = this.db.liveEntriesWithHash(file.hash).map(({ id, name }) => ({ id, name }));
    this.unavailable.set(file.hash, { file, problem, entries });
    if (this.db.addWanted(file.hash, this.library.instanceId, problem.kind)) this.changed = true;
    this.emit({
      type: "log",
      level: "warn",
      message: `the data file ${dataPath(file.hash)} ${problem.detail}; ${describeEntries(entries)} stay${entries.length === 1 ? "s" : ""} as before here until an instance that holds it uploads it again`,
    });
  }

  /**
   * After the downloads, before publishing: every state the run will write locally is checked against the
   * bytes held for its hash. One whose size differs is replaced, in the action and in the rows to publish, by
   * the same state with the true size, stamped as this instance's change.
   */
  async correctSizes(actions: EntryAction[], toRemote: SharedRow[]): Promise<void> {
    for (const action of actions) {
      const state = action.local;
      if (!state || state.deleted || action.base === null) continue;
      const held = this.library.blobs.sizeOf(state.hash);
      if (held === null || held === state.size) continue;
      // Our bytes decide only if they are sound.
      if (!(await this.library.blobs.verify(state.hash))) {
        throw new IntegrityError(
          `The local copy of the content of entry ${action.id} (${JSON.stringify(state.name)}) is damaged (its bytes no longer hash to ${state.hash}); remove ${this.library.blobs.path(state.hash)} so that the next sync downloads it again.`,
        );
      }
      const fixed: EntryState = { ...state, size: held, version: state.version + 1, hlc: this.library.clock.tick(), origin: this.library.instanceId };
      action.local = fixed;
      action.base = fixed;
      action.remote = fixed;
      const at = toRemote.findIndex((row) => row.id === action.id);
      if (at >= 0) toRemote[at] = { id: action.id, state: fixed };
      else toRemote.push({ id: action.id, state: fixed });
      this.emit({
        type: "log",
        level: "warn",
        message: `entry ${action.id} (${JSON.stringify(state.name)}) came with size ${state.size}, but its content is ${held} bytes; publishing the true size`,
        data: { id: action.id, claimed: state.size, actual: held },
      });
    }
  }

  /**
   * The last step of a run that committed everything else: if some entries could not be downloaded, the run
   * fails with one sentence naming them (and the next run retries them).
   */
  throwIfIncomplete(version: number): void {
    if (this.unavailable.size === 0) return;
    const all = [...this.unavailable.values()];
    const named: string[] = [];
    let count = 0;
    for (const { file, problem, entries } of all) {
      const why = `whose data file ${dataPath(file.hash)} ${problem.detail}`;
      if (entries.length === 0) {
        count++;
        if (named.length < NAMED_IN_ERROR) named.push(`the data file ${dataPath(file.hash)}, which ${problem.detail}`);
      }
      for (const e of entries) {
        count++;
        if (named.length < NAMED_IN_ERROR) named.push(`${JSON.stringify(e.name)} (id ${e.id}), ${why}`);
      }
    }
    const more = count > named.length ? `, and ${count - named.length} more` : "";
    throw new ShareError(
      "data-unavailable",
      `Synced everything else (share version ${version}), but ${count === 1 ? "1 entry" : `${count} entries`} could not be downloaded and stay${count === 1 ? "s" : ""} as before here: ${named.join("; ")}${more}; this was reported in the share so that an instance holding the content uploads it again, and the next sync retries.`,
    );
  }
}

function describeEntries(entries: Array<{ id: string; name: string }>): string {
  if (entries.length === 0) return "its entries";
  const shown = entries.slice(0, NAMED_IN_ERROR).map((e) => `${JSON.stringify(e.name)} (id ${e.id})`);
  return entries.length > shown.length ? `${shown.join(", ")} and ${entries.length - shown.length} more` : shown.join(", ");
}
