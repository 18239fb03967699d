/**
 * Headless Debian `chromium` driven by playwright-core (no browser download), for the browser tests.
 * Without it they are skipped locally, but fail under CI=true (CI must install it: .ci/run).
 */
import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";

// Overridable only to check the skip/fail logic itself.
export const CHROMIUM = process.env.SYNCD_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

/** A browser with its own profile folder, without the background traffic a fresh profile starts. */
export function launchChromium(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
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
  });
}
