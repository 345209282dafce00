/**
 * The Android duplicate callback and code replay, over real HTTP against the emulator: duplicates from the browser
 * that started the login share one exchange; the same code from another browser gets nothing. With Redis, two app
 * instances verify each other's state cookies and still exchange once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { WechatAuthModule, type WechatAuthOptions } from 'nestjs-wechat-auth';
import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { REDIS_URL, deleteRedisKeys, requireRedis } from './support/code-exchange.harness.js';
import { Browser, demoAppOptions, freePort, startApp, stateOf } from './wechat-auth-e2e-helpers.js';
import type { Answer, TestApp } from './wechat-auth-e2e-helpers.js';

let emulator: WechatEmulator;
let emulatorOrigin: string;

beforeAll(async () => {
  emulator = new WechatEmulator();
  emulatorOrigin = await emulator.listen();
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await emulator?.close();
});

function moduleFor(port: number, extra: Partial<WechatAuthOptions> = {}) {
  return WechatAuthModule.forRoot(demoAppOptions(emulatorOrigin, port, extra));
}

function expectSignedIn(answers: Answer[], returnTo: string): string {
  const openids = new Set<string>();
  for (const answer of answers) {
    expect({ status: answer.status, location: answer.location }).toEqual({ status: 302, location: returnTo });
    openids.add(answer.user().openid);
  }
  expect(openids.size).toBe(1);
  return [...openids][0]!;
}

/**
 * The victim signs in at `victimOrigin` with a fresh code; the attacker then starts a login of its own at
 * `attackerOrigin` and sends the victim's code with its own valid cookie and state. Returns the code and the replay's answer.
 */
async function replayVictimCodeWithOwnLogin(victimOrigin: string, attackerOrigin: string): Promise<{ code: string; replay: Answer }> {
  const victim = new Browser();
  const victimLogin = await victim.get(`${victimOrigin}/auth/wechat`);
  const code = emulator.mintCode();
  expectSignedIn([await victim.get(`${victimOrigin}/auth/wechat/callback?code=${code}&state=${stateOf(victimLogin.location!)}`)], '/');

  const attacker = new Browser();
  const attackerLogin = await attacker.get(`${attackerOrigin}/auth/wechat`);
  const replay = await attacker.get(`${attackerOrigin}/auth/wechat/callback?code=${code}&state=${stateOf(attackerLogin.location!)}`);
  return { code, replay };
}

describe('one app instance (in-process coordination)', () => {
  let testApp: TestApp;

  beforeAll(async () => {
    const port = await freePort();
    testApp = await startApp([moduleFor(port)], { port });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('5 concurrent duplicates and 1 late one all sign in the same user with one exchange and one profile read', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat?returnTo=/home`);
    const code = emulator.mintCode({ userId: 'zoe' });
    // Slow WeChat down so that the duplicates really overlap the first exchange.
    emulator.setLatency('access_token', { fixedMs: 150 });
    const url = `${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`;

    const concurrent = await Promise.all(Array.from({ length: 5 }, () => browser.get(url)));
    const late = await browser.get(url);

    expectSignedIn([...concurrent, late], '/home');
    expect(late.user().profile?.nickname).toBe('Zoë "<b>测试</b>" & Co 🚀');
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 1, userinfoCalls: 1 });
  });

  it('a first request aborted by the client (as WeChat on Android does) does not spoil the second', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat`);
    const code = emulator.mintCode();
    emulator.setLatency('access_token', { fixedMs: 200 });
    const url = `${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`;

    const aborted = fetch(url, { redirect: 'manual', headers: { cookie: browser.cookieHeader()! }, signal: AbortSignal.timeout(19) });
    await expect(aborted).rejects.toThrow();
    const second = await browser.get(url);

    expectSignedIn([second], '/');
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('refuses a replay of code and state from a browser without the state cookie (401), with no extra exchange', async () => {
    const victim = new Browser();
    const login = await victim.get(`${testApp.origin}/auth/wechat`);
    const code = emulator.mintCode();
    const url = `${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`;
    expectSignedIn([await victim.get(url)], '/');

    const attacker = await new Browser().get(url);
    expect(attacker.status).toBe(401);
    expect(attacker.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(attacker.headers.get('x-test-user')).toBeNull();
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('refuses the victim\'s code with the attacker\'s own valid cookie and state (403), with no extra exchange', async () => {
    const { code, replay } = await replayVictimCodeWithOwnLogin(testApp.origin, testApp.origin);
    expect(replay.status).toBe(403);
    expect(replay.json()).toEqual({
      statusCode: 403,
      error: 'Forbidden',
      message: 'This WeChat authorization code was already used by another browser',
    });
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('refuses the victim\'s state with the attacker\'s cookie (403 mismatch) before any upstream call', async () => {
    const victim = new Browser();
    const victimLogin = await victim.get(`${testApp.origin}/auth/wechat`);
    const attacker = new Browser();
    await attacker.get(`${testApp.origin}/auth/wechat`);
    const code = emulator.mintCode();
    const answer = await attacker.get(`${testApp.origin}/auth/wechat/callback?code=${code}&state=${stateOf(victimLogin.location!)}`);
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ message: 'This WeChat login does not belong to this browser' });
    expect(emulator.counters().exchangeCalls).toBe(0);
  });

  it('refuses a tampered state cookie (403) before any upstream call', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/auth/wechat`);
    const [name, value] = [...browser.cookies][0]!;
    browser.cookies.set(name, value.replace(/\.[^.]+\.[^.]+$/, `.${Buffer.from('/evil').toString('base64url')}.AAAA`));
    const answer = await browser.get(`${testApp.origin}/auth/wechat/callback?code=${emulator.mintCode()}&state=${stateOf(login.location!)}`);
    expect(answer.status).toBe(403);
    expect(emulator.counters().exchangeCalls).toBe(0);
  });
});

describe('two app instances sharing Redis', () => {
  const keyPrefix = `wxauth-e2e-${randomBytes(6).toString('hex')}`;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    await requireRedis();
    const port = await freePort();
    const codeExchange = { redis: REDIS_URL, keyPrefix };
    first = await startApp([moduleFor(port, { codeExchange })], { port });
    second = await startApp([moduleFor(port, { codeExchange })]);
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await deleteRedisKeys(keyPrefix);
  });

  it('verifies a login started on one instance at the other (no shared session store needed)', async () => {
    const browser = new Browser();
    const login = await browser.get(`${first.origin}/auth/wechat?returnTo=/cart`);
    const code = emulator.mintCode({ scope: 'snsapi_base' });
    const answer = await browser.get(`${second.origin}/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`);
    expectSignedIn([answer], '/cart');
  });

  it('exchanges once for duplicates spread over both instances, and serves a late one from the shared result', async () => {
    const browser = new Browser();
    const login = await browser.get(`${first.origin}/auth/wechat?returnTo=/home`);
    const code = emulator.mintCode({ userId: 'lihua' });
    emulator.setLatency('access_token', { fixedMs: 150 });
    const query = `/auth/wechat/callback?code=${code}&state=${stateOf(login.location!)}`;

    const concurrent = await Promise.all([first, second, first, second, second].map((instance) => browser.get(`${instance.origin}${query}`)));
    const late = await browser.get(`${second.origin}${query}`);

    const openid = expectSignedIn([...concurrent, late], '/home');
    expect(late.user()).toMatchObject({ openid, profile: { nickname: '李华 Li Hua 👨‍👩‍👧' } });
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expect(emulator.counters().userinfoCalls).toBe(1);
  });

  it('refuses the code at the other instance for another browser', async () => {
    const { code, replay } = await replayVictimCodeWithOwnLogin(first.origin, second.origin);
    expect(replay.status).toBe(403);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });
});
