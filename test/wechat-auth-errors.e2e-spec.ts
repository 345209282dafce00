/**
 * Every error mapping of WechatAuthGuard over real HTTP against the emulator's faults: 400 for a malformed callback
 * (with no upstream call), 401/403 for state problems, one re-authorization for an unusable code, 502 for WeChat
 * failing, 504 for WeChat too slow. Never a 500, never a hang.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { WechatApiClient, WechatAuthModule, type WechatAuthOptions } from 'nestjs-wechat-auth';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { Browser, demoAppOptions, freePort, startApp, stateOf } from './wechat-auth-e2e-helpers.js';
import type { Answer, TestApp } from './wechat-auth-e2e-helpers.js';

const HTTP_TIMEOUT_MS = 500;

let emulator: WechatEmulator;
let emulatorOrigin: string;
let testApp: TestApp;

function moduleFor(port: number, extra: Partial<WechatAuthOptions> = {}) {
  return WechatAuthModule.forRoot(demoAppOptions(emulatorOrigin, port, { httpTimeoutMs: HTTP_TIMEOUT_MS, ...extra }));
}

beforeAll(async () => {
  emulator = new WechatEmulator();
  emulatorOrigin = await emulator.listen();
  const port = await freePort();
  testApp = await startApp([moduleFor(port)], { port });
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await testApp?.close();
  await emulator?.close();
});

/** Starts a login in a fresh browser; returns the browser and a callback URL builder for its state. */
async function startLogin(app: TestApp = testApp, returnTo?: string) {
  const browser = new Browser();
  const login = await browser.get(`${app.origin}/auth/wechat${returnTo ? `?returnTo=${encodeURIComponent(returnTo)}` : ''}`);
  expect(login.status).toBe(302);
  const state = stateOf(login.location!);
  return { browser, state, callback: (code: string) => `${app.origin}/auth/wechat/callback?code=${code}&state=${state}` };
}

function expectError(answer: Answer, status: number, extra: Record<string, unknown> = {}): void {
  expect(answer.status).toBe(status);
  const body = answer.json();
  expect(body).toEqual({ statusCode: status, error: expect.any(String), message: expect.any(String), ...extra });
  expect(answer.headers.get('cache-control')).toBe('no-store');
  expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
}

/** Spends a code at the emulator outside the app, as another exchange would have. */
async function spend(code: string): Promise<void> {
  const client = new WechatApiClient({ appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret, apiBaseURL: emulatorOrigin });
  await client.exchangeCode(code);
}

describe('malformed callbacks', () => {
  it.each([
    ['a repeated code', 'code=abc&code=def&state=STATE', 'code must appear exactly once, as a plain value'],
    ['a repeated state', 'code=abc&state=STATE&state=STATE', 'state must appear exactly once, as a plain value'],
    ['an empty code', 'code=&state=STATE', 'code must not be empty'],
    ['an empty state', 'code=abc&state=', 'state must not be empty'],
    ['a missing state', 'code=abc', 'state is missing: a WeChat callback always carries the state the login sent'],
    ['an oversized code', `code=${'a'.repeat(129)}&state=STATE`, 'code must be at most 128 characters'],
    ['an oversized state', `code=abc&state=${'s'.repeat(129)}`, 'state must be at most 128 characters'],
    ['a non-ASCII code', `code=${encodeURIComponent('代码')}&state=STATE`, 'code must contain only ASCII letters, digits, "-" and "_"'],
    ['a NUL in the code', 'code=ab%00c&state=STATE', 'code must contain only ASCII letters, digits, "-" and "_"'],
    ['CRLF in the state', 'code=abc&state=ST%0D%0AATE', 'state must contain only ASCII letters, digits, "-" and "_"'],
    ['a space in the code', 'code=a+b&state=STATE', 'code must contain only ASCII letters, digits, "-" and "_"'],
    ['a bad state on a refusal', 'state=%3Cscript%3E', 'state must contain only ASCII letters, digits, "-" and "_"'],
  ])('answers 400 to %s, with no upstream call', async (_label, query, problem) => {
    const { browser } = await startLogin();
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?${query}`);
    expectError(answer, 400, { error: 'Bad Request', message: `Invalid WeChat callback: ${problem}` });
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 0, userinfoCalls: 0 });
  });

  it('names both fields when both are bad, and never echoes a value', async () => {
    const answer = await new Browser().get(`${testApp.origin}/auth/wechat/callback?code=SECRET%01CODE&state=a&state=b`);
    expectError(answer, 400);
    expect(answer.text).toContain('code must contain only');
    expect(answer.text).toContain('state must appear exactly once');
    expect(answer.text).not.toContain('SECRET');
  });
});

describe('state problems', () => {
  it('answers 401 when the browser has no state cookie, before any upstream call', async () => {
    const { state } = await startLogin();
    const answer = await new Browser().get(`${testApp.origin}/auth/wechat/callback?code=${emulator.mintCode()}&state=${state}`);
    expectError(answer, 401, { error: 'Unauthorized' });
    expect(answer.json().message).toMatch(/no state cookie/);
    expect(emulator.counters().exchangeCalls).toBe(0);
  });
});

describe('WeChat failing', () => {
  it.each([
    ['errcode -1 (system busy)', { kind: 'errcode', errcode: -1 } as const, { errcode: -1 }],
    ['HTTP 503', { kind: 'http', status: 503 } as const, {}],
    ['an HTML page', { kind: 'html' } as const, {}],
    ['an empty body', { kind: 'empty' } as const, {}],
    ['a connection reset', { kind: 'reset' } as const, {}],
  ])('answers 502 to %s on the token call', async (_label, fault, extra) => {
    emulator.injectFault('access_token', fault);
    const { browser, callback } = await startLogin();
    const code = emulator.mintCode();
    const answer = await browser.get(callback(code));
    expectError(answer, 502, { error: 'Bad Gateway', ...extra });
    expect(answer.text).not.toContain(code);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('answers 502 with the errcode when the profile read fails (after the client\'s one retry)', async () => {
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 });
    const { browser, callback } = await startLogin();
    const answer = await browser.get(callback(emulator.mintCode()));
    expectError(answer, 502, { error: 'Bad Gateway', errcode: -1 });
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 1, userinfoCalls: 2 });
  });

  it('answers 504 when WeChat never answers, within the configured timeout', async () => {
    emulator.injectFault('access_token', { kind: 'hang' });
    const { browser, callback } = await startLogin();
    const started = Date.now();
    const answer = await browser.get(callback(emulator.mintCode()));
    expectError(answer, 504, { error: 'Gateway Timeout' });
    expect(Date.now() - started).toBeLessThan(HTTP_TIMEOUT_MS + 5_000);
  });

  it('answers 504 when WeChat answers later than the timeout, and shares that outcome with a duplicate', async () => {
    emulator.setLatency('access_token', { fixedMs: HTTP_TIMEOUT_MS + 600 });
    const { browser, callback } = await startLogin();
    const code = emulator.mintCode();
    const [first, duplicate] = await Promise.all([browser.get(callback(code)), browser.get(callback(code))]);
    expectError(first, 504);
    expectError(duplicate, 504);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('answers 502 with errcode 40125 when the app secret is wrong', async () => {
    const port = await freePort();
    const wrongSecret = await startApp([moduleFor(port, { appSecret: 'x'.repeat(32) })], { port });
    try {
      const { browser, callback } = await startLogin(wrongSecret);
      const answer = await browser.get(callback(emulator.mintCode()));
      expectError(answer, 502, { error: 'Bad Gateway', errcode: 40125 });
      expect(answer.text).not.toContain('x'.repeat(32));
    } finally {
      await wrongSecret.close();
    }
  });
});

describe('unusable codes', () => {
  it('re-authorizes once for a code used elsewhere (no shared result), keeping returnTo, then signs in', async () => {
    const { browser, callback } = await startLogin(testApp, '/after');
    const cookieBefore = browser.cookieHeader();
    const used = emulator.mintCode();
    await spend(used);

    const reauth = await browser.get(callback(used));
    expect(reauth.status).toBe(302);
    expect(reauth.location).toMatch(new RegExp(`^${emulatorOrigin}/connect/oauth2/authorize\\?appid=${DEMO_APP.appId}&redirect_uri=`));
    expect(reauth.location).toMatch(/&scope=snsapi_userinfo&state=[A-Za-z0-9]{64}#wechat_redirect$/);
    expect(reauth.setCookies).toHaveLength(1);
    expect(browser.cookieHeader()).not.toBe(cookieBefore);
    expect(reauth.headers.get('cache-control')).toBe('no-store');

    const fresh = emulator.mintCode();
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?code=${fresh}&state=${stateOf(reauth.location!)}`);
    expect(answer.status).toBe(302);
    expect(answer.location).toBe('/after');
    expect(answer.user().openid).toMatch(/^o/);
  });

  it('never re-authorizes twice in a row: the second unusable code is a 401 with its errcode', async () => {
    const { browser, callback } = await startLogin();
    const used = emulator.mintCode();
    await spend(used);
    const reauth = await browser.get(callback(used));
    expect(reauth.status).toBe(302);

    const usedAgain = emulator.mintCode();
    await spend(usedAgain);
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?code=${usedAgain}&state=${stateOf(reauth.location!)}`);
    expectError(answer, 401, { error: 'Unauthorized', errcode: 40163 });
    expect(answer.setCookies).toEqual([]);
  });

  it('re-authorizes for an invalid (made-up) code too (40029)', async () => {
    const { browser, callback } = await startLogin();
    const answer = await browser.get(callback('madeUpCode0123456789'));
    expect(answer.status).toBe(302);
    expect(answer.location!.startsWith(`${emulatorOrigin}/connect/oauth2/authorize?`)).toBe(true);
  });

  it('answers 401 straight away when reauthorizeOnCodeUnusable is off', async () => {
    const port = await freePort();
    const noReauth = await startApp([moduleFor(port, { reauthorizeOnCodeUnusable: false })], { port });
    try {
      const { browser, callback } = await startLogin(noReauth);
      const used = emulator.mintCode();
      await spend(used);
      expectError(await browser.get(callback(used)), 401, { error: 'Unauthorized', errcode: 40163 });
    } finally {
      await noReauth.close();
    }
  });

  it('re-authorizes for an expired code (42003)', async () => {
    let now = Date.now();
    const clocked = new WechatEmulator({ now: () => now });
    const clockedOrigin = await clocked.listen();
    const port = await freePort();
    const app = await startApp([moduleFor(port, { apiBaseURL: clockedOrigin, oauthBaseURL: clockedOrigin })], { port });
    try {
      const { browser, callback } = await startLogin(app);
      const code = clocked.mintCode();
      now += 301_000;
      const answer = await browser.get(callback(code));
      expect(answer.status).toBe(302);
      expect(clocked.counters().exchangeByCode[code]?.outcomes).toEqual([42003]);
    } finally {
      await app.close();
      await clocked.close();
    }
  });
});

