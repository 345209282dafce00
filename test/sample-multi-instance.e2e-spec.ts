/**
 * Three sample-app PROCESSES behind an imaginary load balancer: one Redis, one SESSION_SECRET, WeChat played by the
 * emulator in this process. Each of 20 browsers logs in for real (login on instance A, consent at the emulator) and
 * its callback is then hit 2-4 times at once on different instances, the way the Android client and a load
 * balancer combine. Exactly one upstream exchange per code; every browser ends with its own user, never another's.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { CookieJar, consentAtEmulator, findSetCookie, pathAndQuery } from './sample-e2e-helpers.js';
import { REDIS_URL, deleteRedisKeys, requireRedis } from './support/code-exchange.harness.js';
import { SampleProcess, requireBuiltSampleApp, sampleProcessEnv } from './support/sample-process.js';
const KEY_PREFIX = `sample-multi-${randomBytes(6).toString('hex')}`;
const SESSION_SECRET = randomBytes(48).toString('base64url');
/** The public callback URL, as a load balancer would expose it; the test plays the balancer and picks instances. */
const PUBLIC_CALLBACK = 'http://app.loadbalancer.test/auth/wechat/callback';
const SESSION_COOKIE = 'wechat_sample_session';
const BROWSERS = 20;

describe('sample app: three instances sharing Redis and SESSION_SECRET', () => {
  let emulator: WechatEmulator;
  const instances: SampleProcess[] = [];

  beforeAll(async () => {
    requireBuiltSampleApp();
    await requireRedis();

    emulator = new WechatEmulator();
    const env = sampleProcessEnv({
      emulatorOrigin: await emulator.listen(),
      callbackURL: PUBLIC_CALLBACK,
      redisURL: REDIS_URL,
      redisKeyPrefix: KEY_PREFIX,
      sessionSecret: SESSION_SECRET,
    });
    instances.push(...(await SampleProcess.startAll(['A', 'B', 'C'], () => env)));
  }, 60_000);

  afterAll(async () => {
    const exits = await SampleProcess.stopAll(instances);
    await emulator?.close();
    // Cleanup is best effort; the keys expire on their own (result TTL).
    await deleteRedisKeys(KEY_PREFIX).catch(() => undefined);
    // Graceful shutdown on SIGTERM: every instance exited by itself, before the SIGKILL fallback.
    for (const exit of exits) expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
  }, 60_000);

  it('all instances are healthy and share Redis', async () => {
    for (const instance of instances) {
      const res = await request(instance.base).get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok', redis: 'up' });
    }
  });

  it('20 browsers, 2-4 concurrent duplicates each on different instances: one exchange per code, each its own user', async () => {
    const [a] = instances as [SampleProcess, SampleProcess, SampleProcess];
    const results = await Promise.all(
      Array.from({ length: BROWSERS }, async (_, i) => {
        const jar = new CookieJar();
        const nickname = `浏览器 ${i} 🧭`;
        // The login starts on instance A: state cookie + authorize URL.
        const login = await request(a.base).get('/auth/wechat');
        expect(login.status).toBe(302);
        jar.store(login.headers['set-cookie'] as unknown as string[]);
        const callbackUrl = await consentAtEmulator(login.headers.location as string, { nickname });
        expect(`${callbackUrl.origin}${callbackUrl.pathname}`).toBe(PUBLIC_CALLBACK);
        const code = callbackUrl.searchParams.get('code')!;

        // The duplicates, concurrently, each on another instance (round-robin from a per-browser offset).
        const duplicates = 2 + (i % 3);
        const targets = Array.from({ length: duplicates }, (_, k) => instances[(i + k) % instances.length]!);
        const answers = await Promise.all(
          targets.map((target) =>
            request(target.base)
              .get(pathAndQuery(callbackUrl))
              .set('Cookie', jar.header())
              .set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8'),
          ),
        );
        return { i, nickname, code, jar, answers, verifyOn: instances[(i + 2) % instances.length]! };
      }),
    );

    const openidByBrowser = new Map<number, string>();
    for (const { i, nickname, code, jar, answers, verifyOn } of results) {
      for (const answer of answers) {
        if (answer.status !== 302) throw new Error(`browser ${i}: callback answered ${answer.status}: ${answer.text}`);
        expect(answer.headers.location).toBe('/profile');
        expect(findSetCookie(answer.headers['set-cookie'] as unknown as string[], SESSION_COOKIE)).toBeDefined();
        // Whichever duplicate's response the browser keeps, it is signed in as itself, on a third instance.
        const browser = jar.clone();
        browser.store(answer.headers['set-cookie'] as unknown as string[]);
        const me = await request(verifyOn.base).get('/api/me').set('Cookie', browser.header());
        expect(me.status).toBe(200);
        expect(me.body.nickname).toBe(nickname);
        const known = openidByBrowser.get(i);
        if (known === undefined) openidByBrowser.set(i, me.body.openid);
        else expect(me.body.openid).toBe(known);
      }
      expect(emulator.exchangeCallsForCode(code)).toBe(1);
    }
    // Twenty browsers, twenty different users: nobody got anybody else's session.
    expect(new Set(openidByBrowser.values()).size).toBe(BROWSERS);
    expect(emulator.counters().exchangeCalls).toBe(BROWSERS);
  }, 60_000);
});
