export const LOG_FORMAT: string;
export function parseLogLine(line: string, tailCount: number): { method: string; path: string; tail: string[] };
