/**
 * The HLC drift warning names the instance (issue 3): the message helper, the per-call handler through
 * which the sync engine reports it as a `log` event, and the CLI's reporters printing such warnings.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { progressReporter } from "../../src/cli/progress.js";
import { itemProgress } from "../../src/sync/events.js";
import { type ClockWarning, describeDrift, formatHlc, HybridClock } from "../../src/sync/hlc.js";

const NOW = 1_800_000_000_000;

describe("drift warning", () => {
  it("names the instance by name when known, by id otherwise", () => {
    const w: ClockWarning = { kind: "drift", node: "01ABC", aheadMs: 600_400 };
    expect(describeDrift(w, "laptop")).toBe(
      `instance "laptop" (01ABC) stamped a change 600 s ahead of this machine's clock; following it only up to the drift bound (check that machine's clock).`,
    );
    expect(describeDrift(w)).toMatch(/^instance 01ABC stamped a change 600 s ahead/);
  });

  it("a per-call handler replaces the clock's own, and the stamp is still clamped", () => {
    const own: ClockWarning[] = [];
    const call: ClockWarning[] = [];
    const clock = new HybridClock("me", null, () => NOW, 300_000, (w) => own.push(w));
    clock.receive(formatHlc({ wall: NOW + 3_600_000, counter: 7, node: "far" }), (w) => call.push(w));
    expect(own).toEqual([]);
    expect(call).toEqual([{ kind: "drift", node: "far", aheadMs: 3_600_000 }]);
    expect(clock.current()).toBe(formatHlc({ wall: NOW + 300_000, counter: 0, node: "me" }));
    clock.receive(formatHlc({ wall: NOW + 3_600_000, counter: 0, node: "far" }));
    expect(own).toHaveLength(1); // without one, the clock's own handler
  });

  for (const tty of [false, true]) {
    it(`the CLI prints warn logs on stderr (${tty ? "progress bar" : "line"} mode)`, () => {
      const stream = Object.assign(new PassThrough(), { isTTY: tty, columns: 80 }) as unknown as NodeJS.WriteStream & PassThrough;
      let out = "";
      stream.on("data", (d: Buffer) => (out += d.toString()));
      const reporter = progressReporter(stream);
      reporter.onEvent(itemProgress("plan", 0, 1));
      reporter.onEvent({ type: "log", level: "warn", message: "instance \"laptop\" (01ABC) stamped a change" });
      reporter.onEvent({ type: "log", level: "info", message: "lock acquired" });
      reporter.stop();
      expect(out).toContain('warning: instance "laptop" (01ABC) stamped a change\n');
      expect(out).not.toContain("lock acquired");
    });
  }
});
