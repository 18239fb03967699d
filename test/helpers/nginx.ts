/**
 * nginx with dav-ext (Debian's nginx + libnginx-mod-http-dav-ext) on 127.0.0.1, for the tests: the
 * benchmarks' launcher (bench/lib/nginx.mjs: private prefix, WebDAV under /dav, basic auth, access log)
 * with a reader of its log. `clientMaxBodySize` ("1m") makes larger PUTs fail with 413.
 */
import { nginxAvailable, startNginx as launchNginx } from "../../bench/lib/nginx.mjs";
import { startLogged, type LoggedShare } from "./access-log.js";

export { nginxAvailable };

export function startNginx(opts: { username: string; password: string; clientMaxBodySize?: string }): Promise<LoggedShare> {
  return startLogged("nginx", "escaped", (parent) => launchNginx({ parent, ...opts }));
}
