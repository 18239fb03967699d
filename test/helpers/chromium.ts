/**
 * Headless Debian `chromium` driven by playwright-core (no browser download), for the browser tests.
 * Without it they are skipped locally, but fail under CI=true (CI must install it: .ci/run).
 */
import { existsSync, mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";

// Overridable only to check the skip/fail logic itself.
export const CHROMIUM = process.env.SYNCD_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);
/** For describe.skipIf: without chromium a browser test is skipped, except under CI=true, where it fails. */
export const chromiumSkipped = !chromiumAvailable && process.env.CI !== "true";

/** A running browser; close() also removes its profile folder. */
export interface Chromium {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** A browser with a profile folder of its own, without the background traffic a fresh profile starts. */
export async function launchChromium(): Promise<Chromium> {
  if (!chromiumAvailable) throw new Error(`CI=true but ${CHROMIUM} is missing: the browser test must run in CI (apt-get install -y chromium).`);
  const profile = mkdtempSync(join(tmpdir(), "syncd-chromium-"));
  const removeProfile = () => rm(profile, { recursive: true, force: true });
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    })
    .catch(async (err: unknown) => {
      await removeProfile();
      throw err;
    });
  return {
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await removeProfile();
    },
  };
}
