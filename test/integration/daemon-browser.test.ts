/**
 * The dashboard in a real browser: headless Debian `chromium` driven by playwright-core. The page loads
 * with a token, "Sync now" shows live progress and the result, and a conflict is resolved from the page.
 * Without chromium the test is skipped locally, but fails under CI=true (CI must install it: .ci/run).
 */
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, chromiumAvailable as available, launchChromium } from "../helpers/chromium.js";
import { openPeer, startTestDaemon, type Peer, type TestDaemon } from "../helpers/daemon.js";

const inCi = process.env.CI === "true";
if (!available && !inCi) {
  console.warn(`daemon-browser.test.ts skipped: ${CHROMIUM} not found (apt-get install -y chromium); under CI=true this fails instead.`);
}

const TOKEN = "browser-token";
const FILES = 150;

describe.skipIf(!available && !inCi)("dashboard in headless Chromium", () => {
  let td: TestDaemon;
  let peer: Peer;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    if (!available) throw new Error(`CI=true but ${CHROMIUM} is missing: the browser test must run in CI (apt-get install -y chromium).`);
    td = await startTestDaemon({ token: TOKEN });
    peer = await openPeer(td);
    profile = mkdtempSync(join(tmpdir(), "syncd-chromium-"));
    browser = await launchChromium(profile);
    page = await browser.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await peer?.close();
    await td?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("loads with the token from the URL fragment, keeps it, and shows the status", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(`${td.url}/#token=${TOKEN}`);
    await page.locator("#status dt", { hasText: "Unsynced changes" }).waitFor();
    await page.locator("#live", { hasText: "live" }).waitFor();
    expect(new URL(page.url()).hash).toBe(""); // the token does not stay in the address bar
    expect(await page.evaluate("localStorage.getItem('syncd.token')")).toBe(TOKEN);
    expect(await page.locator("#status").textContent()).toContain("daemon");
    expect(errors).toEqual([]); // includes CSP violations
  });

  it("asks for the token when it has none, and works once it is typed", async () => {
    await page.evaluate("localStorage.clear()");
    await page.goto(td.url);
    await page.locator("#auth").waitFor({ state: "visible" });
    await page.fill("#token", TOKEN);
    await page.click("#auth button");
    await page.locator("#status dt", { hasText: "Unsynced changes" }).waitFor();
    await expect.poll(() => page.locator("#auth").isVisible()).toBe(false);
    await page.locator("#live", { hasText: "live" }).waitFor();
  });

  it('"Sync now" shows live progress, then the result', async () => {
    for (let i = 0; i < FILES; i++) {
      const content = Buffer.alloc(32 * 1024, i % 251);
      content.writeUInt32BE(i);
      await td.daemon.library.add({ source: content, name: `bulk/${i}.bin` });
    }
    await page.reload();
    await page.locator("#live", { hasText: "live" }).waitFor();
    // Record what the progress bar shows as it changes (test-side only; page code as a string because
    // the tests are type-checked without the DOM library).
    await page.evaluate(`(() => {
      window.seen = [];
      const bar = document.getElementById("bar");
      const phase = document.getElementById("phase");
      new MutationObserver(() => window.seen.push({ phase: phase.textContent, bar: bar.value }))
        .observe(phase, { childList: true, characterData: true, subtree: true });
    })()`);
    await page.click("#sync-now");
    await page.locator("#result", { hasText: /^done: / }).waitFor({ timeout: 30_000 });
    expect(await page.locator("#result").textContent()).toContain(`${FILES} up`);
    await page.locator("#phase", { hasText: /^completed: / }).waitFor();
    expect(await page.evaluate("document.getElementById('bar').value")).toBe(1000);
    const seen = (await page.evaluate("window.seen")) as Array<{ phase: string; bar: number }>;
    const uploading = seen.filter((s) => s.phase.startsWith("upload "));
    expect(uploading.length).toBeGreaterThan(1);
    expect(uploading.some((s) => s.bar > 0 && s.bar < 1000)).toBe(true);
    expect(seen.map((s) => s.phase.split(" ")[0])).toEqual(expect.arrayContaining(["check", "lock", "plan", "upload", "publish", "completed:"]));
    await expect.poll(() => page.locator("#sync-now").isEnabled()).toBe(true);
    await page.locator("#runs td", { hasText: `${FILES} up` }).first().waitFor();
  });

  it("shows a conflict found by a sync and resolves it with a button", async () => {
    const entry = await td.daemon.library.add({ source: Buffer.from("contested"), name: "contested.txt" });
    await td.json("/api/v1/sync", { method: "POST" });
    await peer.engine.sync();
    peer.library.rename(entry.id, "contested-peer.txt");
    await peer.engine.sync();
    td.daemon.library.rename(entry.id, "contested-daemon.txt");
    await td.json("/api/v1/sync", { method: "POST" }); // holds the conflict (policy manual)

    // The page learns of it from the event stream, without a reload.
    const row = page.locator("#conflicts tr[data-conflict]");
    await row.waitFor();
    expect(await row.textContent()).toContain("contested-daemon.txt");
    expect(await row.textContent()).toContain("contested-peer.txt");
    expect(await row.locator("button").allTextContents()).toEqual(["Keep local", "Keep remote", "Keep both"]);
    await row.locator('button[data-strategy="remote_wins"]').click();
    await page.locator("#conflicts td", { hasText: "no open conflicts" }).waitFor();
    expect(await td.json("/api/v1/sync/conflicts")).toEqual([]);

    // The resolution syncs like any change: both sides end with the remote (peer's) name.
    await td.json("/api/v1/sync", { method: "POST" });
    await peer.engine.sync();
    expect(td.daemon.library.require(entry.id).name).toBe("contested-peer.txt");
    expect(peer.library.require(entry.id).name).toBe("contested-peer.txt");
  });
});
