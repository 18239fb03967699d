/**
 * The publish journal: what a run is about to publish, written to the local library before it publishes
 * and removed by its local commit.
 *
 * Why: a run that dies after version.txt is written but before the local commit (a kill, a power cut, a
 * failure of the last request's answer) leaves the share holding its change while the local rows still
 * carry the old base. The next edit of the same field would then look like a conflict with the share,
 * although the share only holds this instance's own earlier state. The journal tells the next run which
 * rows it published and what their local state was when it planned them; if that commit is in the share's
 * commit log, the state the run planned from becomes the rows' base: the share's state descends from it,
 * and any later local edit descends from it too, so the three-way diff sees exactly the changes made
 * since, on each side.
 */
import type { EntryState } from "../model/entry.js";
import type { Db } from "../store/db.js";
import type { LocalSyncView } from "./local-sync.js";

export interface JournalEntry {
  id: string;
  /** The local state the run planned this row from. */
  seen: EntryState;
  /** The state the run publishes for it. */
  published: EntryState;
}

export interface JournalOutcome {
  /** Rows whose publish had landed: their base is now the state the run planned from. */
  healed: number;
  /** Rows of a publish that never landed (or of another share): dropped, their base unchanged. */
  dropped: number;
}

interface JournalRow {
  entry_id: string;
  share_id: string;
  commit_id: string;
  seen: string;
  published: string;
}

export class PublishJournal {
  constructor(
    private readonly db: Db,
    private readonly view: LocalSyncView,
  ) {}

  /** Records a publish about to happen (replacing any older record), in one transaction. */
  record(shareId: string, commitId: string, entries: JournalEntry[]): void {
    const insert = this.db.prepare(
      "INSERT OR REPLACE INTO publish_journal (entry_id, share_id, commit_id, seen, published) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      this.clear();
      for (const e of entries) insert.run(e.id, shareId, commitId, JSON.stringify(e.seen), JSON.stringify(e.published));
    })();
  }

  /**
   * Settles the record of an earlier run that did not reach its local commit. `landed` says whether that
   * run's publish of a row is part of the share (its commit id is in the commit log, or the row still
   * carries the published stamp). Healing only moves the base: the row stays pending, so the run that
   * called this plans it, and the share's newer state reaches it through the three-way diff.
   */
  settle(shareId: string, landed: (commitId: string, id: string, published: EntryState) => boolean): JournalOutcome {
    const rows = this.db.prepare("SELECT entry_id, share_id, commit_id, seen, published FROM publish_journal").all() as JournalRow[];
    if (rows.length === 0) return { healed: 0, dropped: 0 };
    let healed = 0;
    this.db.transaction(() => {
      for (const row of rows) {
        if (row.share_id === shareId && landed(row.commit_id, row.entry_id, JSON.parse(row.published) as EntryState)) {
          if (this.view.keepPending(row.entry_id, JSON.parse(row.seen) as EntryState)) healed++;
        }
      }
      this.clear();
    })();
    return { healed, dropped: rows.length - healed };
  }

  /** The run's local commit happened: nothing is left to settle. Call inside that commit's transaction. */
  clear(): void {
    this.db.prepare("DELETE FROM publish_journal").run();
  }
}
