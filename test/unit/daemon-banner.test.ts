import { describe, expect, it } from "vitest";
import { announceDashboard, dashboardBanner } from "../../src/cli/daemon-banner.js";

function fakeStream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) };
}

const opts = { url: "http://127.0.0.1:8384", token: true, configPath: "/etc/syncd/syncd.json" };

describe("the daemon's dashboard line", () => {
  it("is one plain line on a terminal: the URL and where the token is, never the token", () => {
    const tty = fakeStream(true);
    expect(announceDashboard(tty, opts)).toBe(true);
    expect(tty.written).toEqual([
      'syncd is running: the dashboard is at http://127.0.0.1:8384/. It asks once for the token: "server.token" in /etc/syncd/syncd.json (or open http://127.0.0.1:8384/#token=<that token>). Stop it with Ctrl-C.\n',
    ]);
  });

  it("is not written to a pipe or journald (the JSON log line has the URL there)", () => {
    const pipe = fakeStream(false);
    expect(announceDashboard(pipe, opts)).toBe(false);
    expect(pipe.written).toEqual([]);
  });

  it("names a reachable address for a wildcard bind, and no token when none is set", () => {
    expect(dashboardBanner({ ...opts, url: "http://0.0.0.0:8384", token: false })).toBe(
      "syncd is running: the dashboard is at http://127.0.0.1:8384/. Stop it with Ctrl-C.\n",
    );
    expect(dashboardBanner({ ...opts, url: "http://[::]:8384", token: false })).toContain("http://[::1]:8384/");
  });
});
