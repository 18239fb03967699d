/**
 * nginx with its dav module and dav-ext (Debian's nginx + libnginx-mod-http-dav-ext) on 127.0.0.1, in a
 * private prefix: WebDAV under /dav, basic auth, and an access log of method, path, status and body bytes,
 * like apache.mjs. nginx's own dav module does PUT, DELETE, MKCOL, COPY and MOVE; dav-ext adds PROPFIND and
 * OPTIONS (no LOCK, no PROPPATCH: a class 1 server without locks, as many shares in the wild are).
 *
 * The config is nginx's defaults except where a WebDAV share needs otherwise; in particular
 * `create_full_put_path off` (nginx's default) stays, so a PUT into a missing folder fails (409) instead of
 * creating the folders on the way, as it does on most servers.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./net.mjs";
import { launchServer, serverOwner } from "./proc.mjs";

export const NGINX_BIN = "/usr/sbin/nginx";
export const DAV_EXT_MODULE = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";

export function nginxAvailable() {
  return existsSync(NGINX_BIN) && existsSync(DAV_EXT_MODULE) && commandExists("openssl");
}

/** nginx's access log, in the order of bench/lib/traffic.mjs LOG_FORMAT (`-` for an absent Content-Length). */
export const NGINX_LOG_FORMAT = "$request_method $uri $status $body_bytes_sent $content_length";

/**
 * Starts nginx under `parent`. `clientMaxBodySize` is nginx's `client_max_body_size` ("1m", "0" = no limit,
 * the default here: nginx's own default of 1m would refuse any larger upload with 413).
 */
export async function startNginx({ parent, username, password, clientMaxBodySize = "0" }) {
  const root = mkdtempSync(join(parent, "nginx-"));
  const www = join(root, "www");
  const tmp = join(root, "tmp");
  mkdirSync(www);
  mkdirSync(tmp);
  const owner = serverOwner(parent, [root, www, tmp]);
  // apr1 (MD5) like Apache's htpasswd default, which nginx verifies through crypt(3); the password goes
  // through stdin, not argv. openssl reads one line, so a password may hold spaces but no newline.
  const hash = execFileSync("openssl", ["passwd", "-apr1", "-stdin"], { input: `${password}\n`, encoding: "utf8" }).trim();
  writeFileSync(join(root, "htpasswd"), `${username}:${hash}\n`);
  const port = await freePort();
  const log = join(root, "access.log");
  const errorLog = join(root, "error.log");
  writeFileSync(
    join(root, "nginx.conf"),
    [
      `load_module ${DAV_EXT_MODULE};`,
      ...(owner ? ["user www-data www-data;"] : []),
      `worker_processes 2;`,
      `pid ${join(root, "nginx.pid")};`,
      `error_log ${errorLog} warn;`,
      `events { worker_connections 512; }`,
      `http {`,
      // escape=default writes bytes outside printable ASCII (ü in a path) as \xHH: readers unescape them.
      `  log_format syncd '${NGINX_LOG_FORMAT}';`,
      `  access_log ${log} syncd;`,
      // Every path nginx writes to is inside the private prefix (Debian's defaults are under /var/lib/nginx).
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${join(tmp, t)};`),
      `  default_type application/octet-stream;`,
      // Like Apache's MaxKeepAliveRequests 0 in apache.mjs: a client's pool is not torn down every 1000 requests.
      `  keepalive_requests 100000;`,
      `  server {`,
      `    listen 127.0.0.1:${port};`,
      `    server_name 127.0.0.1;`,
      `    location /dav/ {`,
      `      alias ${www}/;`,
      `      dav_methods PUT DELETE MKCOL COPY MOVE;`,
      `      dav_ext_methods PROPFIND OPTIONS;`,
      `      dav_access user:rw group:rw all:r;`,
      `      create_full_put_path off;`,
      `      client_max_body_size ${clientMaxBodySize};`,
      `      auth_basic "syncd";`,
      `      auth_basic_user_file ${join(root, "htpasswd")};`,
      `    }`,
      `  }`,
      `}`,
      "",
    ].join("\n"),
  );
  const server = await launchServer({
    name: "nginx",
    command: NGINX_BIN,
    args: ["-p", root, "-c", join(root, "nginx.conf"), "-e", errorLog, "-g", "daemon off;"],
    port,
    root,
    errorLog,
  });
  return {
    kind: "nginx",
    url: `http://127.0.0.1:${port}/dav`,
    prefix: "/dav",
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

function commandExists(name) {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, name)));
}
