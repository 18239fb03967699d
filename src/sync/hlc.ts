/**
 * Hybrid logical clock (Kulkarni et al.): a wall-clock millisecond part, a counter that orders events in the
 * same millisecond (or while the wall clock is behind the last stamp), and the instance id as a tie-breaker.
 * Stamps never go backwards on one instance, whatever the wall clock does, and a stamp received from another
 * instance moves ours forward so that a later local change always sorts after what we have seen.
 *
 * Encoded as a fixed-width string so that plain string comparison is the clock order
 * (`000001732345678901.000000.<instance>`): SQLite and JS sort them the same way.
 */
export interface HlcStamp {
  wall: number;
  counter: number;
  node: string;
}

const WALL_DIGITS = 15;
const COUNTER_DIGITS = 6;
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1;
const STAMP_RE = /^(\d{15})\.(\d{6})\.([A-Za-z0-9_-]{1,64})$/;

/** How far ahead of our wall clock a received stamp may be before we stop following it. */
export const DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000;

export function formatHlc(stamp: HlcStamp): string {
  return `${String(stamp.wall).padStart(WALL_DIGITS, "0")}.${String(stamp.counter).padStart(COUNTER_DIGITS, "0")}.${stamp.node}`;
}

export function parseHlc(text: string): HlcStamp | null {
  const m = STAMP_RE.exec(text);
  if (!m) return null;
  return { wall: Number(m[1]), counter: Number(m[2]), node: m[3] as string };
}

export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ClockWarning {
  kind: "drift";
  node: string;
  aheadMs: number;
}

/** The one-sentence warning for a drift, naming the instance by its name when it is known. */
export function describeDrift(w: ClockWarning, name?: string): string {
  const who = name ? `instance ${JSON.stringify(name)} (${w.node})` : `instance ${w.node}`;
  return (
    `${who} stamped a change ${Math.round(w.aheadMs / 1000)} s ahead of this machine's clock; ` +
    "following it only up to the drift bound (check that machine's clock)."
  );
}

/**
 * The one-sentence warning when this machine's own clock is off from the share server's (the server is
 * the one clock every instance reads): names this machine, so the right clock gets fixed.
 */
export function describeOwnSkew(instanceName: string, skewMs: number): string {
  const ms = Math.abs(skewMs);
  const amount =
    ms >= 43_200_000 ? `${(ms / 86_400_000).toFixed(1)} days` : ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} hours` : `${Math.round(ms / 1000)} s`;
  return (
    `This machine's clock (instance ${JSON.stringify(instanceName)}) is ${amount} ${skewMs > 0 ? "ahead of" : "behind"} the share server's clock; ` +
    "check this machine's time settings (NTP). Deletions are not purged on this machine's clock alone, so nothing is lost meanwhile."
  );
}

export class HybridClock {
  private wall: number;
  private counter: number;

  constructor(
    readonly node: string,
    last: string | null,
    private readonly now: () => number = Date.now,
    private readonly maxDriftMs: number = DEFAULT_MAX_DRIFT_MS,
    private readonly onWarning: (w: ClockWarning) => void = () => {},
  ) {
    const parsed = last ? parseHlc(last) : null;
    this.wall = parsed?.wall ?? 0;
    this.counter = parsed?.counter ?? 0;
  }

  /** The last stamp issued or observed (as this node). */
  current(): string {
    return formatHlc({ wall: this.wall, counter: this.counter, node: this.node });
  }

  /** A new stamp for a local change: strictly greater than every stamp issued or observed before. */
  tick(): string {
    const physical = this.now();
    if (physical > this.wall) {
      this.wall = physical;
      this.counter = 0;
    } else {
      this.bumpCounter();
    }
    return this.current();
  }

  /**
   * Observe a stamp made elsewhere. A stamp further ahead of our wall clock than the drift bound is
   * clamped (we follow it only up to now + bound) and reported, so that one instance with a wrong clock
   * cannot drag every other instance's clock into the future. `onWarning` replaces the clock's own handler
   * for this call (the sync engine, which knows the instances' names, reports through its events).
   */
  receive(remote: string, onWarning: (w: ClockWarning) => void = this.onWarning): void {
    const parsed = parseHlc(remote);
    if (!parsed) return;
    const physical = this.now();
    let wall = parsed.wall;
    let counter = parsed.counter;
    if (wall - physical > this.maxDriftMs) {
      onWarning({ kind: "drift", node: parsed.node, aheadMs: wall - physical });
      wall = physical + this.maxDriftMs;
      counter = 0;
    }
    if (wall > this.wall || (wall === this.wall && counter > this.counter)) {
      this.wall = wall;
      this.counter = counter;
    }
  }

  private bumpCounter(): void {
    if (this.counter >= MAX_COUNTER) {
      // A million events in one millisecond of logical time: borrow the next millisecond.
      this.wall += 1;
      this.counter = 0;
    } else {
      this.counter += 1;
    }
  }
}
