import type { ChildProcess } from "node:child_process";
export function lookupUser(name: string): { uid: number; gid: number };
export function serverOwner(parent: string, writable: string[]): { uid: number; gid: number } | null;
export function safeRead(path: string): string;
export function stopChild(child: ChildProcess, opts?: { graceMs?: number; group?: boolean }): Promise<void>;
export function launchServer(opts: {
  name: string;
  command: string;
  args: string[];
  spawnOptions?: import("node:child_process").SpawnOptions;
  port: number;
  root: string;
  errorLog: string;
}): Promise<{ pid: number | undefined; close(): Promise<void> }>;

/** What the launchers of real servers return (nginx.mjs, lighttpd.mjs, sabre.mjs). */
export interface LaunchedServer {
  /** The share's URL, without a trailing slash. */
  url: string;
  /** The URL path of `url` ("/dav"). */
  prefix: string;
  username: string;
  password: string;
  /** The folder served at `${url}/`. */
  dir: string;
  /** www-data when started as root (the server runs as that user), else null. */
  owner: { uid: number; gid: number } | null;
  /** The access log (see each launcher for its format). */
  log: string;
  errorLog: string;
  pid: number | undefined;
  close(): Promise<void>;
}
