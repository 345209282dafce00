/**
 * The website QR login in a real browser (Debian's Chromium through playwright-core), two pages in one context: the
 * desktop page clicks "Sign in with WeChat" and gets the emulator's QR page; a second tab plays the phone that scans
 * it (opened from the QR page's scan link), picks a user and taps Allow; the QR page learns it by its poll and lands
 * on the profile. A WeChat user agent clicking the same button gets the Official Account's consent page instead.
 * Saves screenshots to test-artifacts/sample-qr-*.png.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_APP, DEMO_USERS, DEMO_WEB_APP } from 'nestjs-wechat-auth-emulator';
import { useChromium } from './support/chromium.js';
import { ARTIFACTS_DIR } from './support/figures.js';
import { demoCounters, useDemoSampleApp } from './support/sample-app.js';
import { ANDROID_WECHAT_UA } from './wechat-qr-e2e-helpers.js';

const LIHUA = DEMO_USERS.find((user) => user.id === 'lihua')!;

describe('sample app QR login in a real browser (demo mode)', () => {
  const demo = useDemoSampleApp();
  const chromium = useChromium();
  /** The account key the QR login gave the demo user (the second test signs the same person in inside WeChat). */
  let desktopAccount: string | null = null;

  it('desktop: "Sign in with WeChat" shows the QR code; a second tab scans and allows; the first lands on the profile', async () => {
    const context = await chromium.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' });
    const desktop = await context.newPage();
    desktop.setDefaultTimeout(15_000);
    const problems: string[] = [];
    const watch = (label: string, page: typeof desktop) => {
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`${label}: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`${label}: ${error.message}`));
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${label}: ${response.status()} ${response.url()}`);
      });
    };
    watch('desktop', desktop);

    try {
      const before = await demoCounters(demo.sample);
      mkdirSync(ARTIFACTS_DIR, { recursive: true });

      await desktop.goto(demo.sample.url);
      await desktop.screenshot({ path: join(ARTIFACTS_DIR, 'sample-qr-home.png'), fullPage: true });
      await desktop.getByRole('link', { name: /Sign in with WeChat/ }).click();

      // WeChat's QR-login page, played by the emulator mounted at /__wechat.
      await desktop.waitForURL(/\/__wechat\/connect\/qrconnect\?appid=/);
      expect(new URL(desktop.url()).searchParams.get('appid')).toBe(DEMO_WEB_APP.appId);
      await expect(desktop.locator('svg.qr').isVisible()).resolves.toBe(true);
      await expect(desktop.locator('#qr-status').getAttribute('data-status')).resolves.toBe('waiting');
      await desktop.screenshot({ path: join(ARTIFACTS_DIR, 'sample-qr-page.png'), fullPage: true });

      // The "phone": a second tab of the same context, opened from the QR page's scan link.
      const [phone] = await Promise.all([context.waitForEvent('page'), desktop.locator('#qr-scan-link').click()]);
      watch('phone', phone);
      phone.setDefaultTimeout(15_000);
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.waitForLoadState();
      await expect(phone.getByRole('heading', { name: /Confirm login/ }).count()).resolves.toBe(1);

      // The QR page learns about the scan through its long poll.
      await desktop.locator('#qr-status[data-status="scanned"]').waitFor();

      await phone.locator(`input[name="user"][value="${LIHUA.id}"]`).check();
      await phone.screenshot({ path: join(ARTIFACTS_DIR, 'sample-qr-phone.png'), fullPage: true });
      await phone.getByRole('button', { name: /Allow/ }).click();
      await phone.locator('#qr-decision[data-status="confirmed"]').waitFor();

      // The QR page follows the callback by itself and the desktop browser is signed in.
      await desktop.waitForURL(`${demo.sample.url}/profile`);
      await expect(desktop.locator('.nickname').first().textContent()).resolves.toBe(LIHUA.nickname);
      await expect(desktop.locator('dd.via').textContent()).resolves.toBe('网站应用扫码 Website QR login');
      const account = await desktop.locator('dd.account').textContent();
      expect(account).toMatch(/^unionid:o/);
      desktopAccount = account;
      await desktop.screenshot({ path: join(ARTIFACTS_DIR, 'sample-qr-profile.png'), fullPage: true });

      const me = await desktop.request.get(`${demo.sample.url}/api/me`);
      expect(await me.json()).toMatchObject({ appId: DEMO_WEB_APP.appId, nickname: LIHUA.nickname, account });

      const after = await demoCounters(demo.sample);
      expect(after.callbackRequests - before.callbackRequests).toBe(1);
      expect(after.upstreamExchanges! - before.upstreamExchanges!).toBe(1);
      expect(after.sessionsStarted - before.sessionsStarted).toBe(1);

      // No CSP violation, script error or failed request on any page of the flow.
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('inside WeChat the same button opens the Official Account\'s consent page, and the account is the same person', async () => {
    const context = await chromium.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN', userAgent: ANDROID_WECHAT_UA });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    try {
      await page.goto(demo.sample.url);
      await page.getByRole('link', { name: /Sign in with WeChat/ }).click();
      await page.waitForURL(/\/__wechat\/connect\/oauth2\/authorize\?/);
      await page.locator(`input[name="user"][value="${LIHUA.id}"]`).check();
      await page.getByRole('button', { name: /Allow/ }).click();
      await page.waitForURL(`${demo.sample.url}/profile`);
      await expect(page.locator('dd.via').textContent()).resolves.toBe('公众号网页授权 Official Account (in WeChat)');
      // The same demo user signed in through the website app in the previous test: the same account key.
      expect(desktopAccount).toMatch(/^unionid:o/);
      await expect(page.locator('dd.account').textContent()).resolves.toBe(desktopAccount);
      const viaMp = (await (await page.request.get(`${demo.sample.url}/api/me`)).json()) as { account: string; appId: string };
      expect(viaMp).toMatchObject({ account: desktopAccount, appId: DEMO_APP.appId });
    } finally {
      await context.close();
    }
  }, 60_000);
});
