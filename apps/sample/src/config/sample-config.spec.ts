import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '../../../../test/support/thrown.js';
import { loadSampleConfig, resolveSampleConfig, SampleConfigError } from './sample-config.js';

const DEMO = { appId: 'wx5e1f0c0d1e2f3a4b', appSecret: 'demoSecretE7q2Xk9Lm4Np8Rt1Vw5Yz3' };
const PROD = {
  WECHAT_APP_ID: 'wx0123456789abcdef',
  WECHAT_APP_SECRET: 'A'.repeat(32),
  SESSION_SECRET: 's'.repeat(32),
};

function problemsOf(env: Record<string, string>): string[] {
  return thrownBy(() => loadSampleConfig(env, DEMO), SampleConfigError).problems;
}

describe('loadSampleConfig', () => {
  it('defaults to demo mode on port 3000 with the demo app and a random session secret', () => {
    const a = loadSampleConfig({}, DEMO);
    const b = loadSampleConfig({}, DEMO);
    expect(a).toMatchObject({ mode: 'demo', port: 3000, appId: DEMO.appId, scope: 'snsapi_userinfo', sessionSecretGenerated: true });
    expect(a.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(a.sessionSecret).not.toBe(b.sessionSecret);
    expect(a.redisURL).toBeUndefined();
  });

  it('reads a production configuration, with WeChat origins by default', () => {
    const config = loadSampleConfig(
      { ...PROD, PORT: '8080', WECHAT_SCOPE: 'snsapi_base', REDIS_URL: 'redis://r:6379', WECHAT_RESULT_TTL_MS: '5000' },
      DEMO,
    );
    expect(config).toMatchObject({
      mode: 'production',
      port: 8080,
      appId: PROD.WECHAT_APP_ID,
      scope: 'snsapi_base',
      oauthBaseURL: 'https://open.weixin.qq.com',
      apiBaseURL: 'https://api.weixin.qq.com',
      redisURL: 'redis://r:6379',
      resultTtlMs: 5_000,
      sessionSecretGenerated: false,
    });
  });

  it('treats blank variables as unset', () => {
    expect(loadSampleConfig({ WECHAT_APP_ID: '', PORT: ' ' }, DEMO)).toMatchObject({ mode: 'demo', port: 3000 });
  });

  it('normalizes base URLs and accepts a path prefix (an emulator mounted under /__wechat)', () => {
    const config = loadSampleConfig({ ...PROD, WECHAT_API_BASE_URL: 'http://127.0.0.1:9000/__wechat/' }, DEMO);
    expect(config.apiBaseURL).toBe('http://127.0.0.1:9000/__wechat');
  });

  it('rejects bad values, naming each variable', () => {
    expect(problemsOf({ ...PROD, PORT: 'abc' }).join()).toMatch(/PORT must be an integer/);
    expect(problemsOf({ ...PROD, WECHAT_APP_ID: 'not-an-appid' }).join()).toMatch(/WECHAT_APP_ID must be/);
    expect(problemsOf({ ...PROD, WECHAT_APP_SECRET: '' }).join()).toMatch(/WECHAT_APP_SECRET is required/);
    expect(problemsOf({ ...PROD, WECHAT_OAUTH_BASE_URL: 'open.weixin.qq.com' }).join()).toMatch(/WECHAT_OAUTH_BASE_URL must be an absolute/);
    expect(problemsOf({ ...PROD, WECHAT_API_BASE_URL: 'https://api.weixin.qq.com/?x=1' }).join()).toMatch(/WECHAT_API_BASE_URL must not have a \?query/);
    expect(problemsOf({ ...PROD, WECHAT_CALLBACK_URL: 'https://a.example/cb#x' }).join()).toMatch(/WECHAT_CALLBACK_URL must not have a #fragment/);
    expect(problemsOf({ ...PROD, WECHAT_HTTP_TIMEOUT_MS: '5' }).join()).toMatch(/WECHAT_HTTP_TIMEOUT_MS/);
    expect(problemsOf({ ...PROD, WECHAT_RESULT_TTL_MS: '600000' }).join()).toMatch(/WECHAT_RESULT_TTL_MS must be a whole number/);
    expect(problemsOf({ ...PROD, REDIS_KEY_PREFIX: '{x}' }).join()).toMatch(/REDIS_KEY_PREFIX/);
    expect(problemsOf({ ...PROD, TRUST_PROXY: 'yes please;' }).join()).toMatch(/TRUST_PROXY/);
  });

  it('never echoes a secret or a Redis password', () => {
    const problems = problemsOf({
      ...PROD,
      WECHAT_APP_SECRET: 'hunter2-is-not-32-chars',
      SESSION_SECRET: 'short-secret',
      REDIS_URL: 'http://user:p4ssw0rd@redis:6379',
    }).join('\n');
    expect(problems).not.toContain('hunter2');
    expect(problems).not.toContain('short-secret');
    expect(problems).not.toContain('p4ssw0rd');
  });

  it('parses TRUST_PROXY as Express takes it', () => {
    expect(loadSampleConfig({ TRUST_PROXY: 'true' }, DEMO).trustProxy).toBe(true);
    expect(loadSampleConfig({ TRUST_PROXY: '2' }, DEMO).trustProxy).toBe(2);
    expect(loadSampleConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }, DEMO).trustProxy).toBe('loopback, 10.0.0.0/8');
  });
});

describe('resolveSampleConfig', () => {
  it('points demo mode at the emulator on this server: localhost for the browser, the loopback address for itself', () => {
    const config = resolveSampleConfig(loadSampleConfig({ PORT: '0' }, DEMO), { port: 41234, loopbackHost: '127.0.0.1' });
    expect(config).toMatchObject({
      callbackURL: 'http://localhost:41234/auth/wechat/callback',
      oauthBaseURL: 'http://localhost:41234/__wechat',
      apiBaseURL: 'http://127.0.0.1:41234/__wechat',
      publicOrigin: 'http://localhost:41234',
      secureCookies: false,
    });
  });

  it('keeps a configured https callback (Secure cookies) and the production origins', () => {
    const env = loadSampleConfig({ ...PROD, WECHAT_CALLBACK_URL: 'https://app.example.com/auth/wechat/callback' }, DEMO);
    const config = resolveSampleConfig(env, { port: 3000, loopbackHost: '127.0.0.1' });
    expect(config).toMatchObject({
      callbackURL: 'https://app.example.com/auth/wechat/callback',
      oauthBaseURL: 'https://open.weixin.qq.com',
      apiBaseURL: 'https://api.weixin.qq.com',
      publicOrigin: 'https://app.example.com',
      secureCookies: true,
    });
  });
});
