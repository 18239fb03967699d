/**
 * lighttpd with mod_webdav (Debian's lighttpd + lighttpd-mod-webdav) on 127.0.0.1, for the tests: the
 * benchmarks' launcher (bench/lib/lighttpd.mjs: WebDAV under /dav, basic auth, access log) with a reader
 * of its log.
 */
import { lighttpdAvailable, startLighttpd as launchLighttpd } from "../../bench/lib/lighttpd.mjs";
import { startLogged, type LoggedShare } from "./access-log.js";

export { lighttpdAvailable };

export function startLighttpd(opts: { username: string; password: string }): Promise<LoggedShare> {
  return startLogged("lighttpd", "percent", (parent) => launchLighttpd({ parent, ...opts }));
}
