/**
 * The transfer rate and time left that progress shows, from bytes as they cross the wire. Pure arithmetic on
 * an injected clock, so that it is tested without waiting.
 *
 * The rate is the bytes moved within a sliding window (the last WINDOW_MS) divided by the time the window
 * covers: a rate that follows a link that slows down or speeds up within seconds, without jumping with every
 * chunk the way an instantaneous rate does. It is unknown (null) until the samples span MIN_SPAN_MS: the
 * first chunks of a transfer say more about socket buffers than about the link.
 */

/** How far back the rate looks. */
export const WINDOW_MS = 8000;
/** How long bytes must have been moving before a rate is shown. */
export const MIN_SPAN_MS = 1000;
/** Samples closer together than this are added into one (a 1 GB file is ~16,000 chunks of 64 KiB). */
const BUCKET_MS = 100;

interface Bucket {
  at: number;
  bytes: number;
}

export class TransferRate {
  private readonly buckets: Bucket[] = [];
  /** When bytes started moving (the first sample): the window never reaches back before it. */
  private since: number | null = null;

  constructor(private readonly now: () => number) {}

  /** `bytes` more crossed the wire just now. */
  add(bytes: number): void {
    if (bytes <= 0) return;
    const t = this.now();
    this.since ??= t;
    const last = this.buckets.at(-1);
    if (last && t - last.at < BUCKET_MS) last.bytes += bytes;
    else this.buckets.push({ at: t, bytes });
    this.prune(t);
  }

  /** Bytes per second over the window, or null while too little is known. 0 when nothing moved lately. */
  bytesPerSecond(): number | null {
    if (this.since === null) return null;
    const t = this.now();
    this.prune(t);
    const from = Math.max(this.since, t - WINDOW_MS);
    const span = t - from;
    if (span < MIN_SPAN_MS) return null;
    let bytes = 0;
    for (const b of this.buckets) bytes += b.bytes;
    return (bytes * 1000) / span;
  }

  private prune(t: number): void {
    while (this.buckets.length > 0 && this.buckets[0]!.at < t - WINDOW_MS) this.buckets.shift();
  }
}

/** Whole seconds until `remaining` bytes are moved at `rate` bytes/s; null when the rate is unknown or zero. */
export function etaSeconds(remaining: number, rate: number | null): number | null {
  if (rate === null || !(rate > 0)) return null;
  if (remaining <= 0) return 0;
  return Math.ceil(remaining / rate);
}
