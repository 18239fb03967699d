/**
 * sabre/dav (Debian's php-sabre-dav, the WebDAV library under Nextcloud and ownCloud) on PHP's built-in
 * server on 127.0.0.1: sabre-server.php serves a private folder at Nextcloud's path
 * /remote.php/dav/files/USER/ with basic auth, and logs each request (method, path, status).
 *
 * PHP_CLI_SERVER_WORKERS makes `php -S` fork that many workers, so that concurrent requests are served in
 * parallel (one worker would serialise them, hiding races such as the lease's that a real server shows).
 */
import { chownSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./net.mjs";
import { launchServer, serverOwner } from "./proc.mjs";

export const PHP_BIN = "/usr/bin/php";
export const SABRE_AUTOLOAD = "/usr/share/php/Sabre/autoload.php";
const SCRIPT = fileURLToPath(new URL("./sabre-server.php", import.meta.url));

export function sabreAvailable() {
  return existsSync(PHP_BIN) && existsSync(SABRE_AUTOLOAD);
}

export async function startSabre({ parent, username, password, workers = 4 }) {
  const root = mkdtempSync(join(parent, "sabre-"));
  const www = join(root, "www");
  const docroot = join(root, "docroot"); // empty: php -S must serve no file of its own
  mkdirSync(www);
  mkdirSync(docroot);
  // As root, PHP runs as www-data as under Debian's php-fpm; the logs are written by it, so root is its too.
  const owner = serverOwner(parent, [root, www]);
  const log = join(root, "access.log");
  const errorLog = join(root, "php-error.log");
  writeFileSync(log, "");
  writeFileSync(errorLog, "");
  if (owner) for (const f of [log, errorLog]) chownSync(f, owner.uid, owner.gid);
  const port = await freePort();
  const baseUri = `/remote.php/dav/files/${encodeURIComponent(username)}/`;
  const args = [
    // Sabre 1.8 predates PHP 8: its deprecation notices must never reach a response body or header.
    "-d", "display_errors=0",
    "-d", "display_startup_errors=0",
    "-d", "log_errors=1",
    "-d", `error_log=${errorLog}`,
    "-d", "include_path=.:/usr/share/php",
    // Uploads of any size: php://input is streamed to the file (memory_limit does not bound it).
    "-d", "post_max_size=0",
    "-d", "upload_max_filesize=0",
    "-S", `127.0.0.1:${port}`,
    "-t", docroot,
    SCRIPT,
  ];
  const server = await launchServer({
    name: "php -S",
    command: PHP_BIN,
    args,
    spawnOptions: {
      cwd: docroot,
      // Its own process group: close() signals the workers too (see stopChild).
      detached: true,
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        PHP_CLI_SERVER_WORKERS: String(workers),
        SABRE_DIR: www,
        SABRE_BASE_URI: baseUri,
        SABRE_USER: username,
        SABRE_PASSWORD: password,
        SABRE_LOG: log,
      },
    },
    port,
    root,
    errorLog,
  });
  const prefix = baseUri.slice(0, -1);
  return {
    kind: "sabre",
    url: `http://127.0.0.1:${port}${prefix}`,
    prefix,
    username,
    password,
    dir: www,
    owner,
    log,
    errorLog,
    pid: server.pid,
    close: server.close,
  };
}
