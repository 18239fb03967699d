/** Summaries of repeated measurements, and the text table. */

export function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return { runs: 0, median: null, min: null, max: null };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { runs: v.length, median: round(median), min: round(v[0]), max: round(v.at(-1)) };
}

export function round(x, digits = 2) {
  if (x === null || x === undefined || !Number.isFinite(x)) return x ?? null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** 1234.5 ms → "1.23 s"; 1.234 → "1.23 ms". */
export function fmtValue(value, unit) {
  if (value === null || value === undefined) return "—";
  if (unit === "ms") return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
  if (unit === "MB") return `${value.toFixed(1)} MB`;
  if (unit === "x") return `${value.toFixed(2)}×`;
  return `${value}${unit ? ` ${unit}` : ""}`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

/** A Markdown table (readable as text too). */
export function table(header, rows) {
  const cells = rows.map((r) => r.map((c) => String(c ?? "")));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(header), "| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |", ...cells.map(line)].join("\n");
}
