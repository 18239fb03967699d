/**
 * `/metrics` in the Prometheus text format (version 0.0.4). Counters live here and are fed by the
 * scheduler's run records; gauges are read from the library at scrape time (a few indexed counts).
 */
import type { RunRecord } from "./scheduler.js";

export interface Gauges {
  liveEntries: number;
  deletedEntries: number;
  unsynced: number;
  conflicts: number;
  running: boolean;
  consecutiveFailures: number;
  sseSubscribers: number;
  sseDropped: number;
}

export class Metrics {
  private readonly runs = { synced: 0, skipped: 0, failed: 0 };
  private durationSum = 0;
  private lastDuration = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private lastSuccess = 0;

  recordRun(r: RunRecord): void {
    const seconds = r.durationMs / 1000;
    this.durationSum += seconds;
    this.lastDuration = seconds;
    if (!r.ok || !r.summary) {
      this.runs.failed++;
      return;
    }
    this.runs[r.summary.skipped ? "skipped" : "synced"]++;
    this.bytesUp += r.summary.bytesUp;
    this.bytesDown += r.summary.bytesDown;
    this.lastSuccess = Date.parse(r.finishedAt) / 1000;
  }

  render(g: Gauges): string {
    const total = this.runs.synced + this.runs.skipped + this.runs.failed;
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric("syncd_sync_runs_total", "counter", "Sync runs since the daemon started, by result.", [
      ['{result="synced"}', this.runs.synced],
      ['{result="skipped"}', this.runs.skipped],
      ['{result="failed"}', this.runs.failed],
    ]);
    metric("syncd_sync_failures_total", "counter", "Sync runs that failed.", [["", this.runs.failed]]);
    metric("syncd_sync_duration_seconds", "summary", "Duration of sync runs.", []);
    lines.push(`syncd_sync_duration_seconds_sum ${this.durationSum}`, `syncd_sync_duration_seconds_count ${total}`);
    metric("syncd_sync_last_duration_seconds", "gauge", "Duration of the latest sync run.", [["", this.lastDuration]]);
    metric("syncd_sync_last_success_timestamp_seconds", "gauge", "End of the latest successful run (Unix time; 0: none yet).", [
      ["", this.lastSuccess],
    ]);
    metric("syncd_sync_running", "gauge", "1 while a sync run is in progress.", [["", g.running ? 1 : 0]]);
    metric("syncd_sync_consecutive_failures", "gauge", "Failed runs since the last success.", [["", g.consecutiveFailures]]);
    metric("syncd_bytes_uploaded_total", "counter", "Bytes of data files uploaded to the share.", [["", this.bytesUp]]);
    metric("syncd_bytes_downloaded_total", "counter", "Bytes of data files downloaded from the share.", [["", this.bytesDown]]);
    metric("syncd_entries", "gauge", "Entries in the local library.", [
      ['{state="live"}', g.liveEntries],
      ['{state="deleted"}', g.deletedEntries],
    ]);
    metric("syncd_unsynced_entries", "gauge", "Local changes not yet synced.", [["", g.unsynced]]);
    metric("syncd_open_conflicts", "gauge", "Conflicts waiting for a resolution.", [["", g.conflicts]]);
    metric("syncd_sse_subscribers", "gauge", "Open event streams.", [["", g.sseSubscribers]]);
    metric("syncd_sse_dropped_total", "counter", "Event streams closed because the client did not keep up.", [["", g.sseDropped]]);
    return `${lines.join("\n")}\n`;
  }
}
