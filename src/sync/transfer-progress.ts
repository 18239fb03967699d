/**
 * Progress of the upload and download phases by bytes as they stream (SPEC §6): a 1 GB file advances the
 * bar while it is in flight, not only once it is done. Events go out about four times a second while bytes
 * move (PROGRESS_INTERVAL_MS), never per chunk, and always when the phase's last file is done.
 */
import { itemProgress, PROGRESS_INTERVAL_MS, type SyncEventListener } from "./events.js";
import { etaSeconds, TransferRate } from "./rate.js";

interface TransferFile {
  hash: string;
  size: number;
}

/**
 * A run's running totals of one direction, carried from batch to batch. A large first sync goes in batches
 * (engine.ts RUN_BATCH), and each batch has its own upload and download phase: counted per batch, the bar
 * fell back to 0 at every batch. Counted per run, files and bytes done never go back within a run; the
 * totals grow when a later batch is planned (they cannot be known before: planning all batches up front
 * would hold them all in memory, which is what batches avoid).
 */
export class TransferTally {
  done = 0;
  total = 0;
  bytesDone = 0;
  bytesTotal = 0;
}

/** One file's part in a phase's progress; transfer.ts calls it as the file's bytes stream. */
export interface FileProgress {
  /** A new attempt at the file begins (a PUT sent again, a body fetched again): its bytes count afresh. */
  restart(): void;
  /** `bytes` more of the file crossed the wire. */
  moved(bytes: number): void;
  /** The file is dealt with (moved, already there, or given up on): it counts as done, at its full size. */
  end(): void;
}

interface InFlight {
  size: number;
  name: string | null;
  /** Bytes of the current attempt. */
  attempt: number;
  /** The most any attempt got to: what progress shows, so that a retry never moves the bar backwards. */
  shown: number;
}

export interface TransferProgressOptions {
  /** The run's totals for this direction (several batches); a fresh one by default. */
  tally?: TransferTally;
  /** The name of an entry with this content, for `current`. */
  nameOf?: (hash: string) => string | null;
  /** Milliseconds, monotonic enough for intervals. */
  now?: () => number;
}

export class TransferProgress {
  private readonly tally: TransferTally;
  private readonly rate: TransferRate;
  private readonly now: () => number;
  private readonly nameOf: (hash: string) => string | null;
  /** In the order the files began: the first is the one shown as `current`. */
  private readonly inFlight = new Set<InFlight>();
  private lastEmit = -Infinity;

  constructor(
    private readonly emit: SyncEventListener,
    readonly phase: "upload" | "download",
    files: readonly TransferFile[],
    opts: TransferProgressOptions = {},
  ) {
    this.tally = opts.tally ?? new TransferTally();
    this.now = opts.now ?? (() => performance.now());
    this.nameOf = opts.nameOf ?? (() => null);
    this.rate = new TransferRate(this.now);
    this.tally.total += files.length;
    for (const f of files) this.tally.bytesTotal += f.size;
    this.send();
  }

  /** A file's transfer begins. */
  begin(file: TransferFile): FileProgress {
    const entry: InFlight = { size: file.size, name: this.nameOf(file.hash), attempt: 0, shown: 0 };
    this.inFlight.add(entry);
    let ended = false;
    return {
      restart: () => {
        entry.attempt = 0;
      },
      moved: (bytes) => {
        if (ended || bytes <= 0) return;
        this.rate.add(bytes);
        entry.attempt += bytes;
        entry.shown = Math.min(entry.size, Math.max(entry.shown, entry.attempt));
        this.sendSoon();
      },
      end: () => {
        if (ended) return;
        ended = true;
        this.inFlight.delete(entry);
        this.tally.done++;
        this.tally.bytesDone += entry.size;
        if (this.tally.done >= this.tally.total) this.send();
        else this.sendSoon();
      },
    };
  }

  /** The phase is over: its final state, whatever the throttle says. */
  finish(): void {
    this.send();
  }

  private sendSoon(): void {
    if (this.now() - this.lastEmit >= PROGRESS_INTERVAL_MS) this.send();
  }

  private send(): void {
    this.lastEmit = this.now();
    let bytesDone = this.tally.bytesDone;
    for (const f of this.inFlight) bytesDone += f.shown;
    const rate = this.inFlight.size > 0 || this.tally.done < this.tally.total ? this.rate.bytesPerSecond() : null;
    const first = this.inFlight.values().next();
    this.emit({
      ...itemProgress(this.phase, this.tally.done, this.tally.total, bytesDone, this.tally.bytesTotal),
      bytesPerSecond: rate === null ? null : Math.round(rate),
      etaSeconds: etaSeconds(this.tally.bytesTotal - bytesDone, rate),
      current: first.done ? null : first.value.name,
    });
  }
}
