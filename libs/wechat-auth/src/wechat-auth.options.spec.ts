import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { thrownBy } from '../../../test/support/thrown.js';
import { WechatAuthOptionsError } from './errors/wechat-auth.errors.js';
import { validateWechatAuthOptions } from './wechat-auth.options.js';

const SECRET = 'S3cretS3cretS3cretS3cretS3cret12';
const VALID = { appId: 'wx0123456789abcdef', appSecret: SECRET, callbackURL: 'https://example.com/auth/wechat/callback' };

function problemsOf(raw: unknown): string[] {
  const { message, problems } = thrownBy(() => validateWechatAuthOptions(raw), WechatAuthOptionsError);
  // Whatever was wrong, the secret never appears in what gets printed at boot.
  expect(message).not.toContain(SECRET);
  return problems;
}

describe('validateWechatAuthOptions', () => {
  it('applies every default', () => {
    const { options } = validateWechatAuthOptions(VALID);
    expect(options).toEqual({
      flow: 'official-account',
      appId: VALID.appId,
      callbackURL: VALID.callbackURL,
      scope: 'snsapi_userinfo',
      lang: 'zh_CN',
      apiBaseURL: 'https://api.weixin.qq.com',
      oauthBaseURL: 'https://open.weixin.qq.com',
      httpTimeoutMs: 5000,
      strategyName: 'wechat',
      stateCookie: { name: 'wechat_auth_state_wechat', maxAgeSeconds: 600, secure: true, sameSite: 'lax', path: '/' },
      defaultReturnTo: '/',
      returnToQueryParam: 'returnTo',
      reauthorizeOnCodeUnusable: true,
      codeExchange: expect.any(Object),
      menuEntry: { enabled: false, state: 'menu', returnTo: '/' },
    });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it('keeps the secrets out of the options and out of any serialization', () => {
    const validated = validateWechatAuthOptions({ ...VALID, stateSecret: 'x'.repeat(40) });
    expect(validated.appSecret).toBe(SECRET);
    expect(validated.stateSecret).toBe('x'.repeat(40));
    expect(JSON.stringify(validated)).not.toContain(SECRET);
    expect(JSON.stringify(validated)).not.toContain('x'.repeat(40));
    expect(Object.keys(validated.options)).not.toContain('appSecret');
  });

  it('derives cookie security from the callback scheme and the name from the strategy', () => {
    const { options } = validateWechatAuthOptions({ ...VALID, callbackURL: 'http://127.0.0.1:3000/cb', strategyName: 'mp-b' });
    expect(options.stateCookie).toMatchObject({ secure: false, name: 'wechat_auth_state_mp-b' });
  });

  it('accepts strings for numbers and booleans, as ConfigService returns them', () => {
    const { options } = validateWechatAuthOptions({
      ...VALID,
      httpTimeoutMs: '2500',
      reauthorizeOnCodeUnusable: 'false',
      stateCookie: { maxAgeSeconds: '300', secure: 'true' },
    });
    expect(options.httpTimeoutMs).toBe(2500);
    expect(options.reauthorizeOnCodeUnusable).toBe(false);
    expect(options.stateCookie).toMatchObject({ maxAgeSeconds: 300, secure: true });
  });

  it('names each missing field and where to find it', () => {
    const problems = problemsOf({});
    expect(problems).toEqual([
      expect.stringMatching(/^appId is required: .*基本配置/),
      expect.stringMatching(/^appSecret is required: .*AppSecret/),
      expect.stringMatching(/^callbackURL is required: /),
    ]);
  });

  it('explains malformed fields, one line each, without echoing the values', () => {
    const problems = problemsOf({
      appId: 'wxNOTHEX',
      appSecret: `${SECRET} `,
      callbackURL: '/relative',
      scope: 'snsapi_login',
      httpTimeoutMs: 10,
      defaultReturnTo: '//evil.example',
      stateSecret: 'short',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'appId must look like wx followed by 16 hex characters (WeChat MP → 设置与开发 → 基本配置 → 开发者ID(AppID))',
        expect.stringMatching(/^appSecret must be the 32 letters and digits/),
        expect.stringMatching(/^callbackURL must be an absolute http\(s\) URL/),
        'scope must be "snsapi_base" or "snsapi_userinfo" (default)',
        expect.stringMatching(/^httpTimeoutMs must be at least 500 ms/),
        expect.stringMatching(/^defaultReturnTo must be a same-site path/),
        expect.stringMatching(/^stateSecret must be at least 32 characters/),
      ]),
    );
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).not.toContain('short');
  });

  it('validates nested options with their path, including the code-exchange options', () => {
    const problems = problemsOf({
      ...VALID,
      stateCookie: { sameSite: 'strict', maxAgeSeconds: 5 },
      codeExchange: { resultTtlMs: 999_999, redis: 'http://not-redis' },
      menuEntry: { enabled: true, state: 'has space' },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stateCookie\.sameSite must be "lax" .*"strict" cookies are not sent/),
        expect.stringMatching(/^stateCookie\.maxAgeSeconds must be at least 60/),
        expect.stringMatching(/^codeExchange\.resultTtlMs /),
        expect.stringMatching(/^codeExchange\.redis must be a node-redis v5 client/),
        'menuEntry.state must be 1-32 letters or digits, e.g. "menu"',
      ]),
    );
  });

  it('refuses a Redis URL whose database is not a number, and accepts user, password and database', () => {
    expect(problemsOf({ ...VALID, codeExchange: { redis: 'redis://cache.internal:6379/sessions' } })).toEqual([
      expect.stringMatching(/^codeExchange\.redis must be .*db a number\)$/),
    ]);
    const url = 'rediss://app:s3cret@cache.internal:6380/2';
    expect(validateWechatAuthOptions({ ...VALID, codeExchange: { redis: url } }).options.codeExchange.redis).toBe(url);
  });

  it('flags unknown options and suggests the right spelling', () => {
    expect(problemsOf({ ...VALID, appid: 'wx0123456789abcdef', stateCookie: { maxAge: 1 } })).toEqual([
      'appid is not a WechatAuthModule option (did you mean appId?)',
      'stateCookie.maxAge is not a WechatAuthModule option',
    ]);
  });

  it('checks settings that only make sense together', () => {
    expect(problemsOf({ ...VALID, callbackURL: 'http://example.com/cb', stateCookie: { sameSite: 'none' } })).toEqual([
      expect.stringMatching(/^stateCookie\.sameSite "none" needs stateCookie\.secure true/),
    ]);
    expect(problemsOf({ ...VALID, callbackURL: 'http://example.com/cb', stateCookie: { secure: true } })).toEqual([
      expect.stringMatching(/^stateCookie\.secure is true but callbackURL is http/),
    ]);
    expect(problemsOf({ ...VALID, stateCookie: { name: '__Host-wx', path: '/auth' } })).toEqual([
      expect.stringMatching(/__Host- prefix/),
    ]);
  });

  it('refuses a non-object', () => {
    expect(problemsOf(undefined)).toEqual([expect.stringMatching(/^options must be an object/)]);
  });

  it('keeps a node-redis client instance as it is (not cloned into a plain object)', () => {
    const client = createClient({ url: 'redis://127.0.0.1:6379' });
    const { options } = validateWechatAuthOptions({ ...VALID, codeExchange: { redis: client, resultTtlMs: 30_000 } });
    expect(options.codeExchange.redis).toBe(client);
    expect(options.codeExchange.resultTtlMs).toBe(30_000);
  });
});
