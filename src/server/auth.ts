/**
 * Access control for the daemon's one HTTP port.
 * - API and /metrics: `Authorization: Bearer <server.token>` when a token is set; the event stream also
 *   accepts `?token=` because a browser's EventSource cannot send headers.
 * - /dav (the embedded share): HTTP Basic with the token as the password and any user name, because
 *   WebDAV clients (ours, rclone, davfs2, file managers) speak Basic, not Bearer; Bearer works too.
 * - Without a token and on a loopback address, a request must name a loopback host: a web page the user
 *   visits could otherwise reach 127.0.0.1 through DNS rebinding (its own name resolving to 127.0.0.1).
 * - A browser page of another origin gets nothing: the API refuses its writes, the share every request
 *   (a page can make a browser send requests without asking; only the Origin header tells them apart).
 * Tokens are compared in constant time (as SHA-256 digests, so lengths do not leak either).
 */
import { createHash, timingSafeEqual } from "node:crypto";

export function tokenMatches(given: string | undefined | null, token: string): boolean {
  if (given === undefined || given === null) return false;
  return timingSafeEqual(digest(given), digest(token));
}

/** The token from `Authorization: Bearer …`, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}

/** The password from `Authorization: Basic …` (split at the first ":", RFC 7617), or null. */
export function basicPassword(header: string | undefined): string | null {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** For /dav: Basic with the token as password, or Bearer. */
export function davAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  return tokenMatches(basicPassword(authorization), token) || tokenMatches(bearerToken(authorization), token);
}

/** The Origin a browser sent names the host the request was sent to (this daemon as the page saw it). */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLoopbackAddress(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The Host header without its port names this machine's loopback interface. */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.startsWith("[") ? hostHeader.slice(0, hostHeader.indexOf("]") + 1) : hostHeader.replace(/:\d+$/, "");
  return isLoopbackAddress(host.toLowerCase());
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
