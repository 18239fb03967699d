export const APACHE_BIN: string;
export function apacheAvailable(): boolean;
export interface ApacheServer {
  kind: "apache";
  url: string;
  prefix: string;
  username: string;
  password: string;
  dir: string;
  owner: { uid: number; gid: number } | null;
  log: string;
  pid: number | undefined;
  close(): Promise<void>;
}
export function startApache(opts: { parent: string; username: string; password: string }): Promise<ApacheServer>;
