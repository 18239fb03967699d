/**
 * Issue 11, in a real browser: a page of another origin, on the same machine as a daemon whose config
 * predates tokens (so only the share's own checks stand in the way), makes headless Chromium send what it
 * sends without asking anyone: a CORS read of metadata.db and a no-cors POST over version.txt; and a PUT
 * (which needs a preflight). Before the fix webdav-server answered the read with
 * `Access-Control-Allow-Origin: *` and took the POST as a PUT. Skipped without chromium locally, fails
 * under CI=true.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumSkipped, launchChromium, type Chromium } from "../helpers/chromium.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";

describe.skipIf(chromiumSkipped)("a page of another origin in Chromium", () => {
  let td: TestDaemon;
  let evil: Server;
  let browser: Chromium;

  beforeAll(async () => {
    td = await startTestDaemon({ token: null });
    expect((await td.api("/api/v1/sync", { method: "POST" })).status).toBe(200);
    // Another origin (and another site: localhost is not 127.0.0.1) on the same machine.
    evil = createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>elsewhere</title>"));
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => evil?.close(resolve));
    await td?.close();
  });

  it("can neither read the share nor write to it", async () => {
    const share = join(td.config.dataDir, "share", "syncd");
    const version = readFileSync(join(share, "version.txt"), "utf8");
    const db = readFileSync(join(share, "metadata.db"));
    const page = await browser.newPage();
    await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
    const outcome = await page.evaluate(async (dav: string) => {
      const read = await fetch(`${dav}/syncd/metadata.db`).then(
        async (r) => `read ${r.status} ${(await r.text()).slice(0, 15)}`,
        () => "blocked",
      );
      const post = await fetch(`${dav}/syncd/version.txt`, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: "999\nsha256=00\n" }).then(
        (r) => r.type,
        () => "error",
      );
      const put = await fetch(`${dav}/syncd/version.txt`, { method: "PUT", body: "999\n" }).then(
        (r) => `put ${r.status}`,
        () => "blocked",
      );
      return { read, post, put };
    }, `${td.url}/dav`);
    expect(outcome).toEqual({ read: "blocked", post: "opaque", put: "blocked" });
    expect(readFileSync(join(share, "version.txt"), "utf8")).toBe(version);
    expect(readFileSync(join(share, "metadata.db")).equals(db)).toBe(true);
    // The daemon's own origin is not affected.
    const own = await browser.newPage();
    await own.goto(`${td.url}/healthz`);
    expect(await own.evaluate(async () => (await fetch("/dav/syncd/version.txt")).status)).toBe(200);
  });
});
