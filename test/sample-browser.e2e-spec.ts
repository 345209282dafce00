/**
 * A real browser (Debian's Chromium through playwright-core) clicks through the demo: "Sign in with WeChat", the
 * emulator's consent page with the Android duplicate-callback simulation ticked, "Allow", and lands on the profile
 * with the right nickname. The callback was hit twice and the code exchanged once. Saves a screenshot of the
 * profile page to test-artifacts/sample-profile.png.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_USERS } from 'nestjs-wechat-auth-emulator';
import { useChromium } from './support/chromium.js';
import { ARTIFACTS_DIR } from './support/figures.js';
import { demoCounters, useDemoSampleApp } from './support/sample-app.js';
import { ANDROID_WECHAT_UA } from './wechat-qr-e2e-helpers.js';

const ZOE = DEMO_USERS.find((user) => user.id === 'zoe')!;

describe('sample app in a real browser (demo mode)', () => {
  const demo = useDemoSampleApp();
  const chromium = useChromium();

  it('signs in through the consent page with the Android double hit and shows the profile', async () => {
    const context = await chromium.browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      locale: 'zh-CN',
      // The Android WeChat client's in-app browser: there "Sign in with WeChat" picks the Official Account login.
      userAgent: ANDROID_WECHAT_UA,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('response', (response) => {
      // 401 from /api/me after logout is expected and asked for below through page.request, not the page.
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });

    try {
      const before = await demoCounters(demo.sample);

      await page.goto(demo.sample.url);
      await page.getByRole('link', { name: /Sign in with WeChat/ }).click();

      // WeChat's consent page, played by the emulator mounted at /__wechat.
      await page.waitForURL(/\/__wechat\/connect\/oauth2\/authorize\?/);
      await page.locator(`input[name="user"][value="${ZOE.id}"]`).check();
      await page.getByLabel(/Simulate Android duplicate callback/).check();
      await page.getByRole('button', { name: /Allow/ }).click();

      await page.waitForURL(`${demo.sample.url}/profile`);
      await expect(page.locator('.nickname').first().textContent()).resolves.toBe(ZOE.nickname);
      await expect(page.title()).resolves.toContain(ZOE.nickname);
      // The nickname's markup is text: no <b> element was created from it.
      expect(await page.locator('.nickname b').count()).toBe(0);
      const avatar = page.locator('img.avatar').first();
      await expect(avatar.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0)).resolves.toBe(true);

      // The callback was hit twice (the aborted background request, then the visible one), the code exchanged once.
      const after = await demoCounters(demo.sample);
      expect(after.callbackRequests - before.callbackRequests).toBe(2);
      expect(after.upstreamExchanges! - before.upstreamExchanges!).toBe(1);
      expect(after.duplicatesCoalesced - before.duplicatesCoalesced).toBe(1);

      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'sample-profile.png'), fullPage: true });

      // The API sees the same session.
      const me = await page.request.get(`${demo.sample.url}/api/me`);
      expect(me.status()).toBe(200);
      expect((await me.json()).nickname).toBe(ZOE.nickname);

      // The home page shows the counters; "Sign out" (a same-origin form post) ends the session.
      await page.goto(demo.sample.url);
      await expect(page.getByText('Upstream exchanges').count()).resolves.toBe(1);
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'sample-home.png'), fullPage: true });
      await page.getByRole('button', { name: /Sign out/ }).click();
      await page.waitForURL(`${demo.sample.url}/`);
      await expect(page.getByRole('link', { name: /Sign in with WeChat/ }).count()).resolves.toBe(1);
      expect((await page.request.get(`${demo.sample.url}/api/me`)).status()).toBe(401);

      // No CSP violation or script error on any of the app's pages.
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
