/**
 * A small seeded PRNG (mulberry32), shared by the benchmarks (data sets that are the same from run to run)
 * and the test harness (the same seed injects the same faults and edits: test/helpers/fault-proxy.ts).
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
