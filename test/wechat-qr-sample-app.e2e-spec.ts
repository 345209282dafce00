/**
 * The sample app with both logins side by side: demo mode (the emulator plays an Official Account and a website
 * app bound to one Open Platform account) and production-style config with WECHAT_WEB_APP_ID pointing at an
 * emulator. "Sign in with WeChat" picks the login by user agent; one person through either app is one account;
 * a snapshot-page user is flagged and never linked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEMO_APP, DEMO_USERS, DEMO_WEB_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { SampleConfigError } from '../apps/sample/src/config/sample-config.js';
import type { DemoCounters } from '../apps/sample/src/demo/demo-counters.service.js';
import type { MeResponse } from '../apps/sample/src/pages/pages.controller.js';
import { consent } from './wechat-auth-e2e-helpers.js';
import { CookieJar, consentAtEmulator } from './sample-e2e-helpers.js';
import { productionSampleEnv, sampleBootError, startSampleOnLoopback, useDemoSampleApp } from './support/sample-app.js';
import { ANDROID_WECHAT_UA, DESKTOP_CHROME_UA, openQrPage, qrLoginAtEmulator, scanAndDecide } from './wechat-qr-e2e-helpers.js';

const LIHUA = DEMO_USERS.find((user) => user.id === 'lihua')!;

/** A browser against the sample app: keeps its cookies, never follows redirects. */
class SampleBrowser {
  readonly jar = new CookieJar();
  constructor(
    private readonly base: string,
    private readonly userAgent = DESKTOP_CHROME_UA,
  ) {}

  async get(pathOrUrl: string, accept = 'application/json'): Promise<{ status: number; location?: string; text: string; json: <T>() => T }> {
    const url = pathOrUrl.startsWith('http') ? new URL(pathOrUrl) : new URL(pathOrUrl, this.base);
    const response = await fetch(`${this.base}${url.pathname}${url.search}`, {
      redirect: 'manual',
      headers: { cookie: this.jar.header(), accept, 'user-agent': this.userAgent },
      signal: AbortSignal.timeout(10_000),
    });
    this.jar.store(response.headers.getSetCookie());
    const text = await response.text();
    const location = response.headers.get('location') ?? undefined;
    return { status: response.status, ...(location ? { location } : {}), text, json: <T>() => JSON.parse(text) as T };
  }

  /** Starts a login at `path` and returns where the app sends the browser (WeChat's page). */
  async start(path: string): Promise<string> {
    const answer = await this.get(path, 'text/html');
    expect(answer.status).toBe(302);
    return answer.location!;
  }

  /** Completes a login at the app's callback; the session cookie is kept. */
  async finish(callbackUrl: URL | string): Promise<void> {
    const answer = await this.get(callbackUrl.toString(), 'text/html');
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/profile');
  }

  async me(): Promise<MeResponse> {
    const answer = await this.get('/api/me');
    expect(answer.status).toBe(200);
    return answer.json<MeResponse>();
  }
}

describe('sample app, demo mode: both logins side by side', () => {
  const demo = useDemoSampleApp();

  it('configures the demo website app next to the demo Official Account', () => {
    expect(demo.sample.config.web).toEqual({
      appId: DEMO_WEB_APP.appId,
      appSecret: DEMO_WEB_APP.appSecret,
      callbackURL: `${demo.base}/auth/wechat/web/callback`,
    });
  });

  it('the home page offers one "Sign in with WeChat" that picks by user agent, and both logins explicitly', async () => {
    const home = await new SampleBrowser(demo.base).get('/', 'text/html');
    expect(home.status).toBe(200);
    expect(home.text.match(/Sign in with WeChat/g)).toHaveLength(1);
    expect(home.text).toContain('<a class="btn primary" href="/auth/wechat/auto">使用微信登录 Sign in with WeChat</a>');
    expect(home.text).toContain('href="/auth/wechat"');
    expect(home.text).toContain('href="/auth/wechat/web"');
  });

  it('"Sign in with WeChat": the Official Account inside WeChat, the QR login on a desktop browser', async () => {
    const inWechat = new URL(await new SampleBrowser(demo.base, ANDROID_WECHAT_UA).start('/auth/wechat/auto?returnTo=/api/me'));
    expect(`${inWechat.origin}${inWechat.pathname}`).toBe(`${demo.base}/__wechat/connect/oauth2/authorize`);
    expect(inWechat.searchParams.get('appid')).toBe(DEMO_APP.appId);

    const desktop = new URL(await new SampleBrowser(demo.base).start('/auth/wechat/auto?returnTo=/api/me'));
    expect(`${desktop.origin}${desktop.pathname}`).toBe(`${demo.base}/__wechat/connect/qrconnect`);
    expect(desktop.searchParams.get('appid')).toBe(DEMO_WEB_APP.appId);
    expect(desktop.searchParams.get('redirect_uri')).toBe(`${demo.base}/auth/wechat/web/callback`);
    expect(desktop.searchParams.get('scope')).toBe('snsapi_login');

    // The explicit buttons do what they say, whatever the browser.
    expect(new URL(await new SampleBrowser(demo.base, ANDROID_WECHAT_UA).start('/auth/wechat/web')).pathname).toBe('/__wechat/connect/qrconnect');
    expect(new URL(await new SampleBrowser(demo.base).start('/auth/wechat')).pathname).toBe('/__wechat/connect/oauth2/authorize');
  });

  it('a QR login signs the desktop browser in; the same person inside WeChat is the same account', async () => {
    const desktop = new SampleBrowser(demo.base);
    await desktop.finish(await qrLoginAtEmulator(await desktop.start('/auth/wechat/auto'), { user: 'lihua' }));
    const viaQr = await desktop.me();
    expect(viaQr).toMatchObject({ appId: DEMO_WEB_APP.appId, nickname: LIHUA.nickname });
    expect(viaQr.account).toBe(`unionid:${viaQr.unionid}`);

    const phone = new SampleBrowser(demo.base, ANDROID_WECHAT_UA);
    await phone.finish(await consentAtEmulator(await phone.start('/auth/wechat/auto'), { user: 'lihua' }));
    const viaMp = await phone.me();
    expect(viaMp.appId).toBe(DEMO_APP.appId);
    expect(viaMp.openid).not.toBe(viaQr.openid);
    expect(viaMp.account).toBe(viaQr.account);

    const profile = await desktop.get('/profile', 'text/html');
    expect(profile.text).toContain('<dd class="via">网站应用扫码 Website QR login</dd>');
    expect(profile.text).toContain(`<dd class="account">${viaQr.account}</dd>`);
  });

  it('a snapshot-page user is flagged and keyed apart from the real account', async () => {
    const real = new SampleBrowser(demo.base, ANDROID_WECHAT_UA);
    await real.finish(await consentAtEmulator(await real.start('/auth/wechat'), { user: 'panda' }));
    const snapshot = new SampleBrowser(demo.base, ANDROID_WECHAT_UA);
    await snapshot.finish(await consent(await snapshot.start('/auth/wechat'), { action: 'allow', user: 'panda', snapshot: true }));
    const me = await snapshot.me();
    expect(me.snapshot).toBe(true);
    expect(me.account).toBe(`snapshot:${DEMO_APP.appId}:${me.openid}`);
    expect(me.account).not.toBe((await real.me()).account);
    expect((await snapshot.get('/profile', 'text/html')).text).toContain('Snapshot-page virtual user: not a real person');
  });

  it('a failed QR callback offers to start the QR login again', async () => {
    const answer = await new SampleBrowser(demo.base).get('/auth/wechat/web/callback?code=abc&state=abc', 'text/html');
    expect(answer.status).toBe(401);
    expect(answer.text).toContain('href="/auth/wechat/web"');
  });

  it('counts both apps\' exchanges in the demo panel', async () => {
    const read = async () => (await new SampleBrowser(demo.base).get('/demo/counters')).json<DemoCounters>();
    const before = await read();
    const desktop = new SampleBrowser(demo.base);
    const callback = await qrLoginAtEmulator(await desktop.start('/auth/wechat/web'));
    await Promise.all([desktop.finish(callback), desktop.finish(callback)]);
    const after = await read();
    expect(after.callbackRequests - before.callbackRequests).toBe(2);
    expect(after.upstreamExchanges! - before.upstreamExchanges!).toBe(1);
    expect(after.duplicatesCoalesced - before.duplicatesCoalesced).toBe(1);
    expect(after.sessionsStarted - before.sessionsStarted).toBe(2);
  });

  it('the phone denying leaves the desktop browser signed out', async () => {
    const desktop = new SampleBrowser(demo.base);
    const outcome = await scanAndDecide(await openQrPage(await desktop.start('/auth/wechat/web')), { action: 'deny' });
    expect(outcome.status).toBe('denied');
    expect((await desktop.get('/api/me')).status).toBe(401);
  });
});

describe('sample app, production config with a website app (WECHAT_WEB_APP_ID)', () => {
  let emulator: WechatEmulator;
  let origin: string;

  beforeAll(async () => {
    emulator = new WechatEmulator({ apps: [{ ...DEMO_APP }, { ...DEMO_WEB_APP }] });
    origin = await emulator.listen();
  });

  afterAll(async () => {
    await emulator?.close();
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return productionSampleEnv(origin, extra);
  }

  it('signs in through the website app with its own AppID and callback URL; sessions of both apps are accepted', async () => {
    const { sample, base } = await startSampleOnLoopback(env({ WECHAT_WEB_APP_ID: DEMO_WEB_APP.appId, WECHAT_WEB_APP_SECRET: DEMO_WEB_APP.appSecret }));
    try {
      expect(sample.config.web?.callbackURL).toBe(`http://localhost:${sample.config.port}/auth/wechat/web/callback`);
      const desktop = new SampleBrowser(base);
      const qr = new URL(await desktop.start('/auth/wechat/auto'));
      expect(`${qr.origin}${qr.pathname}`).toBe(`${origin}/connect/qrconnect`);
      expect(qr.searchParams.get('appid')).toBe(DEMO_WEB_APP.appId);
      await desktop.finish(await qrLoginAtEmulator(qr.toString(), { user: 'zoe' }));
      expect((await desktop.me()).appId).toBe(DEMO_WEB_APP.appId);

      const phone = new SampleBrowser(base, ANDROID_WECHAT_UA);
      await phone.finish(await consentAtEmulator(await phone.start('/auth/wechat/auto'), { user: 'zoe' }));
      expect((await phone.me()).account).toBe((await desktop.me()).account);
    } finally {
      await sample.close();
    }
  });

  it('without a website app: "Sign in with WeChat" is the Official Account login, and the QR routes do not exist', async () => {
    const { sample, base } = await startSampleOnLoopback(env());
    try {
      const home = await new SampleBrowser(base).get('/', 'text/html');
      expect(home.text).toContain('<a class="btn primary" href="/auth/wechat">使用微信登录 Sign in with WeChat</a>');
      expect(home.text).not.toContain('/auth/wechat/web');
      expect(new URL(await new SampleBrowser(base).start('/auth/wechat/auto')).pathname).toBe('/connect/oauth2/authorize');
      expect((await new SampleBrowser(base).get('/auth/wechat/web')).status).toBe(404);
    } finally {
      await sample.close();
    }
  });

  it.each([
    ['an AppID without its secret', { WECHAT_WEB_APP_ID: DEMO_WEB_APP.appId }, /WECHAT_WEB_APP_SECRET is required/],
    ['a malformed AppID', { WECHAT_WEB_APP_ID: 'web', WECHAT_WEB_APP_SECRET: DEMO_WEB_APP.appSecret }, /WECHAT_WEB_APP_ID must be the Open Platform website app's AppID/],
    ["the Official Account's AppID", { WECHAT_WEB_APP_ID: DEMO_APP.appId, WECHAT_WEB_APP_SECRET: DEMO_WEB_APP.appSecret }, /WECHAT_WEB_APP_ID is the Official Account's AppID/],
    ['a malformed secret', { WECHAT_WEB_APP_ID: DEMO_WEB_APP.appId, WECHAT_WEB_APP_SECRET: 'not-the-secret' }, /WECHAT_WEB_APP_SECRET must be the 32 letters/],
    ['a secret without an AppID', { WECHAT_WEB_APP_SECRET: DEMO_WEB_APP.appSecret }, /set the website app's AppID too/],
    ['a non-http callback URL', { WECHAT_WEB_APP_ID: DEMO_WEB_APP.appId, WECHAT_WEB_APP_SECRET: DEMO_WEB_APP.appSecret, WECHAT_WEB_CALLBACK_URL: 'ftp://x' }, /WECHAT_WEB_CALLBACK_URL must use http or https/],
  ])('refuses a half or wrong website app: %s', async (_what, extra, message) => {
    const error = await sampleBootError(env(extra));
    expect(error).toBeInstanceOf(SampleConfigError);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('not-the-secret');
  });

  it('refuses website app variables in demo mode', async () => {
    const error = await sampleBootError({ PORT: '0', WECHAT_WEB_APP_ID: DEMO_WEB_APP.appId });
    expect(error.message).toMatch(/WECHAT_WEB_APP_ID is set but WECHAT_APP_ID is not/);
  });
});
