/**
 * How `syncd sync` shows a run's progress: a bar on a terminal, one line per phase otherwise (logs, pipes,
 * journald). Always on stderr, so that `--json` output on stdout stays one clean document.
 */
import cliProgress from "cli-progress";
import { formatBytes } from "../bytes.js";
import type { SyncEvent, SyncPhase } from "../sync/events.js";

export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { onEvent: (e: SyncEvent) => void; stop: () => void } {
  return stream.isTTY ? barReporter(stream) : lineReporter(stream);
}

function lineReporter(stream: NodeJS.WritableStream): { onEvent: (e: SyncEvent) => void; stop: () => void } {
  let phase: SyncPhase | null = null;
  return {
    onEvent: (e) => {
      if (e.type === "sync.progress" && e.phase !== phase) {
        phase = e.phase;
        stream.write(`${describePhase(e.phase, e.total, e.bytesTotal)}\n`);
      } else if (e.type === "log" && e.level === "warn") {
        stream.write(`warning: ${e.message}\n`);
      }
    },
    stop: () => {},
  };
}

function barReporter(stream: NodeJS.WriteStream): { onEvent: (e: SyncEvent) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    { stream, format: "{phase} [{bar}] {value}/{total} {bytes}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  // Warnings would be overwritten by the bar's redraws: printed once it is gone.
  const warnings: string[] = [];
  return {
    onEvent: (e) => {
      if (e.type === "log" && e.level === "warn") warnings.push(`warning: ${e.message}\n`);
      if (e.type !== "sync.progress") return;
      const payload = { phase: e.phase.padEnd(8), bytes: e.bytesTotal > 0 ? `${formatBytes(e.bytesDone)}/${formatBytes(e.bytesTotal)}` : "" };
      if (!started) {
        bar.start(e.total, e.done, payload);
        started = true;
      } else {
        bar.setTotal(e.total);
        bar.update(e.done, payload);
      }
    },
    stop: () => {
      if (started) bar.stop();
      for (const line of warnings.splice(0)) stream.write(line);
    },
  };
}

const PHASE_LABELS: Record<SyncPhase, string> = {
  check: "checking the share",
  lock: "taking the share's lock",
  metadata: "reading the share's metadata",
  plan: "planning",
  upload: "uploading",
  download: "downloading",
  publish: "publishing",
  apply: "updating the local library",
};

function describePhase(phase: SyncPhase, total: number, bytesTotal: number): string {
  const label = PHASE_LABELS[phase];
  if (phase === "upload" || phase === "download") return `${label} ${total} file${total === 1 ? "" : "s"} (${formatBytes(bytesTotal)})`;
  if (phase === "apply") return `${label} (${total} entr${total === 1 ? "y" : "ies"})`;
  return label;
}
