/**
 * Replays against the library's login, over real HTTP against the emulator: code + state from another browser
 * within the result TTL; a stolen state cookie with another code; an expired state; a state from another app id
 * (two strategies in one app). None yields a session; each gets the status the error table documents (401 for a
 * login that must start again, 403 for a callback that does not belong to this browser, a single re-authorization
 * for a code WeChat refuses), and nothing spends a code twice.
 *
 * The expired state is minted with the library's own state codec on an injected clock (11 minutes ago) and the key
 * the app derives from its secret: a cookie exactly like the app would have issued then, so the refusal is due to
 * its age alone (the same construction with the current clock signs in).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { WECHAT_AUTH_OPTIONS, WechatAuthModule } from 'nestjs-wechat-auth';
import type { ResolvedWechatAuthOptions } from 'nestjs-wechat-auth';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { LoginStateCodec } from '../libs/wechat-auth/src/state/login-state.js';
import { deriveWechatAuthKeys } from '../libs/wechat-auth/src/state/wechat-auth.keys.js';
import { printTable } from './support/figures.js';
import { Browser, SECOND_APP, demoAppOptions, freePort, startApp, startTwoAppsApp, stateOf } from './wechat-auth-e2e-helpers.js';
import type { Answer, TestApp } from './wechat-auth-e2e-helpers.js';

const STATE_COOKIE = 'wechat_auth_state_wechat';

let emulator: WechatEmulator;
let emulatorOrigin: string;
let app: TestApp;
const figures: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  emulator = new WechatEmulator({ apps: [{ ...DEMO_APP }, { ...SECOND_APP }] });
  emulatorOrigin = await emulator.listen();
  const port = await freePort();
  app = await startApp([WechatAuthModule.forRoot(demoAppOptions(emulatorOrigin, port))], { port });
});

afterEach(() => emulator.reset());

afterAll(async () => {
  printTable('Replays (none may yield a session):', figures);
  await app?.close();
  await emulator?.close();
});

/** A browser that logs in for real: login route, minted code, callback. Returns its code, state and answer. */
async function signIn(target: TestApp = app, paths = { login: '/auth/wechat', callback: '/auth/wechat/callback' }, appId = DEMO_APP.appId) {
  const browser = new Browser();
  const login = await browser.get(`${target.origin}${paths.login}`);
  expect(login.status).toBe(302);
  const state = stateOf(login.location!);
  const code = emulator.mintCode({ appId });
  const answer = await browser.get(`${target.origin}${paths.callback}?code=${code}&state=${state}`);
  expect(answer.status).toBe(302);
  expect(answer.user().appId).toBe(appId);
  return { browser, code, state, answer };
}

function isReauthorization(answer: Answer): boolean {
  return answer.status === 302 && (answer.location ?? '').startsWith(`${emulatorOrigin}/connect/oauth2/authorize?`);
}

/** No session: no signed-in user, and not the success redirect. */
function expectNoSession(answer: Answer, scenario: string, documented: string): void {
  expect(answer.headers.get('x-test-user')).toBeNull();
  expect(answer.status === 302 && !isReauthorization(answer)).toBe(false);
  expect(answer.status).toBeLessThan(500);
  figures.push({
    scenario,
    status: isReauthorization(answer) ? '302 → WeChat (re-authorize)' : answer.status,
    documented,
    message: answer.status === 302 ? '' : answer.json<{ message: string }>().message.slice(0, 70),
  });
}

describe('replays', () => {
  it('code + state from another browser within the result TTL: 401 without a state cookie, 403 with its own', async () => {
    const victim = await signIn();
    const url = `${app.origin}/auth/wechat/callback?code=${victim.code}&state=${victim.state}`;

    const bare = await new Browser().get(url);
    expect(bare.status).toBe(401);
    expectNoSession(bare, 'code+state replayed by a browser without a state cookie', '401 missing-cookie');

    const attacker = new Browser();
    expect((await attacker.get(`${app.origin}/auth/wechat`)).status).toBe(302);
    const withOwnCookie = await attacker.get(url);
    expect(withOwnCookie.status).toBe(403);
    expectNoSession(withOwnCookie, 'code+state replayed by a browser with its own state cookie', '403 mismatch');

    // The victim's own duplicate still works: the replays consumed nothing.
    const duplicate = await victim.browser.get(url);
    expect(duplicate.status).toBe(302);
    expect(duplicate.user().openid).toBe(victim.answer.user().openid);
    expect(emulator.exchangeCallsForCode(victim.code)).toBe(1);
  });

  it('a stolen state cookie with another code: another login\'s code is refused (403), another state too (403)', async () => {
    const first = await signIn();
    const second = await signIn(); // the same person in another tab, or another person
    // The thief holds the first login's cookie and state, and learns the second login's code (a Referer, a log).
    const thief = new Browser();
    thief.cookies.set(STATE_COOKIE, first.browser.cookies.get(STATE_COOKIE)!);

    const otherCode = await thief.get(`${app.origin}/auth/wechat/callback?code=${second.code}&state=${first.state}`);
    expect(otherCode.status).toBe(403);
    expect(otherCode.json().message).toMatch(/already used by another browser/);
    expectNoSession(otherCode, "stolen state cookie + another login's used code", '403 code replay');
    expect(emulator.exchangeCallsForCode(second.code)).toBe(1);

    const otherState = await thief.get(`${app.origin}/auth/wechat/callback?code=${second.code}&state=${second.state}`);
    expect(otherState.status).toBe(403);
    expectNoSession(otherState, "stolen state cookie + another login's code and state", '403 mismatch');

    // A code of another app id: WeChat refuses it (40029) and the browser is sent back to WeChat once, never signed in.
    const foreign = emulator.mintCode({ appId: SECOND_APP.appId });
    const foreignCode = await thief.get(`${app.origin}/auth/wechat/callback?code=${foreign}&state=${first.state}`);
    expect(isReauthorization(foreignCode)).toBe(true);
    expectNoSession(foreignCode, 'stolen state cookie + a code of another app id', '302 re-authorize once (40029)');
    expect(emulator.counters().exchangeByCode[foreign]).toEqual({ calls: 1, outcomes: [40029] });
  });

  it('an expired state (issued 11 minutes ago, beyond the 10-minute maxAge) is refused with 401 before any upstream call', async () => {
    const resolved = app.app.get<ResolvedWechatAuthOptions>(WECHAT_AUTH_OPTIONS);
    const keys = deriveWechatAuthKeys({ appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret });
    const codecAt = (now: () => number) => new LoginStateCodec(keys.stateKey, DEMO_APP.appId, resolved.stateCookie, now);
    const elevenMinutesAgo = Date.now() - 11 * 60_000;
    const old = codecAt(() => elevenMinutesAgo).issue({ returnTo: '/orders', scope: 'snsapi_userinfo', reauth: false });
    const fresh = codecAt(Date.now).issue({ returnTo: '/orders', scope: 'snsapi_userinfo', reauth: false });

    const browser = new Browser();
    browser.cookies.set(STATE_COOKIE, old.setCookie.split(';')[0]!.slice(STATE_COOKIE.length + 1));
    const code = emulator.mintCode();
    const expired = await browser.get(`${app.origin}/auth/wechat/callback?code=${code}&state=${old.state}`);
    expect(expired.status).toBe(401);
    expect(expired.json().message).toMatch(/expired/);
    expectNoSession(expired, 'an expired state (issued 11 min ago, maxAge 10 min)', '401 expired');
    expect(emulator.counters().exchangeCalls).toBe(0);

    // The control: the same construction with the current clock is a valid login of this app.
    browser.cookies.set(STATE_COOKIE, fresh.setCookie.split(';')[0]!.slice(STATE_COOKIE.length + 1));
    const valid = await browser.get(`${app.origin}/auth/wechat/callback?code=${code}&state=${fresh.state}`);
    expect({ status: valid.status, location: valid.location }).toEqual({ status: 302, location: '/orders' });
  });
});

describe('a state from another app id (two strategies in one app)', () => {
  let two: TestApp;
  let sharedName: TestApp;

  beforeAll(async () => {
    two = await startTwoAppsApp(emulatorOrigin);
    // Both apps told to use one cookie name: app B then sees app A's cookie itself, signed with A's key.
    sharedName = await startTwoAppsApp(emulatorOrigin, { stateCookie: { name: 'wx_login_state' } });
  });

  afterAll(async () => {
    await two?.close();
    await sharedName?.close();
  });

  it("app A's state at app B's callback: 401 without B's cookie, 403 with it, 403 when the cookie name is shared", async () => {
    const browser = new Browser();
    const loginA = await browser.get(`${two.origin}/two/a`);
    const codeB = emulator.mintCode({ appId: SECOND_APP.appId, scope: 'snsapi_base' });
    const noCookieOfB = await browser.get(`${two.origin}/two/b/callback?code=${codeB}&state=${stateOf(loginA.location!)}`);
    expect(noCookieOfB.status).toBe(401);
    expectNoSession(noCookieOfB, "app A's state at app B (no cookie of B)", '401 missing-cookie');

    await browser.get(`${two.origin}/two/b`);
    const withCookieOfB = await browser.get(`${two.origin}/two/b/callback?code=${codeB}&state=${stateOf(loginA.location!)}`);
    expect(withCookieOfB.status).toBe(403);
    expectNoSession(withCookieOfB, "app A's state at app B (B's own cookie)", '403 mismatch');

    const shared = new Browser();
    const sharedLoginA = await shared.get(`${sharedName.origin}/two/a`);
    expect([...shared.cookies.keys()]).toEqual(['wx_login_state']);
    const sameName = await shared.get(`${sharedName.origin}/two/b/callback?code=${codeB}&state=${stateOf(sharedLoginA.location!)}`);
    expect(sameName.status).toBe(403);
    expectNoSession(sameName, "app A's cookie and state at app B (one cookie name)", '403 malformed-cookie (bad signature)');
    expect(emulator.counters().exchangeCalls).toBe(0);
  });

  it("app A's code at app B's callback with B's own valid login: WeChat refuses it, one re-authorization, no session", async () => {
    const browser = new Browser();
    const loginB = await browser.get(`${two.origin}/two/b`);
    const codeA = emulator.mintCode({ appId: DEMO_APP.appId });
    const answer = await browser.get(`${two.origin}/two/b/callback?code=${codeA}&state=${stateOf(loginB.location!)}`);
    expect(isReauthorization(answer)).toBe(true);
    expect(new URL(answer.location!).searchParams.get('appid')).toBe(SECOND_APP.appId);
    expectNoSession(answer, "app A's code with app B's valid state", '302 re-authorize once (40029)');
    expect(emulator.counters().exchangeByCode[codeA]).toEqual({ calls: 1, outcomes: [40029] });
  });
});
