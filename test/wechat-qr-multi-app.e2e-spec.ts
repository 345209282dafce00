/**
 * Several WeChat apps in one Nest app: two Official Accounts and a website app registered side by side, the guard
 * that picks the login by user agent (and its per-route overrides), one callback route serving both flows, UnionID
 * linking across apps, and snapshot-page users kept apart from real accounts.
 */
import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Redirect, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import passport from 'passport';
import {
  WechatAuth,
  WechatAuthGuard,
  WechatAuthModule,
  WechatAutoAuthGuard,
  WechatQrStrategy,
  WechatReturnTo,
  WechatStrategies,
  WechatUser,
  isSameWechatUser,
  wechatUserKey,
  type WechatAuthOptions,
  type WechatAuthUser,
} from 'nestjs-wechat-auth';
import { DEMO_APP, DEMO_WEB_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import {
  Browser,
  SECOND_APP,
  consent,
  exposeUser,
  freePort,
  onApp,
  startApp,
  stateOf,
  type SignedInUser,
  type TestApp,
} from './wechat-auth-e2e-helpers.js';
import {
  ANDROID_WECHAT_UA,
  DESKTOP_CHROME_UA,
  IOS_WECHAT_UA,
  WINDOWS_WECHAT_UA,
  qrLoginAtEmulator,
} from './wechat-qr-e2e-helpers.js';

/** One login entry for phone and desktop, its overrides, and one callback for both flows. */
@Controller('auth')
class AutoAuthController {
  @Get('login')
  @UseGuards(WechatAutoAuthGuard)
  login(): void {}

  @Get('login/qr')
  @UseGuards(WechatAutoAuthGuard)
  @WechatAuth({ flow: 'website-qr' })
  loginQr(): void {}

  @Get('login/mp')
  @UseGuards(WechatAutoAuthGuard)
  @WechatAuth({ flow: 'official-account' })
  loginMp(): void {}

  @Get('login/b')
  @UseGuards(WechatAutoAuthGuard)
  @WechatAuth({ strategies: { officialAccount: 'mp-b' } })
  loginB(): void {}

  @Get('login/base')
  @UseGuards(WechatAutoAuthGuard)
  @WechatAuth({ scope: 'snsapi_base' })
  loginBase(): void {}

  /** The plain guard picks by user agent too when the route asks for it. */
  @Get('plain')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ flow: 'auto' })
  plain(): void {}

  @Get('callback')
  @UseGuards(WechatAutoAuthGuard)
  @Redirect()
  callback(@WechatUser() user: WechatAuthUser, @WechatReturnTo() returnTo: string, @Res({ passthrough: true }) res: Response) {
    exposeUser(res, user);
    return { url: returnTo };
  }
}

@Controller('mp-b')
class SecondAccountController {
  @Get('callback')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ strategy: 'mp-b' })
  @Redirect()
  callback(@WechatUser() user: WechatAuthUser, @WechatReturnTo() returnTo: string, @Res({ passthrough: true }) res: Response) {
    exposeUser(res, user);
    return { url: returnTo };
  }
}

let emulator: WechatEmulator;
let emulatorOrigin: string;
let app: TestApp;
let port: number;

function registration(options: Partial<WechatAuthOptions> & Pick<WechatAuthOptions, 'appId' | 'appSecret'>, callbackPath: string) {
  return WechatAuthModule.forRoot({
    callbackURL: `http://127.0.0.1:${port}${callbackPath}`,
    apiBaseURL: emulatorOrigin,
    oauthBaseURL: emulatorOrigin,
    ...options,
  });
}

beforeAll(async () => {
  emulator = new WechatEmulator({ apps: [{ ...DEMO_APP }, { ...DEMO_WEB_APP }, SECOND_APP] });
  emulatorOrigin = await emulator.listen();
  port = await freePort();
  app = await startApp(
    [
      // The Official Account and the website app share one callback route; a second Official Account has its own.
      registration({ appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret }, '/auth/callback'),
      registration({ flow: 'website-qr', strategyName: 'wechat-web', appId: DEMO_WEB_APP.appId, appSecret: DEMO_WEB_APP.appSecret }, '/auth/callback'),
      registration({ strategyName: 'mp-b', appId: SECOND_APP.appId, appSecret: SECOND_APP.appSecret }, '/mp-b/callback'),
    ],
    { port, controllers: [AutoAuthController, SecondAccountController] },
  );
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await app?.close();
  await emulator?.close();
});

/** Where a login started at `path` with this User-Agent sends the browser: the page and the AppID. */
async function loginTarget(path: string, userAgent?: string): Promise<{ page: string; appid: string | null; scope: string | null }> {
  const answer = await new Browser().get(`${app.origin}${path}`, userAgent === undefined ? {} : { 'user-agent': userAgent });
  expect(answer.status).toBe(302);
  const url = new URL(answer.location!);
  return { page: url.pathname, appid: url.searchParams.get('appid'), scope: url.searchParams.get('scope') };
}

const AUTHORIZE = '/connect/oauth2/authorize';
const QRCONNECT = '/connect/qrconnect';

describe('picking the login by user agent', () => {
  it.each([
    ['WeChat on Android', ANDROID_WECHAT_UA, AUTHORIZE, DEMO_APP.appId],
    ['WeChat on iOS', IOS_WECHAT_UA, AUTHORIZE, DEMO_APP.appId],
    ["WeChat for Windows' browser", WINDOWS_WECHAT_UA, AUTHORIZE, DEMO_APP.appId],
    ['a desktop browser', DESKTOP_CHROME_UA, QRCONNECT, DEMO_WEB_APP.appId],
    ['a client without a User-Agent', undefined, QRCONNECT, DEMO_WEB_APP.appId],
  ])('%s', async (_who, userAgent, page, appid) => {
    expect(await loginTarget('/auth/login', userAgent)).toMatchObject({ page, appid });
    expect(await loginTarget('/auth/plain', userAgent)).toMatchObject({ page, appid });
  });

  it('is overridable per route: a forced flow, a chosen Official Account, a scope for the Official Account only', async () => {
    expect(await loginTarget('/auth/login/qr', ANDROID_WECHAT_UA)).toMatchObject({ page: QRCONNECT, appid: DEMO_WEB_APP.appId });
    expect(await loginTarget('/auth/login/mp', DESKTOP_CHROME_UA)).toMatchObject({ page: AUTHORIZE, appid: DEMO_APP.appId });
    expect(await loginTarget('/auth/login/b', ANDROID_WECHAT_UA)).toMatchObject({ page: AUTHORIZE, appid: SECOND_APP.appId });
    expect(await loginTarget('/auth/login/b', DESKTOP_CHROME_UA)).toMatchObject({ page: QRCONNECT, appid: DEMO_WEB_APP.appId });
    expect(await loginTarget('/auth/login/base', ANDROID_WECHAT_UA)).toEqual({ page: AUTHORIZE, appid: DEMO_APP.appId, scope: 'snsapi_base' });
    expect(await loginTarget('/auth/login/base', DESKTOP_CHROME_UA)).toEqual({ page: QRCONNECT, appid: DEMO_WEB_APP.appId, scope: 'snsapi_login' });
  });
});

describe('one callback route for both flows', () => {
  it('completes the QR login even when the callback arrives with a WeChat User-Agent (the state cookie decides)', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/login`, { 'user-agent': DESKTOP_CHROME_UA });
    const callback = await qrLoginAtEmulator(login.location!);
    const answer = await browser.get(onApp(app.origin, callback.toString()), { 'user-agent': ANDROID_WECHAT_UA });
    expect(answer.status).toBe(302);
    expect(answer.user()).toMatchObject({ flow: 'website-qr', appId: DEMO_WEB_APP.appId, scope: 'snsapi_login' });
  });

  it('completes the Official Account login even when the callback arrives with a desktop User-Agent', async () => {
    const browser = new Browser();
    const login = await browser.get(`${app.origin}/auth/login`, { 'user-agent': ANDROID_WECHAT_UA });
    const callback = await consent(login.location!, { action: 'allow', user: 'zoe' });
    const answer = await browser.get(onApp(app.origin, callback), { 'user-agent': DESKTOP_CHROME_UA });
    expect(answer.status).toBe(302);
    expect(answer.user()).toMatchObject({ flow: 'official-account', appId: DEMO_APP.appId, scope: 'snsapi_userinfo' });
  });

  it('keeps two logins started in one browser apart: own cookie, own state, own app', async () => {
    const browser = new Browser();
    const mp = await browser.get(`${app.origin}/auth/login`, { 'user-agent': ANDROID_WECHAT_UA });
    const qr = await browser.get(`${app.origin}/auth/login`, { 'user-agent': DESKTOP_CHROME_UA });
    expect([...browser.cookies.keys()].sort()).toEqual(['wechat_auth_state_wechat', 'wechat_auth_state_wechat-web']);
    const mpCode = emulator.mintCode({ appId: DEMO_APP.appId, userId: 'lihua' });
    const qrCode = emulator.mintCode({ appId: DEMO_WEB_APP.appId, userId: 'lihua' });
    const [mpAnswer, qrAnswer] = await Promise.all([
      browser.get(`${app.origin}/auth/callback?code=${mpCode}&state=${stateOf(mp.location!)}`),
      browser.get(`${app.origin}/auth/callback?code=${qrCode}&state=${stateOf(qr.location!)}`),
    ]);
    expect(mpAnswer.user()).toMatchObject({ appId: DEMO_APP.appId, flow: 'official-account' });
    expect(qrAnswer.user()).toMatchObject({ appId: DEMO_WEB_APP.appId, flow: 'website-qr' });
    expect(emulator.exchangeCallsForCode(mpCode)).toBe(1);
    expect(emulator.exchangeCallsForCode(qrCode)).toBe(1);
  });

  it('a callback that belongs to no login of this browser is refused without reaching WeChat', async () => {
    const browser = new Browser();
    await browser.get(`${app.origin}/auth/login`, { 'user-agent': DESKTOP_CHROME_UA });
    const other = await new Browser().get(`${app.origin}/auth/login`, { 'user-agent': DESKTOP_CHROME_UA });
    const code = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    const answer = await browser.get(`${app.origin}/auth/callback?code=${code}&state=${stateOf(other.location!)}`);
    expect(answer.status).toBe(403);
    expect(emulator.counters().exchangeCalls).toBe(0);
  });
});

describe('three apps registered at once', () => {
  it('each has its own strategy under its own name; none overwrites another, in the app or in passport', () => {
    const strategies = app.app.get(WechatStrategies).all();
    expect([...strategies.keys()].sort()).toEqual(['mp-b', 'wechat', 'wechat-web']);
    expect(strategies.get('wechat')).toMatchObject({ appId: DEMO_APP.appId, flow: 'official-account' });
    expect(strategies.get('wechat-web')).toBeInstanceOf(WechatQrStrategy);
    expect(strategies.get('wechat-web')!.appId).toBe(DEMO_WEB_APP.appId);
    expect(strategies.get('mp-b')!.appId).toBe(SECOND_APP.appId);
    const registry = passport as unknown as { _strategy(name: string): unknown };
    for (const [name, strategy] of strategies) expect(registry._strategy(name)).toBe(strategy);
    expect(app.app.get(WechatStrategies).qr()).toBe(strategies.get('wechat-web'));
    expect(() => app.app.get(WechatStrategies).qr('wechat')).toThrow(/not a website QR login/);
  });

  it('two registrations under one strategy name fail the boot', async () => {
    const clashPort = await freePort();
    await expect(
      startApp(
        [
          WechatAuthModule.forRoot({ appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret, callbackURL: `http://127.0.0.1:${clashPort}/a` }),
          WechatAuthModule.forRoot({
            flow: 'website-qr',
            appId: DEMO_WEB_APP.appId,
            appSecret: DEMO_WEB_APP.appSecret,
            callbackURL: `http://127.0.0.1:${clashPort}/b`,
          }),
        ],
        { port: clashPort },
      ),
    ).rejects.toThrow(/Two WechatAuthModule registrations use the strategy name "wechat"/);
  });
});

/** Signs `user` in through the Official Account (inside WeChat) or the website QR login (desktop). */
async function signIn(via: 'official-account' | 'website-qr' | 'mp-b', user: string, options: { snapshot?: boolean; base?: boolean } = {}): Promise<SignedInUser> {
  const browser = new Browser();
  const path = via === 'mp-b' ? '/auth/login/b' : options.base ? '/auth/login/base' : '/auth/login';
  const login = await browser.get(`${app.origin}${path}`, { 'user-agent': via === 'website-qr' ? DESKTOP_CHROME_UA : ANDROID_WECHAT_UA });
  const callback =
    via === 'website-qr'
      ? (await qrLoginAtEmulator(login.location!, { user })).toString()
      : await consent(login.location!, { action: 'allow', user, ...(options.snapshot ? { snapshot: true } : {}) });
  const answer = await browser.get(onApp(app.origin, callback));
  expect(answer.status).toBe(302);
  return answer.user();
}

describe('one person across apps (UnionID)', () => {
  it('the same WeChat user through the Official Account, the website app and a second Official Account is one key', async () => {
    const inWechat = await signIn('official-account', 'panda');
    const onDesktop = await signIn('website-qr', 'panda');
    const viaSecond = await signIn('mp-b', 'panda');
    expect(new Set([inWechat.openid, onDesktop.openid, viaSecond.openid]).size).toBe(3);
    expect(onDesktop.unionid).toBe(inWechat.unionid);
    expect(viaSecond.unionid).toBe(inWechat.unionid);

    const key = wechatUserKey(inWechat);
    expect(key).toEqual({ kind: 'unionid', value: inWechat.unionid, appId: DEMO_APP.appId, id: `unionid:${inWechat.unionid}` });
    expect(wechatUserKey(onDesktop).id).toBe(key.id);
    expect(wechatUserKey(viaSecond).id).toBe(key.id);
    expect(isSameWechatUser(inWechat, onDesktop)).toBe(true);

    const someoneElse = await signIn('website-qr', 'lihua');
    expect(wechatUserKey(someoneElse).id).not.toBe(key.id);
    expect(isSameWechatUser(someoneElse, onDesktop)).toBe(false);
  });

  it('without a unionid (snsapi_base) the key is the openid within its app, never mistaken for another app\'s', async () => {
    const silent = await signIn('official-account', 'panda', { base: true });
    expect(silent.unionid).toBeUndefined();
    const key = wechatUserKey(silent);
    expect(key).toEqual({ kind: 'openid', value: silent.openid, appId: DEMO_APP.appId, id: `openid:${DEMO_APP.appId}:${silent.openid}` });
    const full = await signIn('official-account', 'panda');
    const desktop = await signIn('website-qr', 'panda');
    expect(isSameWechatUser(silent, full)).toBe(true);
    expect(isSameWechatUser(silent, desktop)).toBe(false);
  });
});

describe('snapshot-page users', () => {
  it('are flagged and never merged into the real account of the same WeChat user', async () => {
    const snapshot = await signIn('official-account', 'panda', { snapshot: true });
    expect(snapshot.isSnapshotUser).toBe(true);
    expect(snapshot.profile).toBeUndefined();
    expect(emulator.counters().userinfoCalls).toBe(0);

    const real = await signIn('official-account', 'panda');
    const desktop = await signIn('website-qr', 'panda');
    const key = wechatUserKey(snapshot);
    expect(key.kind).toBe('snapshot');
    expect(key.id).toBe(`snapshot:${DEMO_APP.appId}:${snapshot.openid}`);
    for (const other of [real, desktop]) {
      expect(wechatUserKey(other).id).not.toBe(key.id);
      expect(isSameWechatUser(snapshot, other)).toBe(false);
    }
    // Even a snapshot user carrying the very unionid of a real user would not be merged.
    expect(wechatUserKey({ ...snapshot, unionid: real.unionid }).id).not.toBe(wechatUserKey(real).id);
    expect(isSameWechatUser({ ...snapshot, unionid: real.unionid }, real)).toBe(false);
    expect(isSameWechatUser(snapshot, snapshot)).toBe(false);
  });
});
