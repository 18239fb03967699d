import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { batchesByFolder } from "../../src/sync/engine.js";

describe("batches of a full reconciliation", () => {
  it("keep every candidate once, in order, about the size asked, and never split a data folder (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (folders, size) => {
        const sorted = [...folders].sort((a, b) => a - b);
        const ids = sorted.map((f, i) => `${String(f).padStart(2, "0")}-${i}`);
        const folderOf = (id: string) => id.slice(0, 2);
        const batches = batchesByFolder(ids, size, folderOf);
        expect(batches.flat()).toEqual(ids);
        for (const batch of batches) expect(batch.length).toBeGreaterThan(0);
        for (let i = 1; i < batches.length; i++) {
          expect(folderOf(batches[i - 1]!.at(-1)!)).not.toBe(folderOf(batches[i]![0]!));
          expect(batches[i - 1]!.length).toBeGreaterThanOrEqual(size);
        }
      }),
    );
  });
});
