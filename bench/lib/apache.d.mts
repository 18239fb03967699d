import type { LaunchedServer } from "./proc.mjs";
export const APACHE_BIN: string;
export function apacheAvailable(): boolean;
/** At http://127.0.0.1:PORT/dav; its log is traffic.mjs's LOG_FORMAT (method, decoded path, status, bytes). */
export interface ApacheServer extends LaunchedServer {
  kind: "apache";
}
export function startApache(opts: { parent: string; username: string; password: string; deflate?: boolean }): Promise<ApacheServer>;
