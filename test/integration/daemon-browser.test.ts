/**
 * The dashboard in a real browser: headless Debian `chromium` driven by playwright-core, against real
 * daemons and a second instance syncing through the daemon's embedded share. Everything asserted is what
 * a person sees on the page (its text, its buttons, its width), with a screenshot of each state saved to
 * a temp folder. Without chromium the test is skipped locally, but fails under CI=true (CI must install it).
 *
 * The last part moves a 1 GiB file through a shaped link (bench/lib/shaping-proxy.mjs) and watches the
 * page while it is in flight: bytes between 0 and 1 GiB, a rate, the time left, the entry's name, and a
 * bar that advances; then the daemon is stopped, which stops the run's requests at once.
 */
import { mkdtempSync, statSync } from "node:fs";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startShapingProxy, type ShapingProxy } from "../../bench/lib/shaping-proxy.mjs";
import { CHROMIUM, chromiumSkipped, launchChromium, type Chromium } from "../helpers/chromium.js";
import { openPeer, startTestDaemon, type Peer, type TestDaemon } from "../helpers/daemon.js";

if (chromiumSkipped) {
  console.warn(`daemon-browser.test.ts skipped: ${CHROMIUM} not found (apt-get install -y chromium); under CI=true this fails instead.`);
}

const TOKEN = "browser-token";
const FILES = 150;
const GiB = 1024 ** 3;
const shots = mkdtempSync(join(tmpdir(), "syncd-dashboard-shots-"));
const keepShots = process.env.SYNCD_TEST_KEEP_SCREENSHOTS === "1";

interface EntryJson {
  id: string;
  name: string;
  deleted: boolean;
  meta: Record<string, unknown>;
}

// Screenshots stay for a person to look at with SYNCD_TEST_KEEP_SCREENSHOTS=1; the tests check each was written.
afterAll(async () => {
  if (keepShots) console.info(`dashboard screenshots: ${shots}`);
  else await rm(shots, { recursive: true, force: true });
});

/** A screenshot of the whole page, kept for a person to look at; the test checks it was written. */
async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  expect(statSync(path).size).toBeGreaterThan(1000);
}

/** The page's width against the window's: a page wider than its window scrolls sideways. */
async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return (await page.evaluate("({ scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth })")) as {
    scrollWidth: number;
    innerWidth: number;
  };
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return errors;
}

/** A new page on the daemon's dashboard, given the token in the URL fragment, once its event stream is live. */
async function openDashboard(browser: Chromium, td: TestDaemon): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${td.url}/#token=${TOKEN}`);
  await page.locator("#live", { hasText: "live" }).waitFor();
  return { page, errors };
}

describe.skipIf(chromiumSkipped)("dashboard in headless Chromium", () => {
  let td: TestDaemon;
  let peer: Peer;
  let browser: Chromium;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    td = await startTestDaemon({ token: TOKEN });
    peer = await openPeer(td);
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    errors = watchErrors(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await peer?.close();
    await td?.close();
  });

  it("loads with the token from the URL fragment, keeps it, and says in words where things stand", async () => {
    await page.goto(`${td.url}/#token=${TOKEN}`);
    await page.locator("#live", { hasText: "live" }).waitFor();
    expect(new URL(page.url()).hash).toBe(""); // the token does not stay in the address bar
    expect(await page.evaluate("localStorage.getItem('syncd.token')")).toBe(TOKEN);
    await page.locator("#state", { hasText: "Not synced yet." }).waitFor();
    expect(await page.locator("#instance").textContent()).toBe("daemon");
    await td.json("/api/v1/sync", { method: "POST" });
    await page.locator("#state", { hasText: /^In sync$/ }).waitFor();
    await page.locator("#state-detail", { hasText: /^0 entries · last synced just now · next check at / }).waitFor();
    const text = await page.locator("body").innerText();
    expect(text).not.toMatch(/Local version|exit code|local_wins|remote_wins/);
    expect(await page.locator("#transfer").isVisible()).toBe(false); // no bar while idle
    await screenshot(page, "in-sync");
    expect(errors).toEqual([]); // includes CSP violations
  });

  it("asks for the token when it has none, and works once it is typed", async () => {
    await page.evaluate("localStorage.clear()");
    await page.goto(td.url);
    await page.locator("#auth").waitFor({ state: "visible" });
    await page.fill("#token", TOKEN);
    await page.click("#auth button");
    await page.locator("#state", { hasText: /^In sync$/ }).waitFor();
    await expect.poll(() => page.locator("#auth").isVisible()).toBe(false);
    await page.locator("#live", { hasText: "live" }).waitFor();
    errors.length = 0; // the page's requests before it had the token were refused, as they should be
  });

  it('"Sync now" shows the transfer by bytes with a bar that only moves forward, then the result once', async () => {
    for (let i = 0; i < FILES; i++) {
      const content = Buffer.alloc(32 * 1024, i % 251);
      content.writeUInt32BE(i);
      await td.daemon.library.add({ source: content, name: `bulk/${i}.bin` });
    }
    await page.reload();
    await page.locator("#state", { hasText: "Changes waiting to sync." }).waitFor();
    expect(await page.locator("#state-detail").textContent()).toMatch(/^150 entries · last synced just now · 150 changes here waiting to sync · /);
    // Record what the transfer box shows as it changes (test-side only; page code as a string because the
    // tests are type-checked without the DOM library).
    await page.evaluate(`(() => {
      window.seen = [];
      const note = () => window.seen.push({
        state: document.getElementById("state").textContent,
        text: document.getElementById("transfer-text").textContent,
        bar: document.getElementById("bar").value,
        visible: !document.getElementById("transfer").classList.contains("hidden"),
      });
      for (const id of ["state", "state-detail", "transfer-text"]) {
        new MutationObserver(note).observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });
      }
    })()`);
    await page.click("#sync-now");
    await page.locator("#result", { hasText: `Last sync: ${FILES} uploaded` }).waitFor({ timeout: 30_000 });
    await page.locator("#state", { hasText: /^In sync$/ }).waitFor();
    const seen = (await page.evaluate("window.seen")) as Array<{ state: string; text: string; bar: number; visible: boolean }>;
    expect(seen.some((s) => s.state === "Syncing…")).toBe(true);
    const moving = seen.filter((s) => s.visible && s.text.startsWith("Uploading"));
    expect(moving.length).toBeGreaterThan(1);
    expect(moving.some((s) => s.bar > 0 && s.bar < 1000)).toBe(true);
    expect(moving.some((s) => / of 4\.7 MiB/.test(s.text))).toBe(true);
    // Once shown, the bar never goes back within the run (it used to restart at 0 with every phase).
    const bars = seen.filter((s) => s.visible).map((s) => s.bar);
    expect(bars).toEqual([...bars].sort((a, b) => a - b));
    // Idle again: no bar, and the result said once.
    expect(await page.locator("#transfer").isVisible()).toBe(false);
    expect(await page.locator("#sync-now").isEnabled()).toBe(true);
    const body = await page.locator("body").innerText();
    expect(body.split(`${FILES} uploaded`).length - 1).toBe(2); // the result line and its row in the history
    expect(await page.locator("#runs li", { hasText: `${FILES} uploaded` }).count()).toBe(1);
    await screenshot(page, "after-sync");
  });

  it("folds consecutive idle checks into one row of the history", async () => {
    for (let i = 0; i < 5; i++) await td.json("/api/v1/sync", { method: "POST" });
    await page.reload();
    const folded = page.locator("#runs li[data-folded]").first();
    await folded.waitFor();
    expect(await folded.textContent()).toMatch(/^5 checks, nothing to do, \d\d?:\d\d( [AP]M)?–\d\d?:\d\d( [AP]M)?$/);
    // The run before them stays a row of its own.
    const rows = await page.locator("#runs li").allTextContents();
    expect(rows[1]).toContain(`${FILES} uploaded`);
    await screenshot(page, "history");
  });

  it("finds entries by name, lists the recently changed first, and restores a deleted one", async () => {
    const report = await td.daemon.library.add({ source: Buffer.from("annual report"), name: "papers/annual-report-2021.pdf" });
    await td.daemon.library.add({ source: Buffer.from("minutes"), name: "papers/minutes.txt" });
    await td.json("/api/v1/sync", { method: "POST" }); // the share keeps the content a restore brings back
    await page.reload();
    // Recently changed is the first view: the newest first.
    await page.locator("#entries tr[data-entry]").first().waitFor();
    expect(await page.locator("#entries tr[data-entry] td.name").first().textContent()).toBe("papers/minutes.txt");
    await page.fill("#search", "ANNUAL");
    await expect.poll(() => page.locator("#entries tr[data-entry] td.name").allTextContents()).toEqual(["papers/annual-report-2021.pdf"]);
    await page.fill("#search", "no such thing");
    await page.locator("#entries td", { hasText: "Nothing matches “no such thing”." }).waitFor();
    await page.fill("#search", "");

    td.daemon.library.remove(report.id);
    await page.click('#views button[data-view="deleted"]');
    const row = page.locator(`#entries tr[data-entry="${report.id}"]`);
    await row.waitFor();
    expect(await row.locator("td.name").textContent()).toBe("papers/annual-report-2021.pdf");
    await screenshot(page, "deleted");
    await row.locator("button", { hasText: "Restore" }).click();
    await page.locator("#library-msg", { hasText: "Restored papers/annual-report-2021.pdf; it syncs with the next run." }).waitFor();
    await page.locator("#entries td", { hasText: "No deleted entries." }).waitFor();
    expect(td.daemon.library.require(report.id).deleted).toBe(false);
    await page.locator("#state", { hasText: "Changes waiting to sync." }).waitFor();
  });

  it("shows each conflict's differing values side by side and resolves it with each of the three choices", async () => {
    const strategies = ["local_wins", "remote_wins", "keep_both"] as const;
    const ids: Record<string, string> = {};
    for (const s of strategies) ids[s] = (await td.daemon.library.add({ source: Buffer.from(s), name: `thesis-${s}.pdf`, meta: { year: 2000, title: "Thesis" } })).id;
    await td.json("/api/v1/sync", { method: "POST" });
    await peer.engine.sync();
    for (const s of strategies) peer.library.updateMeta(ids[s] as string, { set: { year: 2021 } });
    await peer.engine.sync();
    for (const s of strategies) td.daemon.library.updateMeta(ids[s] as string, { set: { year: 1999 } });
    await td.json("/api/v1/sync", { method: "POST" }); // holds the conflicts (policy manual)
    await page.reload();

    await page.locator("#state", { hasText: "Needs attention: 3 conflicts to resolve below." }).waitFor();
    for (const s of strategies) {
      const card = page.locator(".conflict", { hasText: `thesis-${s}.pdf` });
      await card.waitFor();
      const year = card.locator('tr[data-field="year"]');
      expect(await year.locator("td.local").textContent()).toBe("1999");
      expect(await year.locator("td.remote").textContent()).toBe("2021");
      expect(await year.getAttribute("class")).toBe("differs");
      expect(await card.locator('tr[data-field="title"]').count()).toBe(0); // equal on both sides: not shown
      expect(await card.locator('tr[data-field="Name"] td.local').textContent()).toBe(`thesis-${s}.pdf`);
      expect(await card.locator("th").allTextContents()).toContain("The share (from peer)");
      expect(await card.locator("button").allTextContents()).toEqual(["This machine's", "The share's", "Both (as two entries)"]);
    }
    await screenshot(page, "conflicts");
    await page.setViewportSize({ width: 375, height: 800 });
    const narrow = await overflow(page);
    expect(narrow.scrollWidth).toBeLessThanOrEqual(narrow.innerWidth);
    await screenshot(page, "conflicts-375");
    await page.setViewportSize({ width: 1280, height: 900 });

    for (const s of strategies) {
      await page.locator(".conflict", { hasText: `thesis-${s}.pdf` }).locator(`button[data-strategy="${s}"]`).click();
      await page.locator(".conflict", { hasText: `thesis-${s}.pdf` }).waitFor({ state: "detached" });
    }
    await page.locator("#conflicts p", { hasText: "No conflicts." }).waitFor();
    expect(await td.json("/api/v1/sync/conflicts")).toEqual([]);
    await td.json("/api/v1/sync", { method: "POST" }); // a resolution takes effect as a change, synced
    expect(td.daemon.library.require(ids.local_wins as string).meta.year).toBe(1999);
    expect(td.daemon.library.require(ids.remote_wins as string).meta.year).toBe(2021);
    expect(td.daemon.library.require(ids.keep_both as string).meta.year).toBe(2021);
    // keep_both: this machine's side lives on as a second entry, which the library shows.
    await page.fill("#search", "thesis-keep_both");
    await expect.poll(() => page.locator("#entries tr[data-entry]").count()).toBe(2);
    const copies = await td.json<EntryJson[]>("/api/v1/files?q=thesis-keep_both");
    expect(copies.map((e) => e.meta.year).sort()).toEqual([1999, 2021]);
    await page.fill("#search", "");
  });

  it("lists the machines sharing the library with when each was last seen", async () => {
    await td.json("/api/v1/sync", { method: "POST" });
    await page.reload();
    const items = page.locator("#instances li");
    await expect.poll(() => items.count()).toBe(2);
    expect(await items.nth(0).textContent()).toMatch(/^daemon \(this machine\)last published a change just now \(share version \d+\)$/);
    expect(await items.nth(1).textContent()).toMatch(/^peerlast published a change (just now|1 minute ago) \(share version \d+\)$/);
  });

  it("tells how to connect another machine, without the secret", async () => {
    const invite = page.locator("#invite");
    await invite.locator("pre").first().waitFor();
    const text = (await invite.textContent()) ?? "";
    expect(text).toContain("(umask 077 && head -n 1 > syncd-share.password)");
    expect(text).toContain(`syncd init --url http://127.0.0.1:${td.daemon.port}/dav --root /syncd --user syncd --password-file syncd-share.password`);
    expect(text).toContain("syncd sync");
    expect(text).toContain("the daemon listens on 127.0.0.1 only"); // the warning buildInvite gives
    expect(text).not.toContain(TOKEN);
    expect(JSON.stringify(await td.json("/api/v1/invite"))).not.toContain(TOKEN);
    await screenshot(page, "invite");
  });

  it("does not scroll sideways at 1280 px nor at phone width, with a very long name", async () => {
    const long = `${"a-very-long-folder-name-without-a-break-".repeat(4)}${"x".repeat(300)}.pdf`;
    await td.daemon.library.add({ source: Buffer.from("long"), name: long });
    await page.reload();
    await page.locator("#entries td.name", { hasText: long }).waitFor();
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: 800 });
      const o = await overflow(page);
      expect(o.scrollWidth).toBeLessThanOrEqual(o.innerWidth);
      await screenshot(page, `long-name-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(errors).toEqual([]);
  });
});

describe.skipIf(chromiumSkipped)("dashboard of a daemon whose share refuses it", () => {
  let server: Server;
  let td: TestDaemon;
  let browser: Chromium;

  beforeAll(async () => {
    // Every request answered 403: the run fails with a message that names the (very long) share folder.
    server = createServer((_req, res) => res.writeHead(403).end("forbidden"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    td = await startTestDaemon({ token: TOKEN, webdav: { url, root: `/${"unbroken".repeat(50)}` } });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await td?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it("says it needs attention, with the long error wrapped at 1280 px and at 375 px", async () => {
    await td.api("/api/v1/sync", { method: "POST" });
    const { page, errors } = await openDashboard(browser, td);
    await page.locator("#state", { hasText: "Needs attention: the last sync failed." }).waitFor();
    const reason = (await page.locator("#state-reason").textContent()) ?? "";
    expect(reason).toContain("unbroken".repeat(50));
    expect(reason).toContain("403 Forbidden");
    // Said once at the top (the history keeps its own row), not repeated as a result line.
    expect(await page.locator("#result").textContent()).toBe("");
    await page.locator("#runs li", { hasText: "failed: " }).waitFor();
    // The invitation explains why there is none: this daemon syncs to another server.
    await page.locator("#invite p", { hasText: "not to an embedded share" }).waitFor();
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: 800 });
      const o = await overflow(page);
      expect(o.scrollWidth).toBeLessThanOrEqual(o.innerWidth);
      await screenshot(page, `long-error-${width}`);
    }
    expect(errors).toEqual([]);
  });
});

describe.skipIf(chromiumSkipped)("dashboard of a daemon whose share another machine has locked", () => {
  let td: TestDaemon;
  let browser: Chromium;

  beforeAll(async () => {
    td = await startTestDaemon({ token: TOKEN, sync: { lockWaitSeconds: 5 } });
    // Another instance's claim on the share's lock, as it would write it (SPEC §3), straight into the
    // embedded share's folder: it holds the lock for a minute.
    const lockDir = join(td.config.dataDir, "share", "syncd", "version.txt.lock");
    await mkdir(lockDir, { recursive: true });
    const claim = { token: "other", instance: "office-pc", host: "office", pid: 1, ttlMs: 60_000, acquiredAt: new Date().toISOString() };
    await writeFile(join(lockDir, "other.json"), JSON.stringify(claim));
    await td.daemon.library.add({ source: Buffer.from("waiting"), name: "waiting.txt" });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await td?.close();
  });

  it("says who it waits for, then that another machine is syncing and when it retries, never an exit code", async () => {
    const { page, errors } = await openDashboard(browser, td);
    const run = td.api("/api/v1/sync", { method: "POST" });
    await page.locator("#state-detail", { hasText: /^Waiting for office-pc \(office\) to finish syncing; giving up in \d+ s\.$/ }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#state").textContent()).toBe("Syncing…");
    await screenshot(page, "lock-wait");
    expect((await run).status).toBe(503);
    await page.locator("#state", { hasText: /^Another machine is syncing; will retry at .+\.$/ }).waitFor();
    await page.locator("#runs li", { hasText: /^\S+( [AP]M)? · another machine was syncing; retried later\.$/ }).waitFor();
    const text = await page.locator("body").innerText();
    expect(text).not.toMatch(/exit code|75|try again later|lock-busy/);
    expect(await page.locator("#result").textContent()).toBe("");
    await screenshot(page, "lock-busy");
    expect(errors).toEqual([]);
  });
});

describe.skipIf(chromiumSkipped)("dashboard while a 1 GiB file is in flight", () => {
  let share: TestDaemon;
  let proxy: ShapingProxy;
  let td: TestDaemon;
  let browser: Chromium;
  let big: string;

  beforeAll(async () => {
    // The share: another daemon's embedded share, reached through a link shaped to 200 Mbit/s up, so that
    // a gigabyte takes ~45 s to cross: long enough to watch, and opened up once watched.
    share = await startTestDaemon({ name: "share", token: "share-token" });
    proxy = await startShapingProxy({ target: share.daemon.shareUrl as string, upMbit: 200, downMbit: 0, rttMs: 0, records: false });
    td = await startTestDaemon({ token: TOKEN, webdav: { url: proxy.url, username: "syncd", password: "share-token", timeoutMs: 60_000 } });
    // A sparse gigabyte: no disk written for the source, and quick to read.
    big = join(td.dir, "big.bin");
    const f = await open(big, "w");
    await f.truncate(GiB);
    await f.close();
    await td.daemon.library.add({ source: big, name: "video/holiday-2021.mkv" });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await td?.close();
    await proxy?.close();
    await share?.close();
  });

  it("shows bytes, rate, time left and the entry while it uploads, with the bar advancing", async () => {
    const { page, errors } = await openDashboard(browser, td);
    const run = td.json("/api/v1/sync", { method: "POST" });
    run.catch(() => {}); // awaited below

    const text = page.locator("#transfer-text");
    const bar = async () => (await page.evaluate("document.getElementById('bar').value")) as number;
    // In flight: some bytes but not all, a rate and the time left. (Polled from here: the page's CSP
    // forbids the string evaluation that waitForFunction would need.)
    const inFlight = / · [1-9][0-9.]* [KMG]iB of 1\.0 GiB · .*\/s · about .* left$/;
    await expect.poll(() => text.textContent(), { timeout: 60_000, interval: 100 }).toMatch(inFlight);
    const first = (await text.textContent()) ?? "";
    expect(first).toMatch(/^Uploading 1 file: 0 done · /);
    expect(first).not.toContain("1.0 GiB of 1.0 GiB");
    expect(await page.locator("#transfer-current").textContent()).toBe("video/holiday-2021.mkv");
    expect(await page.locator("#state").textContent()).toBe("Syncing…");
    const bar1 = await bar();
    expect(bar1).toBeGreaterThan(0);
    expect(bar1).toBeLessThan(1000);
    await screenshot(page, "gigabyte-in-flight");
    // It advances while the file is still in flight.
    await expect.poll(bar, { timeout: 30_000, interval: 100 }).toBeGreaterThan(bar1);
    expect(await bar()).toBeLessThan(1000);
    expect(await text.textContent()).toMatch(inFlight);
    expect(await text.textContent()).not.toBe(first);

    expect(errors).toEqual([]);

    // Watched: stop the daemon rather than wait for the rest of the gigabyte (tens of seconds on a loaded
    // machine). Its run stops its requests at once and says so; nothing half-done is published.
    await td.close();
    await expect(run).rejects.toThrow(/"code":"aborted"/);
  }, 180_000);
});
