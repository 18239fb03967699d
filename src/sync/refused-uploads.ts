/**
 * Content the server refuses as too large (413: nginx's client_max_body_size, a proxy's limit…) must not
 * fail the whole run over and over, nor be retried: the other entries still sync, and the ones whose content
 * could not go up stay as they are here (pending), named in one sentence that says what limit to raise.
 * The engine holds one RefusedUploads per run: transfer.ts reports each refusal, the plan is then trimmed of
 * every action that would publish refused content, and the run ends with the error once all else is done.
 */
import { formatBytes } from "../bytes.js";
import { ShareError } from "../errors.js";
import type { RemoteError } from "../remote/errors.js";
import type { EntryAction } from "./plan.js";
import type { SyncEventListener } from "./events.js";
import type { SharedRow } from "../share/shared-db.js";
import type { DataFile } from "./transfer.js";

const NAMED_IN_ERROR = 5;

export class RefusedUploads {
  private readonly refused = new Map<string, DataFile>();
  private readonly names = new Map<string, string[]>();

  constructor(private readonly emit: SyncEventListener) {}

  get any(): boolean {
    return this.refused.size > 0;
  }

  /** For uploadFiles' onTooLarge. */
  report(file: DataFile, err: RemoteError): void {
    this.refused.set(file.hash, file);
    this.emit({
      type: "log",
      level: "warn",
      message: `the server refused to store a file of ${formatBytes(file.size)} (${err.status ?? 413}: too large); the entries with this content stay unsynced until its upload limit is raised`,
      data: { hash: file.hash, size: file.size },
    });
  }

  /**
   * The plan without the actions that would publish refused content (their entries stay as they are on
   * both sides, and pending here), and `toRemote` trimmed to match. The names are kept for the error.
   */
  leaveOut(actions: EntryAction[], toRemote: SharedRow[]): EntryAction[] {
    if (!this.any) return actions;
    const needsRefused = (a: EntryAction) =>
      [a.remote, ...(a.copies ?? []).map((c) => c.state)].some((s) => s && !s.deleted && this.refused.has(s.hash));
    const left = new Set<string>();
    const kept: EntryAction[] = [];
    for (const action of actions) {
      if (!needsRefused(action)) {
        kept.push(action);
        continue;
      }
      left.add(action.id);
      for (const copy of action.copies ?? []) left.add(copy.id);
      for (const state of [action.remote, ...(action.copies ?? []).map((c) => c.state)]) {
        if (state && this.refused.has(state.hash)) this.names.set(state.hash, [...(this.names.get(state.hash) ?? []), state.name]);
      }
    }
    for (let i = toRemote.length - 1; i >= 0; i--) if (left.has((toRemote[i] as SharedRow).id)) toRemote.splice(i, 1);
    return kept;
  }

  /**
   * Ends a run that committed everything else: one sentence naming the entries, their sizes and the limit,
   * which lies between the largest of the run's `uploads` the server stored and the smallest it refused.
   */
  throwIfAny(version: number, uploads: DataFile[]): void {
    if (!this.any) return;
    // A loop, not Math.max(...sizes): a first sync's uploads can be more arguments than a call takes.
    let largestStored = 0;
    let smallest = Infinity;
    for (const f of uploads) {
      if (this.refused.has(f.hash)) smallest = Math.min(smallest, f.size);
      else largestStored = Math.max(largestStored, f.size);
    }
    const entries: string[] = [];
    let count = 0;
    for (const [hash, file] of [...this.refused].sort((x, y) => x[1].size - y[1].size)) {
      for (const name of this.names.get(hash) ?? []) {
        count++;
        if (entries.length < NAMED_IN_ERROR) entries.push(`${JSON.stringify(name)} (${formatBytes(file.size)})`);
      }
    }
    const limit =
      largestStored > 0
        ? `its limit lies between ${formatBytes(largestStored)} (the largest file it stored) and ${formatBytes(smallest)}`
        : `its limit is below ${formatBytes(smallest)}`;
    const more = count > entries.length ? `, and ${count - entries.length} more` : "";
    throw new ShareError(
      "upload-too-large",
      `Synced everything else (share version ${version}), but the server refused ${count === 1 ? "the content of 1 entry" : `the content of ${count} entries`} as too large (413): ${entries.join(", ")}${more}; ${limit}. ` +
        "Raise the server's upload limit (nginx client_max_body_size, Apache LimitRequestBody, PHP upload_max_filesize and post_max_size, or a proxy's body limit); the entries stay unsynced here and the next sync tries again.",
    );
  }
}
