import type { LaunchedServer } from "./proc.mjs";
export const PHP_BIN: string;
export const SABRE_AUTOLOAD: string;
export function sabreAvailable(): boolean;
/**
 * At http://127.0.0.1:PORT/remote.php/dav/files/USER. Its log is "METHOD PATH STATUS - CONTENT_LENGTH", the
 * path as the client sent it (percent-encoded); errorLog holds PHP's warnings (never shown in responses).
 */
export interface SabreServer extends LaunchedServer {
  kind: "sabre";
}
export function startSabre(opts: { parent: string; username: string; password: string; workers?: number }): Promise<SabreServer>;
