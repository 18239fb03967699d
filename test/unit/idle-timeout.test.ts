import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { IdleTimer, watchDownload } from "../../src/remote/idle-timeout.js";

describe("watchDownload", () => {
  it("a body that fails before anyone reads does not crash the process; the reader gets the mapped error", async () => {
    const body = new PassThrough();
    const idle = new IdleTimer(5000);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const out = watchDownload(body, idle, (err) => new Error(`mapped: ${(err as Error).message}`));
      body.write("partial");
      body.destroy(new Error("connection reset"));
      // The reader starts only after the failure (as writeFromStream does, after opening its temp file).
      await new Promise((r) => setTimeout(r, 20));
      const read = async () => {
        for await (const _chunk of out) void _chunk;
      };
      await expect(read()).rejects.toThrow("mapped: connection reset");
    } finally {
      process.off("uncaughtException", onUncaught);
      idle.clear();
    }
    expect(uncaught).toEqual([]);
  });
});
