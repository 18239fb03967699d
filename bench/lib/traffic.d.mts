export const LOG_FORMAT: string;
export function parseLogLine(line: string, tailCount: number, paths?: "escaped" | "percent"): { method: string; path: string; tail: string[] };
