/**
 * The sample app's contract (issue 5), over real HTTP: the app booted in-process (AppModule through the same
 * `startSampleApp` that main.ts uses), WeChat played by the emulator on its own port (production-style config
 * pointing at it) or mounted in-process (demo mode).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { WECHAT_AUTH_OPTIONS, type ResolvedWechatAuthOptions } from 'nestjs-wechat-auth';
import { DEMO_APP, DEMO_USERS, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { SampleApp } from '../apps/sample/src/bootstrap.js';
import { SampleConfigError } from '../apps/sample/src/config/sample-config.js';
import { CookieJar, consentAtEmulator, findSetCookie, pathAndQuery } from './sample-e2e-helpers.js';
import { REDIS_URL, eventually } from './support/code-exchange.harness.js';
import {
  productionSampleEnv,
  sampleBootError,
  startSampleAgainstEmulator,
  startSampleOnLoopback,
  useDemoSampleApp,
} from './support/sample-app.js';

const SESSION_COOKIE = 'wechat_sample_session';
const ZOE = DEMO_USERS.find((user) => user.id === 'zoe')!;
const PANDA = DEMO_USERS.find((user) => user.id === 'panda')!;
/** A short upstream timeout, added to every production-style environment here, keeps the failure cases quick. */
const SHORT_TIMEOUT = { WECHAT_HTTP_TIMEOUT_MS: '1500' };

/** A code WeChat never issued: `code` with its first character changed (to another one, whatever it was). */
function unknownTo(code: string): string {
  return `${code.startsWith('0') ? '1' : '0'}${code.slice(1)}`;
}

function productionEnv(emulatorOrigin: string, extra: Record<string, string> = {}): Record<string, string> {
  return productionSampleEnv(emulatorOrigin, { ...SHORT_TIMEOUT, ...extra });
}

/** One simulated browser against one app. */
class Browser {
  readonly jar = new CookieJar();
  constructor(private readonly baseUrl: string) {}

  /** `GET /auth/wechat`: returns the authorize URL; the jar keeps the state cookie. */
  async startLogin(returnTo?: string): Promise<string> {
    const res = await request(this.baseUrl)
      .get('/auth/wechat')
      .query(returnTo === undefined ? {} : { returnTo })
      .set('Cookie', this.jar.header());
    expect(res.status).toBe(302);
    this.jar.store(res.headers['set-cookie']);
    return res.headers.location as string;
  }

  /** The whole login up to WeChat's redirect back: returns the callback URL (code + state). */
  async authorize(choice: Parameters<typeof consentAtEmulator>[1] = {}, returnTo?: string): Promise<URL> {
    return consentAtEmulator(await this.startLogin(returnTo), choice);
  }

  /** `GET <callback>` as this browser (the Android duplicate is just this, twice). */
  callback(callbackUrl: URL, accept = 'text/html,application/xhtml+xml,*/*;q=0.8') {
    return request(this.baseUrl).get(pathAndQuery(callbackUrl)).set('Cookie', this.jar.header()).set('Accept', accept);
  }

  get(path: string, accept = 'application/json') {
    return request(this.baseUrl).get(path).set('Cookie', this.jar.header()).set('Accept', accept);
  }
}

describe('sample app (production-style config against the emulator)', () => {
  let emulator: WechatEmulator;
  let sample: SampleApp;
  let base: string;

  beforeAll(async () => {
    ({ emulator, sample, base } = await startSampleAgainstEmulator(SHORT_TIMEOUT));
  });

  afterAll(async () => {
    await sample?.close();
    await emulator?.close();
  });

  beforeEach(() => {
    emulator.clearFaults();
    emulator.setLatency('all', { fixedMs: 0 });
  });

  it('GET /health reports ok with Redis disabled (no REDIS_URL)', async () => {
    const res = await request(base).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', redis: 'disabled' });
  });

  it('GET / offers "Sign in with WeChat" on a small, escaped, zh-CN page with security headers', async () => {
    const res = await request(base).get('/').set('Accept', 'text/html');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('<html lang="zh-CN">');
    expect(res.text).toContain('<meta charset="utf-8">');
    expect(res.text).toContain('Sign in with WeChat');
    expect(res.text).toContain('href="/auth/wechat"');
    // Not demo mode: no emulator note, no counters.
    expect(res.text).not.toContain('Demo mode');
    expect(res.headers['content-security-policy']).toContain("script-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('GET /auth/wechat redirects to the authorize URL in WeChat order, with a browser-bound state cookie', async () => {
    const origin = emulator.origin!;
    const res = await request(base).get('/auth/wechat');
    expect(res.status).toBe(302);
    const location = res.headers.location as string;
    const callback = encodeURIComponent(sample.config.callbackURL);
    expect(location).toMatch(
      new RegExp(
        `^${origin.replace(/[.]/g, '\\.')}/connect/oauth2/authorize\\?appid=${DEMO_APP.appId}&redirect_uri=${callback.replace(/[.]/g, '\\.')}` +
          '&response_type=code&scope=snsapi_userinfo&state=[A-Za-z0-9]{1,128}#wechat_redirect$',
      ),
    );
    const stateCookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('wechat_auth_state_'));
    expect(stateCookie).toBeDefined();
    expect(stateCookie).toMatch(/; HttpOnly/i);
    expect(stateCookie).toMatch(/; SameSite=Lax/i);
    expect(stateCookie).not.toMatch(/; Secure/i);
  });

  it('signs a user in: callback sets the session and 302s to /profile; /api/me and /profile show the user, escaped', async () => {
    const browser = new Browser(base);
    const callbackUrl = await browser.authorize({ user: ZOE.id });
    expect(callbackUrl.searchParams.get('code')).toBeTruthy();

    const res = await browser.callback(callbackUrl);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/profile');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const sessionCookie = findSetCookie(res.headers['set-cookie'], SESSION_COOKIE);
    expect(sessionCookie).toMatch(/; HttpOnly/i);
    expect(sessionCookie).toMatch(/; SameSite=Lax/i);
    expect(sessionCookie).toMatch(/; Path=\//);
    expect(sessionCookie).toMatch(/; Max-Age=86400/);
    expect(sessionCookie).not.toMatch(/; Secure/i);
    browser.jar.store(res.headers['set-cookie']);
    // The session is the app's own signed cookie: no WeChat token in it.
    const payload = Buffer.from(browser.jar.get(SESSION_COOKIE)!.split('.')[1]!, 'base64url').toString('utf8');
    expect(payload).not.toMatch(/access_token|accessToken|refresh/i);

    const me = await browser.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.headers['cache-control']).toBe('no-store');
    expect(me.body).toMatchObject({ appId: DEMO_APP.appId, nickname: ZOE.nickname });
    expect(me.body.openid).toMatch(/^o[\w-]{20,}$/);
    expect(me.body.unionid).toMatch(/^o[\w-]{20,}$/);
    expect(me.body.headimgurl).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(me.body).not.toHaveProperty('token');

    const profile = await browser.get('/profile', 'text/html');
    expect(profile.status).toBe(200);
    expect(profile.text).toContain(me.body.openid);
    expect(profile.text).toContain(me.body.unionid);
    // Zoë "<b>测试</b>" & Co 🚀: shown as text, never as markup.
    expect(profile.text).toContain('Zoë &quot;&lt;b&gt;测试&lt;/b&gt;&quot; &amp; Co 🚀');
    expect(profile.text).not.toContain('<b>测试</b>');
    expect(profile.text).toContain('action="/auth/logout"');
  });

  it('every duplicate of one callback from one browser ends in a valid session for the same user, one exchange upstream', async () => {
    const browser = new Browser(base);
    const callbackUrl = await browser.authorize({ user: PANDA.id });
    const code = callbackUrl.searchParams.get('code')!;

    const concurrent = await Promise.all([1, 2, 3, 4].map(() => browser.callback(callbackUrl)));
    // And one more after the first exchange has finished (Back/refresh on the callback URL).
    const late = await browser.callback(callbackUrl);
    const openids = new Set<string>();
    for (const res of [...concurrent, late]) {
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/profile');
      const jar = browser.jar.clone();
      jar.store(res.headers['set-cookie']);
      const me = await request(base).get('/api/me').set('Cookie', jar.header());
      expect(me.status).toBe(200);
      expect(me.body.nickname).toBe(PANDA.nickname);
      openids.add(me.body.openid);
    }
    expect(openids.size).toBe(1);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('keeps a same-site returnTo and drops an absolute or protocol-relative one', async () => {
    const kept = new Browser(base);
    const res = await kept.callback(await kept.authorize({}, '/profile?tab=1'));
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/profile?tab=1');

    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const browser = new Browser(base);
      const answer = await browser.callback(await browser.authorize({}, evil));
      expect(answer.status).toBe(302);
      expect(answer.headers.location).toBe('/profile');
    }
  });

  it('refuses a replay of code and state from another browser (403 JSON), without spending anything upstream', async () => {
    const victim = new Browser(base);
    const callbackUrl = await victim.authorize({ user: ZOE.id });
    const code = callbackUrl.searchParams.get('code')!;
    expect((await victim.callback(callbackUrl)).status).toBe(302);

    // Another browser that started its own login (its own state cookie) replays the victim's callback.
    const attacker = new Browser(base);
    await attacker.startLogin();
    const replay = await attacker.callback(callbackUrl, 'application/json');
    expect([401, 403]).toContain(replay.status);
    expect(replay.body).toEqual({
      statusCode: replay.status,
      error: replay.status === 401 ? 'Unauthorized' : 'Forbidden',
      message: expect.any(String),
    });
    expect(findSetCookie(replay.headers['set-cookie'], SESSION_COOKIE)).toBeUndefined();

    // A browser with no state cookie at all.
    const bare = await request(base).get(pathAndQuery(callbackUrl)).set('Accept', 'application/json');
    expect(bare.status).toBe(401);
    expect(bare.body.statusCode).toBe(401);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('rejects a tampered state with 401/403 before any upstream call', async () => {
    const browser = new Browser(base);
    const callbackUrl = await browser.authorize();
    const before = emulator.counters().exchangeCalls;
    const tampered = new URL(callbackUrl);
    const state = tampered.searchParams.get('state')!;
    tampered.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    const res = await browser.callback(tampered, 'application/json');
    expect([401, 403]).toContain(res.status);
    expect(res.body.statusCode).toBe(res.status);
    expect(emulator.counters().exchangeCalls).toBe(before);
  });

  it('answers malformed callbacks with 400 JSON and no upstream call', async () => {
    const browser = new Browser(base);
    const callbackUrl = await browser.authorize();
    const state = callbackUrl.searchParams.get('state')!;
    const before = emulator.counters().exchangeCalls;
    const malformed = [
      `/auth/wechat/callback?code=a&code=b&state=${state}`,
      `/auth/wechat/callback?code=${'x'.repeat(300)}&state=${state}`,
      `/auth/wechat/callback?code=%E4%BD%A0%E5%A5%BD&state=${state}`,
      `/auth/wechat/callback?code=&state=${state}`,
      `/auth/wechat/callback?code=abc&state=${state}&state=${state}`,
    ];
    for (const path of malformed) {
      const res = await request(base).get(path).set('Cookie', browser.jar.header()).set('Accept', 'application/json');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.any(String) });
    }
    expect(emulator.counters().exchangeCalls).toBe(before);
  });

  it('answers a denied authorization (state without code) with a clean 401, not a new redirect', async () => {
    const browser = new Browser(base);
    const callbackUrl = await consentAtEmulator(await browser.startLogin(), { action: 'deny' });
    expect(callbackUrl.searchParams.has('code')).toBe(false);
    const res = await browser.callback(callbackUrl, 'application/json');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String) });
  });

  it('re-authorizes once for a code WeChat rejects, then answers 401 with the errcode', async () => {
    const browser = new Browser(base);
    const callbackUrl = await browser.authorize();
    // A code WeChat does not know (wrong, expired or another app's): 40029.
    const unknown = new URL(callbackUrl);
    unknown.searchParams.set('code', unknownTo(callbackUrl.searchParams.get('code')!));
    const first = await browser.callback(unknown, 'application/json');
    expect(first.status).toBe(302);
    const location = first.headers.location as string;
    expect(location.startsWith(`${emulator.origin}/connect/oauth2/authorize?appid=${DEMO_APP.appId}&`)).toBe(true);
    browser.jar.store(first.headers['set-cookie']);

    // The user comes back with another rejected code: no second redirect in a row.
    const again = await consentAtEmulator(location);
    again.searchParams.set('code', unknownTo(again.searchParams.get('code')!));
    const second = await browser.callback(again, 'application/json');
    expect(second.status).toBe(401);
    expect(second.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String), errcode: 40029 });
  });

  it('maps WeChat "system busy" (-1) to 502 with errcode -1', async () => {
    emulator.injectFault('access_token', { kind: 'errcode', errcode: -1 }, { times: 1 });
    const browser = new Browser(base);
    const res = await browser.callback(await browser.authorize(), 'application/json');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ statusCode: 502, error: 'Bad Gateway', message: expect.any(String), errcode: -1 });
  });

  it('maps a configuration error (invalid appsecret, 40125) to 502 with the errcode', async () => {
    emulator.injectFault('access_token', { kind: 'errcode', errcode: 40125 }, { times: 1 });
    const browser = new Browser(base);
    const res = await browser.callback(await browser.authorize(), 'application/json');
    expect(res.status).toBe(502);
    expect(res.body.errcode).toBe(40125);
    // The message names the problem, never the secret.
    expect(JSON.stringify(res.body)).not.toContain(DEMO_APP.appSecret);
  });

  it('maps an HTTP 503 from WeChat to 502 without errcode', async () => {
    emulator.injectFault('access_token', { kind: 'http', status: 503 }, { times: 1 });
    const browser = new Browser(base);
    const res = await browser.callback(await browser.authorize(), 'application/json');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ statusCode: 502, error: 'Bad Gateway', message: expect.any(String) });
  });

  it('maps WeChat answering slower than the timeout to 504, and a hang too', async () => {
    emulator.setLatency('access_token', { fixedMs: 3000 });
    const slow = new Browser(base);
    const started = Date.now();
    const res = await slow.callback(await slow.authorize(), 'application/json');
    expect(res.status).toBe(504);
    expect(res.body).toEqual({ statusCode: 504, error: 'Gateway Timeout', message: expect.any(String) });
    expect(Date.now() - started).toBeLessThan(10_000);

    emulator.setLatency('access_token', { fixedMs: 0 });
    emulator.injectFault('access_token', { kind: 'hang' }, { times: 1 });
    const hung = new Browser(base);
    const answer = await hung.callback(await hung.authorize(), 'application/json');
    expect(answer.status).toBe(504);
  });

  it('shows browsers an HTML error page with a "try again" link to the login', async () => {
    const res = await request(base)
      .get('/auth/wechat/callback?code=abc&state=abc')
      .set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('<html lang="zh-CN">');
    expect(res.text).toContain('401 Unauthorized');
    expect(res.text).toContain('href="/auth/wechat"');
    expect(res.text).toContain('Try again');
  });

  it('GET /api/me without a session (or with a forged one) answers 401 JSON', async () => {
    const none = await request(base).get('/api/me');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String) });

    // A browser asking for HTML still gets 401 from the API (no redirect).
    const html = await request(base).get('/api/me').set('Accept', 'text/html');
    expect(html.status).toBe(401);

    const browser = new Browser(base);
    browser.jar.store((await browser.callback(await browser.authorize({ user: ZOE.id }))).headers['set-cookie']);
    const [version, body, signature] = browser.jar.get(SESSION_COOKIE)!.split('.') as [string, string, string];
    const forgedBody = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString('utf8')), openid: 'oSomeoneElse0000000000000000' }),
    ).toString('base64url');
    for (const forged of [`${version}.${forgedBody}.${signature}`, `${version}.${body}.${'A'.repeat(43)}`, 'garbage', `${version}.${body}`]) {
      const res = await request(base).get('/api/me').set('Cookie', `${SESSION_COOKIE}=${forged}`);
      expect(res.status).toBe(401);
    }
  });

  it('GET /profile without a session redirects to the login with returnTo; JSON clients get 401', async () => {
    const res = await request(base).get('/profile').set('Accept', 'text/html');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/auth/wechat?returnTo=/profile');

    const curl = await request(base).get('/profile').set('Accept', '*/*');
    expect(curl.status).toBe(302);

    const api = await request(base).get('/profile').set('Accept', 'application/json');
    expect(api.status).toBe(401);
    expect(api.body.statusCode).toBe(401);
  });

  it('POST /auth/logout clears the session: 303 to / for browsers, 204 for API clients; cross-site posts are refused', async () => {
    const browser = new Browser(base);
    browser.jar.store((await browser.callback(await browser.authorize())).headers['set-cookie']);
    expect((await browser.get('/api/me')).status).toBe(200);

    const crossSite = await request(base)
      .post('/auth/logout')
      .set('Cookie', browser.jar.header())
      .set('Sec-Fetch-Site', 'cross-site')
      .set('Accept', 'application/json');
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.statusCode).toBe(403);

    const form = await request(base)
      .post('/auth/logout')
      .set('Cookie', browser.jar.header())
      .set('Sec-Fetch-Site', 'same-origin')
      .set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8')
      .type('form')
      .send('');
    expect(form.status).toBe(303);
    expect(form.headers.location).toBe('/');
    const cleared = findSetCookie(form.headers['set-cookie'], SESSION_COOKIE);
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    const loggedOut = browser.jar.clone();
    loggedOut.store(form.headers['set-cookie']);
    expect(loggedOut.get(SESSION_COOKIE)).toBeUndefined();
    expect((await request(base).get('/api/me').set('Cookie', loggedOut.header())).status).toBe(401);

    const api = await request(base).post('/auth/logout').set('Cookie', browser.jar.header()).set('Accept', 'application/json');
    expect(api.status).toBe(204);
    expect(findSetCookie(api.headers['set-cookie'], SESSION_COOKIE)).toBeDefined();
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await request(base).get('/nope').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.any(String) });
  });

  it('accepts sessions from an instance sharing SESSION_SECRET, and rejects them with another secret', async () => {
    const browser = new Browser(base);
    browser.jar.store((await browser.callback(await browser.authorize({ user: ZOE.id }))).headers['set-cookie']);
    const twin = await startSampleOnLoopback(productionEnv(emulator.origin!, { SESSION_SECRET: sample.config.sessionSecret }));
    const stranger = await startSampleOnLoopback(productionEnv(emulator.origin!));
    try {
      const shared = await request(twin.base).get('/api/me').set('Cookie', browser.jar.header());
      expect(shared.status).toBe(200);
      expect(shared.body.nickname).toBe(ZOE.nickname);
      const other = await request(stranger.base).get('/api/me').set('Cookie', browser.jar.header());
      expect(other.status).toBe(401);
    } finally {
      await twin.sample.close();
      await stranger.sample.close();
    }
  });

  it('lets an in-flight callback finish when the app shuts down', async () => {
    const { sample: closing, base: closingBase } = await startSampleOnLoopback(productionEnv(emulator.origin!));
    const browser = new Browser(closingBase);
    const callbackUrl = await browser.authorize();
    emulator.setLatency('access_token', { fixedMs: 600 });
    const inFlight = browser.callback(callbackUrl).then((res) => res);
    // Shut down once the callback is inside the app: WeChat has its code (it counts a code on arrival, then answers
    // 600 ms later).
    const code = callbackUrl.searchParams.get('code') ?? '';
    await eventually(() => emulator.exchangeCallsForCode(code) === 1, 5_000, 5);
    const closed = closing.close();
    const res = await inFlight;
    await closed;
    expect(res.status).toBe(302);
    expect(findSetCookie(res.headers['set-cookie'], SESSION_COOKIE)).toBeDefined();
    // And nothing listens any more.
    await expect(fetch(`${closingBase}/health`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  });
});

describe('sample app with REDIS_URL', () => {
  let emulator: WechatEmulator;

  beforeAll(async () => {
    emulator = new WechatEmulator();
    await emulator.listen();
  });
  afterAll(async () => {
    await emulator?.close();
  });

  it('reports redis "up" on /health when Redis is reachable', async () => {
    const env = productionEnv(emulator.origin!, {
      REDIS_URL,
      REDIS_KEY_PREFIX: `sample-e2e-${randomBytes(4).toString('hex')}`,
    });
    let sample: SampleApp;
    let base: string;
    try {
      ({ sample, base } = await startSampleOnLoopback(env));
    } catch (error) {
      throw new Error(`Redis at ${REDIS_URL} is required for this test (set REDIS_URL): ${(error as Error).message}`);
    }
    try {
      const res = await request(base).get('/health');
      expect(res.status).toBe(200);
      if (res.body.redis !== 'up') throw new Error(`Redis at ${REDIS_URL} is not reachable (health: ${res.body.redis}); start it or set REDIS_URL`);
      expect(res.body).toEqual({ status: 'ok', redis: 'up' });
    } finally {
      await sample.close();
    }
  });

  it('reports redis "down" on /health when Redis is unreachable, and still serves', async () => {
    const { sample, base } = await startSampleOnLoopback(productionEnv(emulator.origin!, { REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      let health = await request(base).get('/health');
      // The library notices an outage on use or on its own probes: allow it a moment.
      for (let i = 0; i < 20 && health.body.redis !== 'down'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        health = await request(base).get('/health');
      }
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ status: 'ok', redis: 'down' });
    } finally {
      await sample.close();
    }
  });
});

describe('sample app in demo mode', () => {
  const demo = useDemoSampleApp();

  it('mounts the emulator in-process and points the login at it, with the demo app', async () => {
    expect(demo.sample.config.mode).toBe('demo');
    expect(demo.sample.emulator).not.toBeNull();
    expect(demo.sample.url).toBe(`http://localhost:${demo.sample.config.port}`);
    const res = await request(demo.base).get('/auth/wechat');
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(
      new RegExp(`^http://localhost:${demo.sample.config.port}/__wechat/connect/oauth2/authorize\\?appid=${DEMO_APP.appId}&`),
    );
  });

  it('GET / explains the demo and shows the counters panel', async () => {
    const res = await request(demo.base).get('/').set('Accept', 'text/html');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Sign in with WeChat');
    expect(res.text).toContain('Simulate Android duplicate callback');
    expect(res.text).toContain('Upstream exchanges');
    expect(res.text).toContain('Duplicates coalesced');
  });

  it('completes a login through the in-process emulator; duplicates coalesce into one upstream exchange', async () => {
    const browser = new Browser(demo.base);
    const callbackUrl = await browser.authorize({ nickname: '演示用户 demo 🧪' });
    expect(callbackUrl.origin).toBe(demo.base);
    const code = callbackUrl.searchParams.get('code')!;
    const before = (await request(demo.base).get('/demo/counters')).body;
    const answers = await Promise.all([browser.callback(callbackUrl), browser.callback(callbackUrl)]);
    for (const res of answers) {
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/profile');
    }
    browser.jar.store(answers[1]!.headers['set-cookie']);
    const me = await browser.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.body.nickname).toBe('演示用户 demo 🧪');
    expect(demo.sample.emulator!.exchangeCallsForCode(code)).toBe(1);

    const after = (await request(demo.base).get('/demo/counters')).body;
    expect(after.callbackRequests - before.callbackRequests).toBe(2);
    expect(after.upstreamExchanges - before.upstreamExchanges).toBe(1);
    expect(after.duplicatesCoalesced - before.duplicatesCoalesced).toBe(1);
    expect(after.sessionsStarted - before.sessionsStarted).toBe(2);
  });

  it('GET /health reports Redis disabled', async () => {
    expect((await request(demo.base).get('/health')).body).toEqual({ status: 'ok', redis: 'disabled' });
  });
});

describe('sample app configuration', () => {
  const production = {
    WECHAT_APP_ID: DEMO_APP.appId,
    WECHAT_APP_SECRET: DEMO_APP.appSecret,
    SESSION_SECRET: 'x'.repeat(40),
    PORT: '0',
  };

  it('requires SESSION_SECRET outside demo mode, of at least 32 characters', async () => {
    const missing = await sampleBootError({ ...production, SESSION_SECRET: '' });
    expect(missing).toBeInstanceOf(SampleConfigError);
    expect(missing.message).toMatch(/SESSION_SECRET is required when WECHAT_APP_ID is set/);
    const short = await sampleBootError({ ...production, SESSION_SECRET: 'too-short-secret' });
    expect(short.message).toMatch(/SESSION_SECRET is too short \(16 characters\)/);
    expect(short.message).not.toContain('too-short-secret');
  });

  it('names every bad variable at once and never echoes a secret', async () => {
    const error = await sampleBootError({
      ...production,
      PORT: '70000',
      WECHAT_APP_SECRET: 'not-a-valid-secret-value',
      WECHAT_SCOPE: 'snsapi_login',
      WECHAT_CALLBACK_URL: 'ftp://example.com/cb',
      REDIS_URL: 'http://127.0.0.1:6379',
      WECHAT_RESULT_TTL_MS: '0',
    });
    expect(error).toBeInstanceOf(SampleConfigError);
    for (const name of ['PORT', 'WECHAT_APP_SECRET', 'WECHAT_SCOPE', 'WECHAT_CALLBACK_URL', 'REDIS_URL', 'WECHAT_RESULT_TTL_MS']) {
      expect(error.message).toContain(name);
    }
    expect(error.message).not.toContain('not-a-valid-secret-value');
  });

  it('refuses half a configuration: a secret without an app id, or WeChat origins in demo mode', async () => {
    expect((await sampleBootError({ PORT: '0', WECHAT_APP_SECRET: DEMO_APP.appSecret })).message).toMatch(
      /WECHAT_APP_SECRET is set but WECHAT_APP_ID is not/,
    );
    expect((await sampleBootError({ PORT: '0', WECHAT_API_BASE_URL: 'http://127.0.0.1:9' })).message).toMatch(
      /WECHAT_API_BASE_URL is set but WECHAT_APP_ID is not/,
    );
  });

  it('refuses a WECHAT_RESULT_TTL_MS that is not a whole number of milliseconds from 1000 to 300000', async () => {
    for (const bad of ['0', '999', '300001', '1.5', '-1000', '5s']) {
      const error = await sampleBootError(productionEnv('http://127.0.0.1:9', { WECHAT_RESULT_TTL_MS: bad }));
      expect(error).toBeInstanceOf(SampleConfigError);
      expect(error.message).toContain(`WECHAT_RESULT_TTL_MS must be a whole number of milliseconds from 1000 to 300000 (got "${bad}")`);
    }
  });

  it('shares a code exchange\'s outcome with duplicates for WECHAT_RESULT_TTL_MS, and no longer', async () => {
    const running = await startSampleAgainstEmulator({ ...SHORT_TIMEOUT, WECHAT_RESULT_TTL_MS: '1000' });
    try {
      const { emulator, sample, base } = running;
      expect(sample.config.resultTtlMs).toBe(1_000);
      expect(sample.app.get<ResolvedWechatAuthOptions>(WECHAT_AUTH_OPTIONS).codeExchange.resultTtlMs).toBe(1_000);
      const browser = new Browser(base);
      const callbackUrl = await browser.authorize();
      const code = callbackUrl.searchParams.get('code')!;
      for (const res of [await browser.callback(callbackUrl), await browser.callback(callbackUrl)]) {
        expect({ status: res.status, location: res.headers.location }).toEqual({ status: 302, location: '/profile' });
      }
      // Once the outcome has expired, a late duplicate exchanges again: WeChat says the code is spent (40163) and
      // the browser is sent back to WeChat for a fresh one (with the default 60 s it would still share the session).
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      const late = await browser.callback(callbackUrl);
      expect(late.status).toBe(302);
      expect(late.headers.location.startsWith(`${emulator.origin}/connect/oauth2/authorize?appid=${DEMO_APP.appId}&`)).toBe(true);
      expect(emulator.counters().exchangeByCode[code]).toEqual({ calls: 2, outcomes: [0, 40163] });
    } finally {
      await running.close();
    }
  });

  it('uses an https callback URL for Secure, __Host- session cookies', async () => {
    const running = await startSampleAgainstEmulator({ ...SHORT_TIMEOUT, WECHAT_CALLBACK_URL: 'https://app.example.com/auth/wechat/callback' });
    try {
      const { sample, base } = running;
      expect(sample.config.secureCookies).toBe(true);
      const browser = new Browser(base);
      const callbackUrl = await browser.authorize();
      expect(callbackUrl.origin).toBe('https://app.example.com');
      const res = await browser.callback(callbackUrl);
      expect(res.status).toBe(302);
      const cookie = findSetCookie(res.headers['set-cookie'], '__Host-wechat_sample_session');
      expect(cookie).toMatch(/; Secure/i);
      expect(cookie).toMatch(/; Path=\//);
      expect(res.headers['strict-transport-security']).toBeDefined();
    } finally {
      await running.close();
    }
  });
});
