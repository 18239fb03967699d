/**
 * lighttpd with mod_webdav (Debian's lighttpd + lighttpd-mod-webdav) on 127.0.0.1, in a private folder:
 * WebDAV under /dav (mod_alias maps it onto the served folder, as on apache.mjs and nginx.mjs), basic auth
 * from a plain user file, and an access log of method, path, status and body bytes.
 *
 * mod_webdav keeps dead properties and locks in an SQLite file (webdav.sqlite-db-name): without it
 * PROPPATCH and LOCK are refused, so the launcher gives it one in the private folder.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./net.mjs";
import { launchServer, serverOwner } from "./proc.mjs";

export const LIGHTTPD_BIN = "/usr/sbin/lighttpd";
const MODULES = "/usr/lib/lighttpd";

export function lighttpdAvailable() {
  return existsSync(LIGHTTPD_BIN) && ["mod_webdav.so", "mod_authn_file.so", "mod_accesslog.so"].every((m) => existsSync(join(MODULES, m)));
}

/** In the order of bench/lib/traffic.mjs LOG_FORMAT; %U is the path as the client sent it (percent-encoded), without the query. */
export const LIGHTTPD_LOG_FORMAT = "%m %U %>s %b %{Content-Length}i";

export async function startLighttpd({ parent, username, password }) {
  if (/[:\n]/.test(username) || password.includes("\n")) throw new Error("lighttpd's plain user file holds user:password lines");
  const root = mkdtempSync(join(parent, "lighttpd-"));
  const www = join(root, "www");
  const tmp = join(root, "tmp");
  mkdirSync(www);
  mkdirSync(tmp);
  // root too: the SQLite database of properties and locks is created there, by the server's user.
  const owner = serverOwner(parent, [root, www, tmp]);
  const users = join(root, "users");
  writeFileSync(users, `${username}:${password}\n`, { mode: 0o644 });
  const port = await freePort();
  const log = join(root, "access.log");
  const errorLog = join(root, "error.log");
  const q = (s) => JSON.stringify(s); // lighttpd's strings are double-quoted with backslash escapes, as JSON's
  writeFileSync(
    join(root, "lighttpd.conf"),
    [
      `server.modules = ( "mod_alias", "mod_auth", "mod_authn_file", "mod_webdav", "mod_accesslog" )`,
      `server.bind = "127.0.0.1"`,
      `server.port = ${port}`,
      `server.document-root = ${q(www)}`,
      `server.errorlog = ${q(errorLog)}`,
      // Request bodies are spooled here before mod_webdav moves them into place (Debian's default: /var/tmp).
      `server.upload-dirs = ( ${q(tmp)} )`,
      ...(owner ? [`server.username = "www-data"`, `server.groupname = "www-data"`] : []),
      `mimetype.assign = ( "" => "application/octet-stream" )`,
      // A piped logger: mod_accesslog buffers lines for a file (written every 4 s or per 8 KiB), but writes
      // each line to a pipe at once, so that a test reads a request in the log as soon as it was answered.
      `accesslog.filename = ${q(`|exec /bin/cat >> ${shellQuote(log)}`)}`,
      `accesslog.format = ${q(LIGHTTPD_LOG_FORMAT)}`,
      `alias.url = ( "/dav/" => ${q(`${www}/`)} )`,
      `$HTTP["url"] =~ "^/dav/" {`,
      `  webdav.activate = "enable"`,
      `  webdav.is-readonly = "disable"`,
      `  webdav.sqlite-db-name = ${q(join(root, "webdav.sqlite"))}`,
      `  auth.backend = "plain"`,
      `  auth.backend.plain.userfile = ${q(users)}`,
      `  auth.require = ( "" => ( "method" => "basic", "realm" => "syncd", "require" => "valid-user" ) )`,
      `}`,
      "",
    ].join("\n"),
  );
  const server = await launchServer({
    name: "lighttpd",
    command: LIGHTTPD_BIN,
    args: ["-D", "-f", join(root, "lighttpd.conf")],
    port,
    root,
    errorLog,
  });
  return {
    kind: "lighttpd",
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

function shellQuote(s) {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
