export function freePort(): Promise<number>;
export function waitForHttp(port: number, failed: () => string | null): Promise<void>;
