/**
 * sabre/dav (Debian's php-sabre-dav, on `php -S` with 4 workers) on 127.0.0.1, for the tests: the
 * benchmarks' launcher (bench/lib/sabre.mjs: Nextcloud's path /remote.php/dav/files/USER, basic auth, a
 * request log written by the PHP front script) with a reader of that log.
 */
import { sabreAvailable, startSabre as launchSabre } from "../../bench/lib/sabre.mjs";
import { startLogged, type LoggedShare } from "./access-log.js";

export { sabreAvailable };

export function startSabre(opts: { username: string; password: string }): Promise<LoggedShare> {
  return startLogged("sabre", "percent", (parent) => launchSabre({ parent, ...opts }));
}
