/**
 * The login flow over real HTTP against the emulator: the authorize redirect, the state cookie, both scopes, the
 * profile read once, returnTo, denial and the response headers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { WechatAuthModule } from 'nestjs-wechat-auth';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { Browser, authorizeParams, consent, demoAppOptions, freePort, onApp, startApp, stateOf } from './wechat-auth-e2e-helpers.js';
import type { TestApp } from './wechat-auth-e2e-helpers.js';

let emulator: WechatEmulator;
let emulatorOrigin: string;
let port: number;
let callbackURL: string;
let testApp: TestApp;

beforeAll(async () => {
  emulator = new WechatEmulator();
  emulatorOrigin = await emulator.listen();
  port = await freePort();
  callbackURL = `http://127.0.0.1:${port}/auth/wechat/callback`;
  testApp = await startApp([WechatAuthModule.forRoot(demoAppOptions(emulatorOrigin, port))], { port });
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await testApp?.close();
  await emulator?.close();
});

describe('login redirect', () => {
  it('redirects to the authorize URL with WeChat\'s parameter order, an encoded redirect_uri and #wechat_redirect', async () => {
    const browser = new Browser();
    const answer = await browser.get(`${testApp.origin}/auth/wechat`);
    expect(answer.status).toBe(302);
    const state = stateOf(answer.location!);
    expect(state).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(answer.location).toBe(
      `${emulatorOrigin}/connect/oauth2/authorize?appid=${DEMO_APP.appId}` +
        `&redirect_uri=${encodeURIComponent(callbackURL)}&response_type=code&scope=snsapi_userinfo&state=${state}#wechat_redirect`,
    );
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('sets an HttpOnly, SameSite=Lax state cookie with Max-Age and Path, not Secure on an http callback', async () => {
    const answer = await new Browser().get(`${testApp.origin}/auth/wechat`);
    expect(answer.setCookies).toHaveLength(1);
    expect(answer.setCookies[0]).toMatch(/^wechat_auth_state_wechat=v1\.[A-Za-z0-9_.-]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('gives every login its own state', async () => {
    const states = await Promise.all([1, 2, 3].map(async () => stateOf((await new Browser().get(`${testApp.origin}/auth/wechat`)).location!)));
    expect(new Set(states).size).toBe(3);
  });

  it('applies per-route scope and forcePopup', async () => {
    const base = await new Browser().get(`${testApp.origin}/auth/wechat/base`);
    expect([...authorizeParams(base.location!).keys()]).toEqual(['appid', 'redirect_uri', 'response_type', 'scope', 'state']);
    expect(authorizeParams(base.location!).get('scope')).toBe('snsapi_base');

    const popup = await new Browser().get(`${testApp.origin}/auth/wechat/popup`);
    expect([...authorizeParams(popup.location!).keys()]).toEqual(['appid', 'redirect_uri', 'response_type', 'scope', 'state', 'forcePopup']);
    expect(popup.location).toMatch(/&forcePopup=true#wechat_redirect$/);
  });

  it('builds a URL the emulator accepts as WeChat would (its authorize page validates parameter order)', async () => {
    const answer = await new Browser().get(`${testApp.origin}/auth/wechat`);
    const page = await new Browser().get(answer.location!.replace(/#wechat_redirect$/, ''));
    expect(page.status).toBe(200);
    expect(emulator.counters().authorizePageViews).toBe(1);
  });
});

describe('callback', () => {
  it('signs in with snsapi_userinfo through the consent page: one exchange, one profile read, returnTo kept', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat?returnTo=${encodeURIComponent('/orders/42?tab=paid')}`);
    const callback = await consent(login.location!, { action: 'allow', user: 'panda' });
    expect(callback.startsWith(`${callbackURL}?code=`)).toBe(true);

    const answer = await browser.get(onApp(testApp.origin, callback));
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/orders/42?tab=paid');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer');

    const user = answer.user();
    expect(user).toMatchObject({
      appId: DEMO_APP.appId,
      scope: 'snsapi_userinfo',
      isSnapshotUser: false,
      openid: expect.stringMatching(/^o/),
      unionid: expect.stringMatching(/^o/),
      profile: { nickname: '微信用户🐼', openid: user.openid, privilege: [] },
      hasAccessToken: true,
      hasRefreshToken: true,
    });
    // The token is on the user, but never in its serialized form.
    expect(Object.keys(user)).not.toContain('token');

    const counters = emulator.counters();
    expect(counters.exchangeCalls).toBe(1);
    expect(counters.userinfoCalls).toBe(1);
  });

  it('signs in with snsapi_base without any userinfo call, landing on the route\'s returnTo', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat/base`);
    const callback = await consent(login.location!, { action: 'allow', user: 'lihua' });
    const answer = await browser.get(onApp(testApp.origin, callback));
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/base-landing');
    const user = answer.user();
    expect(user.scope).toBe('snsapi_base');
    expect(user.profile).toBeUndefined();
    expect(user.unionid).toBeUndefined();
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 1, userinfoCalls: 0 });
  });

  it('never reads the profile of a snapshot-page user, and flags it', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat`);
    const callback = await consent(login.location!, { action: 'allow', snapshot: true });
    const answer = await browser.get(onApp(testApp.origin, callback));
    expect(answer.status).toBe(302);
    expect(answer.user()).toMatchObject({ isSnapshotUser: true });
    expect(answer.user().profile).toBeUndefined();
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 1, userinfoCalls: 0 });
  });

  it.each([
    ['a protocol-relative URL', '//evil.example/path'],
    ['an absolute URL', 'https://evil.example/'],
    ['a backslash path', '/\\evil.example'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['an oversized path', `/${'a'.repeat(600)}`],
  ])('replaces %s in returnTo with the default', async (_label, returnTo) => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat?returnTo=${encodeURIComponent(returnTo)}`);
    const code = emulator.mintCode({ scope: 'snsapi_base' });
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`);
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/');
  });

  it('treats a refusal (state without code) as a clean 401 without a new redirect or any upstream call', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat`);
    const callback = await consent(login.location!, { action: 'deny' });
    expect(new URL(callback).searchParams.has('code')).toBe(false);
    const answer = await browser.get(onApp(testApp.origin, callback));
    expect(answer.status).toBe(401);
    expect(answer.location).toBeUndefined();
    expect(answer.setCookies).toEqual([]);
    expect(answer.json()).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'The WeChat authorization was denied' });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
    expect(emulator.counters().exchangeCalls).toBe(0);
  });

  it('does not clear or rewrite the state cookie on the callback (a later duplicate must still verify)', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat`);
    const cookieBefore = browser.cookieHeader();
    const code = emulator.mintCode();
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`);
    expect(answer.status).toBe(302);
    expect(answer.setCookies).toEqual([]);
    expect(browser.cookieHeader()).toBe(cookieBefore);
  });
});
