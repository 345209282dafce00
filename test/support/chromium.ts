/**
 * Debian's Chromium driven through playwright-core, for the tests that click through the sample app in a real
 * browser.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Launches headless Chromium (no sandbox, no GPU, nothing talking to the network on its own), or fails with what to
 * install when it is missing: the browser tests never skip silently.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium" (.ci/run does this in CI).`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
}

/**
 * Launches Chromium ({@link launchChromium}) before the tests of the describe block that calls this, and closes it
 * after them. `browser` is set once the block's `beforeAll` hooks have run: read it inside tests.
 */
export function useChromium(): { browser: Browser } {
  const launched = {} as { browser: Browser };
  beforeAll(async () => {
    launched.browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await launched.browser?.close();
  });
  return launched;
}
