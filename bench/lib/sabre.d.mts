export const PHP_BIN: string;
export const SABRE_AUTOLOAD: string;
export function sabreAvailable(): boolean;
export interface SabreServer {
  kind: "sabre";
  /** The share's URL, without a trailing slash: http://127.0.0.1:PORT/remote.php/dav/files/USER */
  url: string;
  /** The URL path of `url` ("/remote.php/dav/files/USER"). */
  prefix: string;
  username: string;
  password: string;
  /** The folder served at `${url}/`. */
  dir: string;
  /** www-data when started as root (PHP runs as that user), else null. */
  owner: { uid: number; gid: number } | null;
  /** Request log "METHOD PATH STATUS - CONTENT_LENGTH", the path as the client sent it (percent-encoded). */
  log: string;
  /** PHP's warnings and notices (never shown in responses). */
  errorLog: string;
  pid: number | undefined;
  close(): Promise<void>;
}
export function startSabre(opts: { parent: string; username: string; password: string; workers?: number }): Promise<SabreServer>;
