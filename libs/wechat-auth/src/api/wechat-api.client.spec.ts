import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { DEMO_APP, DEMO_USERS, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { serveEmulatorToSpecFile } from '../../../../test/support/emulator-spec.js';
import { rejectionOf, thrownBy } from '../../../../test/support/thrown.js';
import {
  InvalidCallbackError,
  WechatApiError,
  WechatTransportError,
  type WechatErrorCategory,
} from '../errors/wechat-auth.errors.js';
import { WechatApiClient } from './wechat-api.client.js';

const OTHER_APP = { appId: 'wx00000000000000b2', appSecret: 'otherSecretQ4w8E2r6T0y3U7i1O5p9A', openPlatformBound: false };
const SECRET = DEMO_APP.appSecret;

let clock = Date.now();
const emulator = new WechatEmulator({ apps: [{ ...DEMO_APP }, OTHER_APP], now: () => clock });
let origin: string;

function client(overrides: Partial<ConstructorParameters<typeof WechatApiClient>[0]> = {}): WechatApiClient {
  return new WechatApiClient({
    appId: DEMO_APP.appId,
    appSecret: SECRET,
    apiBaseURL: origin,
    oauthBaseURL: origin,
    timeoutMs: 2000,
    ...overrides,
  });
}

function apiError(promise: Promise<unknown>): Promise<WechatApiError> {
  return rejectionOf(promise, WechatApiError);
}

function transportError(promise: Promise<unknown>): Promise<WechatTransportError> {
  return rejectionOf(promise, WechatTransportError);
}

/** Every rendering of an error a log line or an HTTP answer could contain. */
function renderings(error: Error): string[] {
  return [String(error), error.message, JSON.stringify(error), inspect(error, { depth: 10, showHidden: true }), String(error.stack)];
}

function expectNoSecrets(error: Error, secrets: string[]): void {
  for (const text of renderings(error)) {
    for (const secret of secrets) expect(text).not.toContain(secret);
  }
}

serveEmulatorToSpecFile(emulator, { listening: (at) => (origin = at), beforeEachTest: () => (clock = Date.now()) });

describe('WechatApiClient.buildAuthorizeUrl', () => {
  it('puts the parameters in the order WeChat matches, encodes redirect_uri and ends with #wechat_redirect', () => {
    const c = new WechatApiClient({ appId: DEMO_APP.appId, appSecret: SECRET });
    expect(
      c.buildAuthorizeUrl({ redirectUri: 'https://app.example.com/auth/cb?x=1&y=二', scope: 'snsapi_userinfo', state: 'Ab9' }),
    ).toBe(
      'https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx5e1f0c0d1e2f3a4b' +
        '&redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcb%3Fx%3D1%26y%3D%E4%BA%8C' +
        '&response_type=code&scope=snsapi_userinfo&state=Ab9#wechat_redirect',
    );
    expect(
      c.buildAuthorizeUrl({ redirectUri: 'http://127.0.0.1:3000/cb', scope: 'snsapi_base', state: 'S', forcePopup: true }),
    ).toBe(
      'https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx5e1f0c0d1e2f3a4b' +
        '&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&response_type=code&scope=snsapi_base&state=S' +
        '&forcePopup=true#wechat_redirect',
    );
  });

  it('keeps a path prefix of oauthBaseURL (an emulator mounted inside an app)', () => {
    const c = new WechatApiClient({ appId: DEMO_APP.appId, appSecret: SECRET, oauthBaseURL: 'http://127.0.0.1:3000/__wechat/' });
    expect(c.buildAuthorizeUrl({ redirectUri: 'http://127.0.0.1:3000/cb', scope: 'snsapi_base', state: 'a' })).toMatch(
      /^http:\/\/127\.0\.0\.1:3000\/__wechat\/connect\/oauth2\/authorize\?appid=/,
    );
  });

  it('builds a URL the emulator accepts (same order rules as WeChat)', async () => {
    const url = client().buildAuthorizeUrl({ redirectUri: 'http://127.0.0.1:9/cb?a=1', scope: 'snsapi_userinfo', state: 'xyz', forcePopup: true });
    const response = await fetch(url.split('#')[0] as string);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('name="state" value="xyz"');
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'a'.repeat(129)],
    ['base64 padding', 'abc='],
    ['base64 + and /', 'a+b/c'],
    ['a space', 'a b'],
    ['non-ASCII', 'état'],
  ])('rejects a state that is %s', (_label, state) => {
    expect(() => client().buildAuthorizeUrl({ redirectUri: 'https://a.example/cb', scope: 'snsapi_base', state })).toThrow(
      TypeError,
    );
  });

  it('accepts a 128-character state', () => {
    const state = 'Z'.repeat(128);
    expect(client().buildAuthorizeUrl({ redirectUri: 'https://a.example/cb', scope: 'snsapi_base', state })).toContain(
      `&state=${state}#wechat_redirect`,
    );
  });

  it.each(['/cb', 'cb', 'javascript:alert(1)', 'ftp://a.example/cb', `https://a.example/${'x'.repeat(2100)}`])(
    'rejects the redirect URI %s',
    (redirectUri) => {
      expect(() => client().buildAuthorizeUrl({ redirectUri, scope: 'snsapi_base', state: 'a' })).toThrow(TypeError);
    },
  );

  it('rejects an unknown scope', () => {
    expect(() =>
      client().buildAuthorizeUrl({ redirectUri: 'https://a.example/cb', scope: 'snsapi_login' as never, state: 'a' }),
    ).toThrow(TypeError);
  });
});

describe('WechatApiClient options', () => {
  it.each([
    [{ appId: '' }],
    [{ appSecret: '' }],
    [{ appSecret: 'has space' }],
    [{ apiBaseURL: 'api.weixin.qq.com' }],
    [{ apiBaseURL: 'https://user:pw@api.weixin.qq.com' }],
    [{ oauthBaseURL: 'https://open.weixin.qq.com/?x=1' }],
    [{ timeoutMs: 0 }],
    [{ timeoutMs: 1.5 }],
    [{ lang: 'fr' as never }],
  ])('rejects %j without echoing the secret', (override) => {
    const thrown = thrownBy(() => new WechatApiClient({ appId: DEMO_APP.appId, appSecret: SECRET, ...override }), TypeError);
    expect(String(thrown)).not.toContain(SECRET);
  });

  it('never shows the app secret when the client itself is logged', () => {
    const c = client();
    expect(inspect(c, { showHidden: true, depth: 5 })).not.toContain(SECRET);
    expect(JSON.stringify(c)).not.toContain(SECRET);
    expect(Object.values(c).join(' ')).not.toContain(SECRET);
  });
});

describe('WechatApiClient.exchangeCode', () => {
  it('maps a snsapi_userinfo answer to camelCase, with the unionid', async () => {
    const code = emulator.mintCode({ userId: 'panda', scope: 'snsapi_userinfo' });
    const token = await client().exchangeCode(code);
    expect(token).toEqual({
      accessToken: expect.any(String),
      expiresIn: 7200,
      refreshToken: expect.any(String),
      openid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
      scope: 'snsapi_userinfo',
      unionid: expect.stringMatching(/^o[A-Za-z0-9_-]{28}$/),
      isSnapshotUser: false,
    });
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('has no unionid for snsapi_base, nor for an account without Open Platform binding', async () => {
    const base = await client().exchangeCode(emulator.mintCode({ scope: 'snsapi_base' }));
    expect(base.scope).toBe('snsapi_base');
    expect(base).not.toHaveProperty('unionid');
    const other = new WechatApiClient({ ...OTHER_APP, apiBaseURL: origin });
    const unbound = await other.exchangeCode(emulator.mintCode({ appId: OTHER_APP.appId, scope: 'snsapi_userinfo' }));
    expect(unbound).not.toHaveProperty('unionid');
  });

  it('marks a snapshot-page user', async () => {
    const token = await client().exchangeCode(emulator.mintCode({ userId: 'panda', snapshot: true }));
    expect(token.isSnapshotUser).toBe(true);
    const real = await client().exchangeCode(emulator.mintCode({ userId: 'panda' }));
    expect(token.openid).not.toBe(real.openid);
  });

  const cases: [string, () => string, (c: WechatApiClient, code: string) => Promise<unknown>, number, WechatErrorCategory][] = [
    ['40163 for a code used twice', () => emulator.mintCode({}), async (c, code) => { await c.exchangeCode(code); return c.exchangeCode(code); }, 40163, 'code-unusable'],
    ['40029 for an unknown code', () => 'NoSuchCode0123456789abcdefABCDEF', (c, code) => c.exchangeCode(code), 40029, 'code-unusable'],
    ['40029 for another app\'s code', () => emulator.mintCode({ appId: OTHER_APP.appId }), (c, code) => c.exchangeCode(code), 40029, 'code-unusable'],
    ['42003 for a code older than 300 s', () => emulator.mintCode({}), (c, code) => { clock += 301_000; return c.exchangeCode(code); }, 42003, 'code-unusable'],
    ['40013 for an unknown appid', () => emulator.mintCode({}), (_c, code) => client({ appId: 'wxffffffffffffffff' }).exchangeCode(code), 40013, 'configuration'],
    ['40125 for a wrong secret', () => emulator.mintCode({}), (_c, code) => client({ appSecret: 'wrongSecretWrongSecretWrongSecre' }).exchangeCode(code), 40125, 'configuration'],
  ];
  it.each(cases)('throws %s', async (_label, makeCode, act, errcode, category) => {
    const code = makeCode();
    const error = await apiError(act(client(), code));
    expect(error.errcode).toBe(errcode);
    expect(error.category).toBe(category);
    expect(error.endpoint).toBe('/sns/oauth2/access_token');
    expect(error.rid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(error.errmsg).not.toContain('rid');
    expectNoSecrets(error, [SECRET, code, 'wrongSecretWrongSecretWrongSecre']);
  });

  it('throws 40029 for a reused code when the emulator answers like older WeChat', async () => {
    const old = new WechatEmulator({ usedCodeErrcode: 40029 });
    const oldOrigin = await old.listen();
    try {
      const c = client({ apiBaseURL: oldOrigin });
      const code = old.mintCode({});
      await c.exchangeCode(code);
      expect((await apiError(c.exchangeCode(code))).errcode).toBe(40029);
    } finally {
      await old.close();
    }
  });

  it.each([
    ['an empty code', ''],
    ['a code with a space', 'abc def'],
    ['a code with a newline', 'abc\n'],
    ['a non-ASCII code', 'códe'],
    ['an oversized code', 'a'.repeat(513)],
  ])('refuses %s with InvalidCallbackError and never calls WeChat', async (_label, code) => {
    const error = await rejectionOf(client().exchangeCode(code));
    expect(error).toBeInstanceOf(InvalidCallbackError);
    expect(emulator.counters().exchangeCalls).toBe(0);
  });

  it('classifies a 41008 answer as a client error', async () => {
    emulator.injectFault('access_token', { kind: 'errcode', errcode: 41008 });
    const error = await apiError(client().exchangeCode(emulator.mintCode({})));
    expect(error.errcode).toBe(41008);
    expect(error.category).toBe('client-error');
  });

  it('classifies 40001 as a configuration error', async () => {
    emulator.injectFault('access_token', { kind: 'errcode', errcode: 40001 });
    expect((await apiError(client().exchangeCode(emulator.mintCode({})))).category).toBe('configuration');
  });

  it('never retries on -1, and the code is spent (a second try would find 40163)', async () => {
    const code = emulator.mintCode({});
    emulator.injectFault('access_token', { kind: 'errcode', errcode: -1 }, { times: 1 });
    const error = await apiError(client().exchangeCode(code));
    expect(error.errcode).toBe(-1);
    expect(error.category).toBe('outcome-unknown');
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expect((await apiError(client().exchangeCode(code))).errcode).toBe(40163);
  });

  it.each([
    ['HTTP 502', { kind: 'http', status: 502 } as const, 'http-status'],
    ['a connection reset', { kind: 'reset' } as const, 'network'],
    ['an empty body', { kind: 'empty' } as const, 'empty-body'],
    ['an HTML body', { kind: 'html' } as const, 'html-body'],
  ])('never retries after %s', async (_label, fault, failure) => {
    const code = emulator.mintCode({});
    emulator.injectFault('access_token', fault);
    const error = await transportError(client().exchangeCode(code));
    expect(error.failure).toBe(failure);
    expect(error.category).toBe('outcome-unknown');
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
    expectNoSecrets(error, [SECRET, code]);
  });

  it('reports the HTTP status of a 5xx', async () => {
    emulator.injectFault('access_token', { kind: 'http', status: 503 });
    const error = await transportError(client().exchangeCode(emulator.mintCode({})));
    expect(error.httpStatus).toBe(503);
  });

  it('times out on a slow WeChat (latency beyond timeoutMs), within a generous bound', async () => {
    const code = emulator.mintCode({});
    emulator.setLatency('access_token', { fixedMs: 5000 });
    const started = Date.now();
    const error = await transportError(client({ timeoutMs: 200 }).exchangeCode(code));
    expect(error.failure).toBe('timeout');
    expect(error.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(emulator.exchangeCallsForCode(code)).toBe(1);
  });

  it('times out on a hung WeChat', async () => {
    emulator.injectFault('access_token', { kind: 'hang' });
    const error = await transportError(client({ timeoutMs: 200 }).exchangeCode(emulator.mintCode({})));
    expect(error.failure).toBe('timeout');
  });

  it("stops when the caller's signal aborts (before or during the call)", async () => {
    emulator.injectFault('access_token', { kind: 'hang' });
    const during = new AbortController();
    setTimeout(() => during.abort(), 100);
    expect((await transportError(client({ timeoutMs: 10_000 }).exchangeCode(emulator.mintCode({}), during.signal))).failure).toBe(
      'timeout',
    );
    const calls = emulator.counters().exchangeCalls;
    const before = new AbortController();
    before.abort();
    expect((await transportError(client().exchangeCode(emulator.mintCode({}), before.signal))).failure).toBe('timeout');
    expect(emulator.counters().exchangeCalls).toBe(calls);
  });

  it('reports a refused connection as a network failure', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await transportError(client({ apiBaseURL: `http://127.0.0.1:${port}` }).exchangeCode('someCode123'));
    expect(error.failure).toBe('network');
  });

  it('cuts off a body far larger than any WeChat answer (a proxy\'s page), sent at once or slowly, as invalid JSON', async () => {
    // A server of its own: the emulator answers like WeChat, this one like a misconfigured gateway.
    // A usable token answer but for its size: only the cap can refuse it.
    const huge = JSON.stringify({
      access_token: 'ACCESS_TOKEN_1',
      expires_in: 7200,
      refresh_token: 'REFRESH_TOKEN_1',
      openid: 'oPadding0123456789',
      scope: 'snsapi_base',
      padding: 'x'.repeat(200 * 1024),
    });
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.includes('slow')) {
        // In pieces, and never finished: the cap must stop reading, not the timeout.
        const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 5);
        res.on('close', () => clearInterval(timer));
        res.write('{"access_token":"');
      } else {
        res.end(huge);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const started = Date.now();
      const atOnce = await transportError(client({ apiBaseURL: `http://127.0.0.1:${port}` }).exchangeCode('someCode123'));
      expect(atOnce).toMatchObject({ failure: 'invalid-json', httpStatus: 200 });
      const slowly = await transportError(client({ apiBaseURL: `http://127.0.0.1:${port}/slow` }).exchangeCode('someCode123'));
      expect(slowly).toMatchObject({ failure: 'invalid-json', httpStatus: 200 });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('redacts secrets a gateway echoes in errmsg and splits off the rid', async () => {
    const code = emulator.mintCode({});
    emulator.injectFault('access_token', {
      kind: 'errcode',
      errcode: 40029,
      errmsg: 'invalid code, request: {query}, hints: [ req_id: Ab12Cd34 ]',
    });
    const error = await apiError(client().exchangeCode(code));
    expect(error.rid).toBe('Ab12Cd34');
    expect(error.errmsg).toContain('invalid code');
    expect(error.errmsg).toContain('[redacted]');
    expect(error.errmsg).toContain(`appid=${DEMO_APP.appId}`);
    expectNoSecrets(error, [SECRET, code]);
  });
});

describe('WechatApiClient.getUserInfo', () => {
  async function tokenFor(params: Parameters<WechatEmulator['mintCode']>[0]) {
    return client().exchangeCode(emulator.mintCode(params));
  }

  it('decodes text/plain UTF-8 with Chinese and emoji nicknames', async () => {
    for (const user of DEMO_USERS) {
      const token = await tokenFor({ userId: user.id });
      const info = await client().getUserInfo(token.accessToken, token.openid);
      expect(info).toEqual({
        openid: token.openid,
        nickname: user.nickname,
        sex: 0,
        province: '',
        city: '',
        country: '',
        headimgurl: user.headimgurl,
        privilege: [],
        unionid: token.unionid,
      });
    }
  });

  it('decodes `application/json; encoding=utf-8` the same way', async () => {
    const other = new WechatEmulator({ snsContentType: 'application/json; encoding=utf-8' });
    const otherOrigin = await other.listen();
    try {
      const c = client({ apiBaseURL: otherOrigin });
      const token = await c.exchangeCode(other.mintCode({ nickname: '测试用户😀👍🏽' }));
      expect((await c.getUserInfo(token.accessToken, token.openid)).nickname).toBe('测试用户😀👍🏽');
      const raw = await fetch(`${otherOrigin}/sns/auth?access_token=x&openid=y`);
      expect(raw.headers.get('content-type')).toBe('application/json; encoding=utf-8');
      await raw.arrayBuffer();
    } finally {
      await other.close();
    }
  });

  it('refuses a snsapi_base token with 48001', async () => {
    const token = await tokenFor({ scope: 'snsapi_base' });
    const error = await apiError(client().getUserInfo(token.accessToken, token.openid));
    expect(error.errcode).toBe(48001);
    expect(error.category).toBe('scope-unauthorized');
    expect(error.endpoint).toBe('/sns/userinfo');
    expectNoSecrets(error, [token.accessToken, SECRET]);
  });

  it('refuses a snapshot user with 48001', async () => {
    const token = await tokenFor({ snapshot: true });
    expect((await apiError(client().getUserInfo(token.accessToken, token.openid))).errcode).toBe(48001);
  });

  it('throws 40003 for an openid that is not the token\'s, 40014 for an unknown token, 42001 for an expired one', async () => {
    const token = await tokenFor({});
    const mismatch = await apiError(client().getUserInfo(token.accessToken, 'oSomeoneElse'));
    expect([mismatch.errcode, mismatch.category]).toEqual([40003, 'client-error']);
    const unknown = await apiError(client().getUserInfo('NotAToken', token.openid));
    expect([unknown.errcode, unknown.category]).toEqual([40014, 'token-invalid']);
    clock += 7201_000;
    const expired = await apiError(client().getUserInfo(token.accessToken, token.openid));
    expect([expired.errcode, expired.category]).toEqual([42001, 'token-invalid']);
  });

  it('sends the lang it is given', async () => {
    const token = await tokenFor({});
    await expect(client({ lang: 'en' }).getUserInfo(token.accessToken, token.openid, { lang: 'zh_TW' })).resolves.toMatchObject({
      openid: token.openid,
    });
    await expect(client().getUserInfo(token.accessToken, token.openid, { lang: 'xx' as never })).rejects.toThrow(TypeError);
  });

  it('retries once after -1 and succeeds', async () => {
    const token = await tokenFor({});
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 }, { times: 1 });
    const info = await client().getUserInfo(token.accessToken, token.openid);
    expect(info.openid).toBe(token.openid);
    expect(emulator.counters().userinfoCalls).toBe(2);
  });

  it.each([
    ['HTTP 502', { kind: 'http', status: 502 } as const],
    ['a connection reset', { kind: 'reset' } as const],
  ])('retries once after %s', async (_label, fault) => {
    const token = await tokenFor({});
    emulator.injectFault('userinfo', fault, { times: 1 });
    await expect(client().getUserInfo(token.accessToken, token.openid)).resolves.toMatchObject({ openid: token.openid });
    expect(emulator.counters().userinfoCalls).toBe(2);
  });

  it('retries only once: a lasting -1 fails after exactly two calls', async () => {
    const token = await tokenFor({});
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 });
    expect((await apiError(client().getUserInfo(token.accessToken, token.openid))).errcode).toBe(-1);
    expect(emulator.counters().userinfoCalls).toBe(2);
  });

  it('does not retry after a timeout, nor errors that a retry cannot fix', async () => {
    const token = await tokenFor({});
    emulator.injectFault('userinfo', { kind: 'hang' }, { times: 1 });
    expect((await transportError(client({ timeoutMs: 200 }).getUserInfo(token.accessToken, token.openid))).failure).toBe('timeout');
    expect(emulator.counters().userinfoCalls).toBe(1);
    await apiError(client().getUserInfo(token.accessToken, 'oOther'));
    expect(emulator.counters().userinfoCalls).toBe(2);
  });

  it("does not retry once the caller's signal has aborted", async () => {
    const token = await tokenFor({});
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1 });
    emulator.setLatency('userinfo', { fixedMs: 300 });
    const controller = new AbortController();
    // Abort while the first call is being answered (it is counted on arrival), whenever it arrives.
    const before = emulator.counters().userinfoCalls;
    const watch = setInterval(() => {
      if (emulator.counters().userinfoCalls > before) controller.abort();
    }, 5);
    try {
      await rejectionOf(client().getUserInfo(token.accessToken, token.openid, { signal: controller.signal }));
    } finally {
      clearInterval(watch);
    }
    expect(controller.signal.aborted).toBe(true);
    expect(emulator.counters().userinfoCalls).toBe(1);
  });

  it.each([
    ['an empty token', '', 'oValid'],
    ['a token with a space', 'a b', 'oValid'],
    ['a token with a control character', 'a\u0000b', 'oValid'],
    ['an oversized token', 'a'.repeat(513), 'oValid'],
    ['an empty openid', 'token', ''],
  ])('refuses %s with a TypeError and never calls WeChat', async (_label, token, openid) => {
    await expect(client().getUserInfo(token, openid)).rejects.toThrow(TypeError);
    await expect(client().checkAccessToken(token, openid)).rejects.toThrow(TypeError);
    expect(emulator.counters().userinfoCalls + emulator.counters().authCalls).toBe(0);
  });
});

describe('WechatApiClient.refreshAccessToken', () => {
  it('returns a fresh access token that works, and keeps the refresh token', async () => {
    const first = await client().exchangeCode(emulator.mintCode({ userId: 'lihua' }));
    clock += 7201_000;
    const renewed = await client().refreshAccessToken(first.refreshToken);
    expect(renewed).toMatchObject({ openid: first.openid, scope: 'snsapi_userinfo', expiresIn: 7200, isSnapshotUser: false });
    expect(renewed.accessToken).not.toBe(first.accessToken);
    expect(renewed.refreshToken).toBe(first.refreshToken);
    expect((await client().getUserInfo(renewed.accessToken, renewed.openid)).nickname).toBe('李华 Li Hua 👨‍👩‍👧');
  });

  it('throws 40030 for an unknown refresh token and 42002 after 30 days', async () => {
    const invalid = await apiError(client().refreshAccessToken('NoSuchRefreshToken'));
    expect([invalid.errcode, invalid.category, invalid.endpoint]).toEqual([40030, 'token-invalid', '/sns/oauth2/refresh_token']);
    const token = await client().exchangeCode(emulator.mintCode({}));
    clock += 30 * 24 * 3600_000 + 1000;
    const expired = await apiError(client().refreshAccessToken(token.refreshToken));
    expect([expired.errcode, expired.category]).toEqual([42002, 'token-invalid']);
    expectNoSecrets(expired, [token.refreshToken, SECRET]);
  });
});

describe('WechatApiClient.checkAccessToken', () => {
  it('is true for a live token, false for an unknown or expired one, and throws for a wrong openid', async () => {
    const token = await client().exchangeCode(emulator.mintCode({}));
    await expect(client().checkAccessToken(token.accessToken, token.openid)).resolves.toBe(true);
    await expect(client().checkAccessToken('UnknownToken', token.openid)).resolves.toBe(false);
    const mismatch = await apiError(client().checkAccessToken(token.accessToken, 'oOther'));
    expect(mismatch.errcode).toBe(40003);
    clock += 7201_000;
    await expect(client().checkAccessToken(token.accessToken, token.openid)).resolves.toBe(false);
    expect(emulator.counters().authCalls).toBe(4);
  });

  it('throws when WeChat gives no usable answer', async () => {
    emulator.injectFault('auth', { kind: 'html' });
    expect((await transportError(client().checkAccessToken('token', 'openid'))).failure).toBe('html-body');
  });
});

describe('secret hygiene across every error path', () => {
  it('no error rendering holds the secret, the code or a token', async () => {
    const code = emulator.mintCode({});
    const token = await client().exchangeCode(emulator.mintCode({}));
    const errors: Error[] = [];
    const collect = async (p: Promise<unknown>) => errors.push(await rejectionOf(p));

    emulator.injectFault('access_token', { kind: 'errcode', errcode: 40029, errmsg: 'echo {query} secret=abc code: x' }, { times: 1 });
    await collect(client().exchangeCode(code));
    for (const fault of [{ kind: 'http', status: 500 }, { kind: 'reset' }, { kind: 'empty' }, { kind: 'html' }] as const) {
      emulator.injectFault('access_token', fault, { times: 1 });
      await collect(client().exchangeCode(code));
      emulator.injectFault('userinfo', fault, { times: 2 });
      await collect(client().getUserInfo(token.accessToken, token.openid));
      emulator.injectFault('refresh_token', fault, { times: 1 });
      await collect(client().refreshAccessToken(token.refreshToken));
    }
    emulator.injectFault('userinfo', { kind: 'errcode', errcode: 40001, errmsg: 'invalid credential, access_token is {query}' }, { times: 2 });
    await collect(client().getUserInfo(token.accessToken, token.openid));
    emulator.injectFault('refresh_token', { kind: 'errcode', errcode: 40030, errmsg: 'bad {query}' }, { times: 1 });
    await collect(client().refreshAccessToken(token.refreshToken));
    emulator.injectFault('auth', { kind: 'errcode', errcode: 40003, errmsg: '{query}' }, { times: 1 });
    await collect(client().checkAccessToken(token.accessToken, token.openid));
    emulator.injectFault('access_token', { kind: 'hang' }, { times: 1 });
    await collect(client({ timeoutMs: 100 }).exchangeCode(code));
    await collect(client({ appSecret: 'wrongSecretWrongSecretWrongSecre' }).exchangeCode(code));
    await collect(client().exchangeCode(code));
    await collect(client().exchangeCode('bad code'));

    expect(errors).toHaveLength(20);
    for (const error of errors) {
      expect(error).not.toHaveProperty('cause');
      expectNoSecrets(error, [SECRET, code, token.accessToken, token.refreshToken, 'wrongSecretWrongSecretWrongSecre']);
    }
  });
});
