import type { LaunchedServer } from "./proc.mjs";
export const LIGHTTPD_BIN: string;
/** The path as the client sent it (percent-encoded). */
export const LIGHTTPD_LOG_FORMAT: string;
export function lighttpdAvailable(): boolean;
/** At http://127.0.0.1:PORT/dav. */
export interface LighttpdServer extends LaunchedServer {
  kind: "lighttpd";
}
export function startLighttpd(opts: { parent: string; username: string; password: string }): Promise<LighttpdServer>;
