export const NGINX_BIN: string;
export const DAV_EXT_MODULE: string;
export const NGINX_LOG_FORMAT: string;
export function nginxAvailable(): boolean;
export interface NginxServer {
  kind: "nginx";
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
  /** Access log, NGINX_LOG_FORMAT: the path decoded, bytes outside printable ASCII written as \xHH. */
  log: string;
  errorLog: string;
  pid: number | undefined;
  close(): Promise<void>;
}
export function startNginx(opts: { parent: string; username: string; password: string; clientMaxBodySize?: string }): Promise<NginxServer>;
