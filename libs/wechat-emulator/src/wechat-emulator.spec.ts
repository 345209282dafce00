import { afterEach, describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { eventually } from '../../../test/support/code-exchange.harness.js';
import { serveEmulatorToSpecFile } from '../../../test/support/emulator-spec.js';
import { DEMO_APP, DEMO_USERS } from './demo-data.js';
import { WechatEmulator } from './wechat-emulator.js';

const OTHER_APP = { appId: 'wx00000000000000b2', appSecret: 'otherSecretQ4w8E2r6T0y3U7i1O5p9A', openPlatformBound: true };
const UNBOUND_APP = { appId: 'wx00000000000000c3', appSecret: 'unboundSecretZ1x2C3v4B5n6M7a8S9d', openPlatformBound: false };

let clock = 1_700_000_000_000;
const emulator = new WechatEmulator({
  apps: [{ ...DEMO_APP }, OTHER_APP, UNBOUND_APP],
  users: [...DEMO_USERS, { id: 'ghost', nickname: '快照幽灵👻', snapshot: true }],
  now: () => clock,
});
let origin: string;

interface SnsAnswer {
  status: number;
  contentType: string | null;
  bytes: Buffer;
  json: Record<string, unknown>;
}

async function sns(path: string, params: Record<string, string | undefined>): Promise<SnsAnswer> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, value);
  const response = await fetch(`${origin}${path}?${query}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    bytes,
    json: bytes.length ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>) : {},
  };
}

function exchange(code: string | undefined, overrides: Record<string, string | undefined> = {}) {
  return sns('/sns/oauth2/access_token', {
    appid: DEMO_APP.appId,
    secret: DEMO_APP.appSecret,
    code,
    grant_type: 'authorization_code',
    ...overrides,
  });
}

function expectError(answer: SnsAnswer, errcode: number, text: string): void {
  expect(answer.status).toBe(200);
  expect(answer.json.errcode).toBe(errcode);
  expect(answer.json.errmsg).toMatch(new RegExp(`^${text}, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`));
}

serveEmulatorToSpecFile(emulator, { listening: (at) => (origin = at), beforeEachTest: () => (clock = 1_700_000_000_000) });

describe('/sns/oauth2/access_token', () => {
  it("answers HTTP 200, UTF-8 JSON, Content-Type text/plain with no charset, like WeChat", async () => {
    const answer = await exchange(emulator.mintCode({ userId: 'panda' }));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('text/plain');
    expect(answer.json).toEqual({
      access_token: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
      expires_in: 7200,
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
      openid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
      scope: 'snsapi_userinfo',
      unionid: expect.stringMatching(/^o[A-Za-z0-9_-]{28}$/),
    });
  });

  it('spends a code once: the second exchange answers 40163', async () => {
    const code = emulator.mintCode({});
    expect((await exchange(code)).json.access_token).toBeDefined();
    expectError(await exchange(code), 40163, 'code been used');
    expect(emulator.counters().exchangeByCode[code]).toEqual({ calls: 2, outcomes: [0, 40163] });
  });

  it('lets exactly one of two concurrent exchanges of a code succeed, even with latency', async () => {
    emulator.setLatency('access_token', { fixedMs: 50, jitterMs: 20 });
    const code = emulator.mintCode({});
    const answers = await Promise.all([exchange(code), exchange(code)]);
    const errcodes = answers.map((a) => a.json.errcode ?? 0).sort();
    expect(errcodes).toEqual([0, 40163]);
    expect(emulator.exchangeCallsForCode(code)).toBe(2);
  });

  it('expires a code after codeTtlSeconds (42003), then forgets it (40029)', async () => {
    const fresh = emulator.mintCode({});
    const stale = emulator.mintCode({});
    clock += 299_000;
    expect((await exchange(fresh)).json.openid).toBeDefined();
    clock += 1_000;
    expectError(await exchange(stale), 42003, 'code expired');
    clock += 600_000;
    expectError(await exchange(stale), 40029, 'invalid code');
  });

  it('honours codeTtlSeconds', async () => {
    const short = new WechatEmulator({ codeTtlSeconds: 1, now: () => clock });
    const shortOrigin = await short.listen();
    try {
      const code = short.mintCode({});
      clock += 1000;
      const response = await fetch(
        `${shortOrigin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`,
      );
      expect((await response.json()) as object).toMatchObject({ errcode: 42003 });
    } finally {
      await short.close();
    }
  });

  it.each([
    ['41002 without appid', { appid: undefined }, 41002, 'appid missing'],
    ['40013 for an unknown appid', { appid: 'wxffffffffffffffff' }, 40013, 'invalid appid'],
    ['41004 without secret', { secret: undefined }, 41004, 'appsecret missing'],
    ['40125 for a wrong secret', { secret: 'x'.repeat(32) }, 40125, 'invalid appsecret'],
    ['40125 for another app\'s secret', { secret: OTHER_APP.appSecret }, 40125, 'invalid appsecret'],
    ['41008 without code', { code: undefined }, 41008, 'missing code'],
    ['41008 for an empty code', { code: '' }, 41008, 'missing code'],
    ['40002 for a wrong grant_type', { grant_type: 'client_credential' }, 40002, 'invalid grant_type'],
    ['40029 for an unknown code', { code: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 40029, 'invalid code'],
    ['40029 for another app\'s code', { appid: OTHER_APP.appId, secret: OTHER_APP.appSecret }, 40029, 'invalid code'],
  ])('answers %s', async (_label, overrides: Record<string, string | undefined>, errcode, text) => {
    const code = emulator.mintCode({});
    expectError(await exchange(code, overrides), errcode, text);
    // A failed attempt does not spend the code.
    if (errcode !== 40029 || !('code' in overrides)) expect((await exchange(code)).json.openid).toBeDefined();
  });

  it('can answer a reused code with 40029 instead', async () => {
    const strict = new WechatEmulator({ usedCodeErrcode: 40029 });
    const strictOrigin = await strict.listen();
    try {
      const code = strict.mintCode({});
      const url = `${strictOrigin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`;
      await (await fetch(url)).arrayBuffer();
      expect((await (await fetch(url)).json()) as object).toMatchObject({ errcode: 40029 });
    } finally {
      await strict.close();
    }
  });

  it('returns unionid only for snsapi_userinfo on a bound account; openid per app, unionid per user', async () => {
    const base = await exchange(emulator.mintCode({ userId: 'panda', scope: 'snsapi_base' }));
    expect(base.json.scope).toBe('snsapi_base');
    expect(base.json).not.toHaveProperty('unionid');
    const demo = await exchange(emulator.mintCode({ userId: 'panda' }));
    const other = await exchange(emulator.mintCode({ userId: 'panda', appId: OTHER_APP.appId }), {
      appid: OTHER_APP.appId,
      secret: OTHER_APP.appSecret,
    });
    const unbound = await exchange(emulator.mintCode({ userId: 'panda', appId: UNBOUND_APP.appId }), {
      appid: UNBOUND_APP.appId,
      secret: UNBOUND_APP.appSecret,
    });
    expect(unbound.json).not.toHaveProperty('unionid');
    expect(demo.json.openid).toBe(base.json.openid);
    expect(other.json.openid).not.toBe(demo.json.openid);
    expect(other.json.unionid).toBe(demo.json.unionid);
    const lihua = await exchange(emulator.mintCode({ userId: 'lihua' }));
    expect(lihua.json.unionid).not.toBe(demo.json.unionid);
    // Stable across emulator instances: a demo user keeps its openid between runs.
    const again = new WechatEmulator({ now: () => clock });
    const againOrigin = await again.listen();
    try {
      const code = again.mintCode({ userId: 'panda' });
      const response = await fetch(
        `${againOrigin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`,
      );
      expect(((await response.json()) as { openid: string }).openid).toBe(demo.json.openid);
    } finally {
      await again.close();
    }
  });

  it('marks snapshot users with is_snapshotuser: 1 and a virtual openid', async () => {
    const real = await exchange(emulator.mintCode({ userId: 'panda' }));
    expect(real.json).not.toHaveProperty('is_snapshotuser');
    const snapshot = await exchange(emulator.mintCode({ userId: 'panda', snapshot: true }));
    expect(snapshot.json.is_snapshotuser).toBe(1);
    expect(snapshot.json.openid).not.toBe(real.json.openid);
    expect(snapshot.json.unionid).not.toBe(real.json.unionid);
    expect((await exchange(emulator.mintCode({ userId: 'ghost' }))).json.is_snapshotuser).toBe(1);
  });

  it('refuses other methods', async () => {
    const response = await fetch(`${origin}/sns/oauth2/access_token`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    await response.arrayBuffer();
  });
});

describe('/sns/userinfo, /sns/auth, /sns/oauth2/refresh_token', () => {
  async function login(params: Parameters<WechatEmulator['mintCode']>[0] = {}) {
    const answer = await exchange(emulator.mintCode(params), params.appId ? { appid: params.appId, secret: OTHER_APP.appSecret } : {});
    return answer.json as { access_token: string; openid: string; refresh_token: string; unionid?: string };
  }

  it('returns the profile as UTF-8 bytes with Chinese and emoji intact', async () => {
    const token = await login({ userId: 'panda' });
    const answer = await sns('/sns/userinfo', { access_token: token.access_token, openid: token.openid, lang: 'zh_CN' });
    expect(answer.contentType).toBe('text/plain');
    expect(answer.bytes.includes(Buffer.from('微信用户🐼', 'utf8'))).toBe(true);
    expect(answer.json).toEqual({
      openid: token.openid,
      nickname: '微信用户🐼',
      sex: 0,
      province: '',
      city: '',
      country: '',
      headimgurl: expect.stringMatching(/^data:image\/svg\+xml;base64,/),
      privilege: [],
      unionid: token.unionid,
    });
  });

  it('refuses snsapi_base and snapshot tokens with 48001', async () => {
    for (const params of [{ scope: 'snsapi_base' as const }, { snapshot: true }, { userId: 'ghost' }]) {
      const token = await login(params);
      expectError(await sns('/sns/userinfo', { access_token: token.access_token, openid: token.openid }), 48001, 'api unauthorized');
    }
  });

  it.each(['/sns/userinfo', '/sns/auth'])('%s checks the token: 41001, 41009, 40014, 40003, 42001', async (path) => {
    const token = await login();
    expectError(await sns(path, { openid: token.openid }), 41001, 'access_token missing');
    expectError(await sns(path, { access_token: token.access_token }), 41009, 'missing openid');
    expectError(await sns(path, { access_token: 'nope', openid: token.openid }), 40014, 'invalid access_token');
    expectError(await sns(path, { access_token: token.access_token, openid: 'oSomeoneElse' }), 40003, 'invalid openid');
    clock += 7200_000;
    expectError(await sns(path, { access_token: token.access_token, openid: token.openid }), 42001, 'access_token expired');
  });

  it('/sns/auth answers { errcode: 0, errmsg: "ok" } for a live token', async () => {
    const token = await login();
    expect((await sns('/sns/auth', { access_token: token.access_token, openid: token.openid })).json).toEqual({
      errcode: 0,
      errmsg: 'ok',
    });
  });

  it('refreshes: a new access token for the same user, the same refresh token, until 30 days', async () => {
    const token = await login({ userId: 'lihua' });
    const refresh = (overrides: Record<string, string | undefined> = {}) =>
      sns('/sns/oauth2/refresh_token', {
        appid: DEMO_APP.appId,
        grant_type: 'refresh_token',
        refresh_token: token.refresh_token,
        ...overrides,
      });
    clock += 7200_000;
    const renewed = await refresh();
    expect(renewed.json).toEqual({
      access_token: expect.any(String),
      expires_in: 7200,
      refresh_token: token.refresh_token,
      openid: token.openid,
      scope: 'snsapi_userinfo',
    });
    const info = await sns('/sns/userinfo', { access_token: renewed.json.access_token as string, openid: token.openid });
    expect(info.json.nickname).toBe('李华 Li Hua 👨‍👩‍👧');

    expectError(await refresh({ appid: undefined }), 41002, 'appid missing');
    expectError(await refresh({ appid: 'wxffffffffffffffff' }), 40013, 'invalid appid');
    expectError(await refresh({ appid: OTHER_APP.appId }), 40030, 'invalid refresh_token');
    expectError(await refresh({ grant_type: 'authorization_code' }), 40002, 'invalid grant_type');
    expectError(await refresh({ refresh_token: undefined }), 41003, 'refresh_token missing');
    expectError(await refresh({ refresh_token: 'nope' }), 40030, 'invalid refresh_token');
    clock += 30 * 24 * 3600_000;
    expectError(await refresh(), 42002, 'refresh_token expired');
    expect(emulator.counters().refreshCalls).toBe(8);
  });
});

describe('faults and latency', () => {
  afterEach(() => emulator.clearFaults());

  it('injects an errcode for `times` calls, then answers normally', async () => {
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 }, { times: 2 });
    const first = await sns('/sns/userinfo', { access_token: 'x', openid: 'y' });
    expectError(first, -1, 'system error');
    expectError(await sns('/sns/userinfo', { access_token: 'x', openid: 'y' }), -1, 'system error');
    expectError(await sns('/sns/userinfo', { access_token: 'x', openid: 'y' }), 40014, 'invalid access_token');
  });

  it('keeps a fault without `times` until cleared', async () => {
    emulator.injectFault('auth', { kind: 'errcode', errcode: 45009 });
    for (let i = 0; i < 3; i++) expect((await sns('/sns/auth', {})).json.errcode).toBe(45009);
    emulator.clearFaults();
    expect((await sns('/sns/auth', {})).json.errcode).toBe(41001);
  });

  it('spends the code on a faulty exchange, unless told not to', async () => {
    const spent = emulator.mintCode({});
    emulator.injectFault('access_token', { kind: 'errcode', errcode: -1 }, { times: 1 });
    expectError(await exchange(spent), -1, 'system error');
    expectError(await exchange(spent), 40163, 'code been used');
    expect(emulator.counters().exchangeByCode[spent]).toEqual({ calls: 2, outcomes: [-1, 40163] });

    const kept = emulator.mintCode({});
    emulator.injectFault('access_token', { kind: 'http', status: 502 }, { times: 1, consumeCode: false });
    const response = await fetch(
      `${origin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${kept}&grant_type=authorization_code`,
    );
    expect(response.status).toBe(502);
    expect(await response.text()).toContain('502');
    expect((await exchange(kept)).json.openid).toBeDefined();
    expect(emulator.counters().exchangeByCode[kept]?.outcomes).toEqual(['http:502', 0]);
  });

  it('serves empty and HTML bodies with HTTP 200', async () => {
    emulator.injectFault('auth', { kind: 'empty' }, { times: 1 });
    emulator.injectFault('auth', { kind: 'html' }, { times: 1 });
    const empty = await fetch(`${origin}/sns/auth`);
    expect([empty.status, (await empty.arrayBuffer()).byteLength]).toEqual([200, 0]);
    const html = await fetch(`${origin}/sns/auth`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toMatch(/^<!DOCTYPE html>/);
  });

  it('resets the connection', async () => {
    emulator.injectFault('userinfo', { kind: 'reset' }, { times: 1 });
    await expect(fetch(`${origin}/sns/userinfo`)).rejects.toThrow();
    expect((await sns('/sns/userinfo', {})).json.errcode).toBe(41001);
  });

  it('hangs until the caller gives up, and reset() releases held answers', async () => {
    emulator.injectFault('refresh_token', { kind: 'hang' });
    await expect(fetch(`${origin}/sns/oauth2/refresh_token`, { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    const before = emulator.counters().refreshCalls;
    const held = fetch(`${origin}/sns/oauth2/refresh_token`).then(
      () => 'answered',
      () => 'dropped',
    );
    // Reset once the request is held (counted on arrival), not after a guess at how long it takes to arrive.
    await eventually(() => emulator.counters().refreshCalls > before, 5_000, 5);
    emulator.reset();
    expect(await held).toBe('dropped');
  });

  it('delays answers by fixed latency plus jitter, per endpoint or for all', async () => {
    // Latencies far above a local round trip on a loaded machine, so that "not delayed" has room to be slow.
    emulator.setLatency('auth', { fixedMs: 800, jitterMs: 50 });
    let started = Date.now();
    await sns('/sns/auth', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    started = Date.now();
    await sns('/sns/userinfo', {});
    expect(Date.now() - started).toBeLessThan(400);
    emulator.setLatency('all', { fixedMs: 600 });
    started = Date.now();
    await sns('/sns/userinfo', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    emulator.setLatency('all', { fixedMs: 0 });
    started = Date.now();
    await sns('/sns/auth', {});
    expect(Date.now() - started).toBeLessThan(300);
  });

  it('validates controls', () => {
    expect(() => emulator.setLatency('nope' as never, { fixedMs: 1 })).toThrow(TypeError);
    expect(() => emulator.setLatency('auth', { fixedMs: -1 })).toThrow(RangeError);
    expect(() => emulator.setLatency('auth', { fixedMs: 1, jitterMs: Number.NaN })).toThrow(RangeError);
    expect(() => emulator.injectFault('auth', { kind: 'boom' } as never)).toThrow(TypeError);
    expect(() => emulator.injectFault('auth', { kind: 'errcode', errcode: 0 })).toThrow(TypeError);
    expect(() => emulator.injectFault('auth', { kind: 'http', status: 200 })).toThrow(RangeError);
    expect(() => emulator.injectFault('auth', { kind: 'hang' }, { times: 0 })).toThrow(RangeError);
    expect(() => emulator.setDuplicateCallback({ enabled: true, abortAfterMs: -5 })).toThrow(RangeError);
    expect(() => emulator.mintCode({ appId: 'wxnope' })).toThrow(RangeError);
    expect(() => emulator.mintCode({ userId: 'nope' })).toThrow(RangeError);
    expect(() => emulator.mintCode({ nickname: '   ' })).toThrow(RangeError);
    expect(() => emulator.mintCode({ scope: 'snsapi_login' as never })).toThrow(TypeError);
  });

  it('reset() forgets codes, tokens, counters, faults and latency', async () => {
    const code = emulator.mintCode({});
    const token = (await exchange(emulator.mintCode({}))).json;
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 });
    emulator.setLatency('all', { fixedMs: 1_000 });
    emulator.reset();
    expect(emulator.counters()).toEqual({
      exchangeCalls: 0,
      exchangeByCode: {},
      userinfoCalls: 0,
      refreshCalls: 0,
      authCalls: 0,
      authorizePageViews: 0,
      consent: { allowed: 0, denied: 0 },
      qrLogin: { pageViews: 0, scans: 0, allowed: 0, denied: 0 },
      codesMinted: 0,
    });
    const started = Date.now();
    expectError(await exchange(code), 40029, 'invalid code');
    expectError(
      await sns('/sns/userinfo', { access_token: token.access_token as string, openid: token.openid as string }),
      40014,
      'invalid access_token',
    );
    // Any latency left by reset() would add 1 s.
    expect(Date.now() - started).toBeLessThan(900);
  });
});

describe('bounded stores', () => {
  it('keeps at most maxEntries codes and per-code counters, forgetting the oldest', async () => {
    const small = new WechatEmulator({ maxEntries: 10, now: () => clock });
    const smallOrigin = await small.listen();
    try {
      const codes = Array.from({ length: 30 }, () => small.mintCode({}));
      const call = async (code: string) => {
        const response = await fetch(
          `${smallOrigin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`,
        );
        return (await response.json()) as { errcode?: number };
      };
      expect((await call(codes[0] as string)).errcode).toBe(40029);
      expect((await call(codes[29] as string)).errcode).toBeUndefined();
      for (let i = 0; i < 20; i++) await call(`unknown${i}`);
      expect(Object.keys(small.counters().exchangeByCode)).toHaveLength(10);
      expect(small.exchangeCallsForCode(codes[0] as string)).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('lifecycle', () => {
  it('refuses to listen twice and closes idempotently, dropping held answers', async () => {
    const e = new WechatEmulator();
    const o = await e.listen();
    expect(e.origin).toBe(o);
    await expect(e.listen()).rejects.toThrow(/already listening/);
    e.injectFault('auth', { kind: 'hang' });
    const held = fetch(`${o}/sns/auth`).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await e.close();
    expect(await held).toBe('dropped');
    expect(e.origin).toBeUndefined();
    await e.close();
  });

  it('rejects invalid options', () => {
    expect(() => new WechatEmulator({ apps: [] })).toThrow(TypeError);
    expect(() => new WechatEmulator({ apps: [DEMO_APP, DEMO_APP] })).toThrow(TypeError);
    expect(() => new WechatEmulator({ users: [{ id: 'a', nickname: 'x' }, { id: 'a', nickname: 'y' }] })).toThrow(TypeError);
    expect(() => new WechatEmulator({ basePath: 'nope' })).toThrow(TypeError);
    expect(() => new WechatEmulator({ codeTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => new WechatEmulator({ usedCodeErrcode: 40001 as never })).toThrow(TypeError);
    expect(() => new WechatEmulator({ duplicateCallback: { enabled: true, abortAfterMs: 1.5 } })).toThrow(RangeError);
  });

  it('answers 404 outside its routes when standalone, and serves an index page', async () => {
    const notFound = await fetch(`${origin}/nope`);
    expect(notFound.status).toBe(404);
    await notFound.arrayBuffer();
    const index = await fetch(`${origin}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain(DEMO_APP.appId);
  });

  it('survives a request with an absurd URL', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${origin}/sns/userinfo?access_token=%ZZ&openid=%E0%A4%A`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
  });
});
