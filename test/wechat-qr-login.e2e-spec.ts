/**
 * The website QR login (Open Platform website app, `flow: 'website-qr'`) over real HTTP against the emulator: the
 * qrconnect redirect in WeChat's parameter order, the whole scan-and-confirm flow, duplicates and replays, the
 * 10-minute code, re-authorization, the embedded-QR (wxLogin.js) parameters, and the options that fail the boot.
 */
import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Query, Redirect, Res, UseGuards } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Response } from 'express';
import {
  WechatAuth,
  WechatAuthGuard,
  WechatAuthModule,
  WechatAuthOptionsError,
  WechatQrStrategy,
  WechatReturnTo,
  WechatStrategies,
  WechatStrategy,
  WechatUser,
  type WechatAuthOptions,
  type WechatAuthUser,
  type WxLoginOptions,
} from 'nestjs-wechat-auth';
import { DEMO_APP, DEMO_WEB_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { Browser, exposeUser, freePort, onApp, startApp, stateOf, type TestApp } from './wechat-auth-e2e-helpers.js';
import { openQrPage, qrLoginAtEmulator, scanAndDecide } from './wechat-qr-e2e-helpers.js';

const WEB = 'wechat-web';

@Controller('auth/web')
@UseGuards(WechatAuthGuard)
@WechatAuth({ strategy: WEB })
class QrAuthController {
  @Get()
  login(): void {}

  /** An Official Account scope on a QR route: the QR login ignores it (snsapi_login is its only scope). */
  @Get('base')
  @WechatAuth({ strategy: WEB, scope: 'snsapi_base', forcePopup: true, returnTo: '/after-base' })
  loginBase(): void {}

  @Get('callback')
  @Redirect()
  callback(@WechatUser() user: WechatAuthUser, @WechatReturnTo() returnTo: string, @Res({ passthrough: true }) res: Response) {
    exposeUser(res, user);
    return { url: returnTo };
  }
}

/** A page with the QR code embedded (WeChat's wxLogin.js): answers the WxLogin parameters as JSON. */
@Controller('embedded')
class EmbeddedQrController {
  constructor(private readonly wechat: WechatStrategies) {}

  @Get()
  page(@Res({ passthrough: true }) res: Response, @Query('returnTo') returnTo?: string, @Query('self') self?: string): WxLoginOptions {
    return this.wechat.qr().wxLoginOptions(res, { containerId: 'wx-qr', ...(returnTo ? { returnTo } : {}), selfRedirect: self === '1' });
  }
}

let clock = Date.now();
let emulator: WechatEmulator;
let emulatorOrigin: string;
let app: TestApp;
let port: number;

function webOptions(extra: Partial<WechatAuthOptions> = {}): WechatAuthOptions {
  return {
    flow: 'website-qr',
    strategyName: WEB,
    appId: DEMO_WEB_APP.appId,
    appSecret: DEMO_WEB_APP.appSecret,
    callbackURL: `http://127.0.0.1:${port}/auth/web/callback`,
    apiBaseURL: emulatorOrigin,
    oauthBaseURL: emulatorOrigin,
    defaultReturnTo: '/home',
    ...extra,
  };
}

beforeAll(async () => {
  emulator = new WechatEmulator({ apps: [{ ...DEMO_APP }, { ...DEMO_WEB_APP }], now: () => clock });
  emulatorOrigin = await emulator.listen();
  port = await freePort();
  app = await startApp([WechatAuthModule.forRoot(webOptions())], { port, controllers: [QrAuthController, EmbeddedQrController] });
});

afterEach(() => {
  clock = Date.now();
  emulator.reset();
});

afterAll(async () => {
  await app?.close();
  await emulator?.close();
});

describe('the login route', () => {
  it('redirects to /connect/qrconnect in WeChat\'s parameter order, scope snsapi_login, with a browser-bound state', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web?returnTo=/orders`);
    expect(login.status).toBe(302);
    const state = stateOf(login.location!);
    expect(login.location).toBe(
      `${emulatorOrigin}/connect/qrconnect?appid=${DEMO_WEB_APP.appId}` +
        `&redirect_uri=${encodeURIComponent(`http://127.0.0.1:${port}/auth/web/callback`)}` +
        `&response_type=code&scope=snsapi_login&state=${state}#wechat_redirect`,
    );
    expect(state).toMatch(/^[0-9a-f]{64}$/);
    expect([...browser.cookies.keys()]).toEqual([`wechat_auth_state_${WEB}`]);
    expect(login.headers.get('cache-control')).toBe('no-store');
    expect(login.headers.get('referrer-policy')).toBe('no-referrer');
    expect(app.app.get(WechatStrategy)).toBeInstanceOf(WechatQrStrategy);
    expect(app.app.get(WechatStrategy).flow).toBe('website-qr');
  });

  it('ignores an Official Account scope and forcePopup on the route (the QR login has one scope)', async () => {
    const login = await new Browser().get(`${app.origin}/auth/web/base`);
    const url = new URL(login.location!);
    expect(url.pathname).toBe('/connect/qrconnect');
    expect(url.searchParams.get('scope')).toBe('snsapi_login');
    expect(url.searchParams.has('forcePopup')).toBe(false);
  });
});

describe('the whole QR login through the emulator', () => {
  it('QR page, scan on the "phone", Allow, callback: signed in with the profile and the unionid, one exchange', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web?returnTo=/orders`);
    const page = await openQrPage(login.location!);
    expect(page.status).toBe(200);
    const callback = await qrLoginAtEmulator(login.location!, { user: 'lihua' });
    expect(callback.searchParams.get('state')).toBe(stateOf(login.location!));

    const answer = await browser.get(onApp(app.origin, callback.toString()));
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/orders');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const user = answer.user();
    expect(user).toMatchObject({
      appId: DEMO_WEB_APP.appId,
      flow: 'website-qr',
      scope: 'snsapi_login',
      isSnapshotUser: false,
      profile: { nickname: '李华 Li Hua 👨‍👩‍👧' },
      hasAccessToken: true,
      hasRefreshToken: true,
    });
    expect(user.unionid).toMatch(/^o/);
    expect(user.profile?.unionid).toBe(user.unionid);
    expect(JSON.stringify(user)).not.toContain(callback.searchParams.get('code')!);
    const code = callback.searchParams.get('code')!;
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expect(emulator.counters().userinfoCalls).toBe(1);
  });

  it('duplicates from the same browser share one exchange; a replay from another browser is refused', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web`);
    const callback = onApp(app.origin, (await qrLoginAtEmulator(login.location!)).toString());
    const answers = await Promise.all([browser.get(callback), browser.get(callback), browser.get(callback)]);
    for (const answer of answers) {
      expect(answer.status).toBe(302);
      expect(answer.location).toBe('/home');
    }
    expect(new Set(answers.map((a) => a.user().openid)).size).toBe(1);
    const code = new URL(callback).searchParams.get('code')!;
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expect(emulator.counters().userinfoCalls).toBe(1);

    const thief = await new Browser().get(callback);
    expect(thief.status).toBe(401);
    const thiefWithOwnLogin = new Browser();
    await thiefWithOwnLogin.get(`${app.origin}/auth/web`);
    expect((await thiefWithOwnLogin.get(callback)).status).toBe(403);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('the phone says Deny: the QR page shows it and never reaches the app', async () => {
    const login = await new Browser().get(`${app.origin}/auth/web`);
    const outcome = await scanAndDecide(await openQrPage(login.location!), { action: 'deny' });
    expect(outcome).toEqual({ status: 'denied' });
    expect(emulator.counters()).toMatchObject({ codesMinted: 0, exchangeCalls: 0 });
  });

  it('a QR login\'s code still works 9 minutes after it was issued (an Official Account\'s would not)', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web`);
    const code = emulator.mintCode({ appId: DEMO_WEB_APP.appId, userId: 'zoe' });
    clock += 9 * 60_000;
    const answer = await browser.get(`${app.origin}/auth/web/callback?code=${code}&state=${stateOf(login.location!)}`);
    expect(answer.status).toBe(302);
    expect(answer.user().scope).toBe('snsapi_login');
  });

  it('an expired code re-authorizes once, back to the QR page, keeping returnTo; then fails with 401', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web?returnTo=/orders`);
    const code = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    clock += 10 * 60_000 + 1_000;
    const first = await browser.get(`${app.origin}/auth/web/callback?code=${code}&state=${stateOf(login.location!)}`);
    expect(first.status).toBe(302);
    const again = new URL(first.location!);
    expect(again.pathname).toBe('/connect/qrconnect');
    expect(again.searchParams.get('scope')).toBe('snsapi_login');

    const stale = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    clock += 10 * 60_000 + 1_000;
    const second = await browser.get(`${app.origin}/auth/web/callback?code=${stale}&state=${stateOf(first.location!)}`, {
      accept: 'application/json',
    });
    expect(second.status).toBe(401);
    expect(second.json()).toMatchObject({ errcode: 42003 });

    // The re-authorized login, completed in time, lands where the first one was going.
    const fresh = await browser.get(onApp(app.origin, (await qrLoginAtEmulator(first.location!)).toString()));
    expect(fresh.status).toBe(302);
    expect(fresh.location).toBe('/orders');
  });

  it('a code of another app (the Official Account\'s) is refused by WeChat (40029): one re-authorization, back to the QR page', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/web`);
    const mpCode = emulator.mintCode({ appId: DEMO_APP.appId });
    const answer = await browser.get(`${app.origin}/auth/web/callback?code=${mpCode}&state=${stateOf(login.location!)}`);
    expect(answer.status).toBe(302);
    expect(new URL(answer.location!).pathname).toBe('/connect/qrconnect');
    expect(emulator.exchangeCallsForCode(mpCode)).toBe(1);
  });
});

describe('the embedded QR code (wxLogin.js)', () => {
  it('returns WxLogin\'s parameters with a state bound to this browser, which the usual callback accepts', async () => {
    const browser = new Browser();
    const answer = await browser.get(`${app.origin}/embedded?returnTo=/account`);
    expect(answer.status).toBe(200);
    const params = answer.json<WxLoginOptions>();
    expect(params).toEqual({
      self_redirect: false,
      id: 'wx-qr',
      appid: DEMO_WEB_APP.appId,
      scope: 'snsapi_login',
      redirect_uri: encodeURIComponent(`http://127.0.0.1:${port}/auth/web/callback`),
      state: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(browser.cookies.has(`wechat_auth_state_${WEB}`)).toBe(true);

    const code = emulator.mintCode({ appId: DEMO_WEB_APP.appId, userId: 'panda' });
    const callback = `${app.origin}/auth/web/callback?code=${code}&state=${params.state}`;
    expect((await new Browser().get(callback)).status).toBe(401);
    const signedIn = await browser.get(callback);
    expect(signedIn.status).toBe(302);
    expect(signedIn.location).toBe('/account');
    expect(signedIn.user()).toMatchObject({ flow: 'website-qr', appId: DEMO_WEB_APP.appId });
    expect((await new Browser().get(`${app.origin}/embedded?self=1`)).json<WxLoginOptions>().self_redirect).toBe(true);
  });

  it('refuses a bad container id, style or stylesheet URL', () => {
    const qr = app.app.get(WechatStrategies).qr();
    const res = { headers: new Map<string, unknown>(), getHeader(n: string) { return this.headers.get(n); }, setHeader(n: string, v: unknown) { this.headers.set(n, v); } };
    expect(() => qr.wxLoginOptions(res as never, { containerId: '"><script>' })).toThrow(TypeError);
    expect(() => qr.wxLoginOptions(res as never, { containerId: 'qr', style: 'red' as never })).toThrow(TypeError);
    expect(() => qr.wxLoginOptions(res as never, { containerId: 'qr', href: 'http://insecure.example/qr.css' })).toThrow(TypeError);
    expect(res.headers.size).toBe(0);
    expect(qr.wxLoginOptions(res as never, { containerId: 'qr', style: 'white', href: 'https://cdn.example.com/qr.css' })).toMatchObject({
      style: 'white',
      href: 'https://cdn.example.com/qr.css',
    });
  });
});

describe('WeChat refuses an AppID on the wrong page', () => {
  it('a website app\'s AppID registered as an Official Account: the authorize page shows 10016', async () => {
    const mpPort = await freePort();
    const wrong = await startApp(
      [
        WechatAuthModule.forRoot({
          appId: DEMO_WEB_APP.appId,
          appSecret: DEMO_WEB_APP.appSecret,
          callbackURL: `http://127.0.0.1:${mpPort}/auth/wechat/callback`,
          apiBaseURL: emulatorOrigin,
          oauthBaseURL: emulatorOrigin,
        }),
      ],
      { port: mpPort },
    );
    try {
      const login = await new Browser().get(`${wrong.origin}/auth/wechat`);
      expect(new URL(login.location!).pathname).toBe('/connect/oauth2/authorize');
      const page = await fetch(login.location!.replace(/#.*$/, ''));
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('errcode 10016');
    } finally {
      await wrong.close();
    }
  });

  it('an Official Account\'s AppID registered for the QR login: the QR page shows the scope error', async () => {
    const wrongPort = await freePort();
    const wrong = await startApp(
      [WechatAuthModule.forRoot({ ...webOptions(), appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret, callbackURL: `http://127.0.0.1:${wrongPort}/auth/web/callback` })],
      { port: wrongPort, controllers: [QrAuthController] },
    );
    try {
      const login = await new Browser().get(`${wrong.origin}/auth/web`);
      const page = await openQrPage(login.location!);
      expect(page.status).toBe(400);
      expect(page.html).toContain('errcode 10005');
    } finally {
      await wrong.close();
    }
  });
});

describe('website-qr options fail the boot with directions for the website app', () => {
  it.each([
    ['an Official Account scope', { scope: 'snsapi_userinfo' as const }, /scope must be "snsapi_login" \(or unset\) with flow "website-qr"/],
    ['menu-entry mode', { menuEntry: { enabled: true } }, /menuEntry is for Official Account menus/],
    ['a malformed AppID', { appId: 'web-app' }, /open\.weixin\.qq\.com → 管理中心 → 网站应用 → 查看 → AppID/],
    ['a malformed AppSecret', { appSecret: 'short' }, /website app's AppSecret \(open\.weixin\.qq\.com/],
    ['an unknown flow', { flow: 'qr' as never }, /flow must be "official-account" \(default: the login inside WeChat\) or "website-qr"/],
  ])('%s', async (_what, extra, message) => {
    const compiling = Test.createTestingModule({ imports: [WechatAuthModule.forRoot(webOptions(extra as Partial<WechatAuthOptions>))] }).compile();
    await expect(compiling).rejects.toThrow(WechatAuthOptionsError);
    await expect(compiling).rejects.toThrow(message);
    await expect(compiling).rejects.not.toThrow(/short/);
  });

  it('an Official Account cannot ask for snsapi_login', async () => {
    const compiling = Test.createTestingModule({
      imports: [
        WechatAuthModule.forRoot({
          appId: DEMO_APP.appId,
          appSecret: DEMO_APP.appSecret,
          callbackURL: 'https://example.com/cb',
          scope: 'snsapi_login',
        }),
      ],
    }).compile();
    await expect(compiling).rejects.toThrow(/scope must be "snsapi_base" or "snsapi_userinfo" \(default\)/);
  });
});
