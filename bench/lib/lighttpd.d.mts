export const LIGHTTPD_BIN: string;
export const LIGHTTPD_LOG_FORMAT: string;
export function lighttpdAvailable(): boolean;
export interface LighttpdServer {
  kind: "lighttpd";
  /** The share's URL, without a trailing slash: http://127.0.0.1:PORT/dav */
  url: string;
  /** The URL path of `url` ("/dav"). */
  prefix: string;
  username: string;
  password: string;
  /** The folder served at `${url}/`. */
  dir: string;
  /** www-data when started as root (the server runs as that user), else null. */
  owner: { uid: number; gid: number } | null;
  /** Access log, LIGHTTPD_LOG_FORMAT: the path as the client sent it (percent-encoded). */
  log: string;
  errorLog: string;
  pid: number | undefined;
  close(): Promise<void>;
}
export function startLighttpd(opts: { parent: string; username: string; password: string }): Promise<LighttpdServer>;
