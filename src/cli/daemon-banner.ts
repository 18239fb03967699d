/**
 * The line a person sees when they start `syncd daemon` in a terminal: where the dashboard is and where
 * its token comes from. Only on a terminal: under systemd or a pipe, the "listening" log line carries the
 * URL for machines. The token itself is never printed (terminal scrollback, screen sharing and recorded
 * sessions outlive the process); the line names the file that holds it.
 */
export interface BannerOptions {
  /** The daemon's base URL, as it listens (a wildcard address is shown as this machine's loopback). */
  url: string;
  /** server.token is set: the dashboard asks for it once. */
  token: boolean;
  /** The configuration file (holds server.token). */
  configPath: string;
}

export function dashboardBanner(o: BannerOptions): string {
  const url = new URL(o.url);
  if (url.hostname === "0.0.0.0") url.hostname = "127.0.0.1";
  if (url.hostname === "[::]") url.hostname = "[::1]";
  const where = url.toString(); // ends with "/"
  const token = o.token
    ? ` It asks once for the token: "server.token" in ${o.configPath} (or open ${where}#token=<that token>).`
    : "";
  return `syncd is running: the dashboard is at ${where}.${token} Stop it with Ctrl-C.\n`;
}

/** Writes the banner when `out` is a terminal; returns whether it did. */
export function announceDashboard(out: { isTTY?: boolean; write(text: string): unknown }, o: BannerOptions): boolean {
  if (!out.isTTY) return false;
  out.write(dashboardBanner(o));
  return true;
}
