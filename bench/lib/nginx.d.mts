import type { LaunchedServer } from "./proc.mjs";
export const NGINX_BIN: string;
export const DAV_EXT_MODULE: string;
/** The path decoded, bytes outside printable ASCII written as \xHH. */
export const NGINX_LOG_FORMAT: string;
export function nginxAvailable(): boolean;
/** At http://127.0.0.1:PORT/dav. */
export interface NginxServer extends LaunchedServer {
  kind: "nginx";
}
export function startNginx(opts: { parent: string; username: string; password: string; clientMaxBodySize?: string }): Promise<NginxServer>;
