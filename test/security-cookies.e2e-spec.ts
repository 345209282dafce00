/**
 * The attributes of every cookie a login sets, read from the real Set-Cookie headers of the sample app (the
 * library's state cookie and the app's session cookie), with an http callback and with an https one: HttpOnly,
 * SameSite=Lax, Secure exactly when the callback is https, Path=/, no Domain, and a Max-Age that fits the cookie's
 * job (the state cookie: a login's few minutes, at least the code's life; the session: a day). Also the state cookie
 * of a re-authorization, and the logout that clears the session.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { SampleApp } from '../apps/sample/src/bootstrap.js';
import { printTable } from './support/figures.js';
import { startSampleAgainstEmulator } from './support/sample-app.js';
import { SampleBrowser, type HttpAnswer } from './support/sample-browser.js';

const STATE_COOKIE = 'wechat_auth_state_wechat';
/** WeChat's code lives 5 minutes: a state cookie must outlive the consent page at least that long. */
const CODE_LIFE_SECONDS = 300;

interface ParsedCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased → value ('' for flags). */
  attributes: Map<string, string>;
  raw: string;
}

function parseSetCookie(line: string): ParsedCookie {
  const [pair = '', ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    attributes.set(key, at === -1 ? '' : part.slice(at + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, raw: line };
}

function cookieNamed(answer: HttpAnswer, name: string): ParsedCookie {
  const line = answer.setCookies.find((candidate) => candidate.startsWith(`${name}=`));
  if (!line) throw new Error(`no Set-Cookie for ${name} in: ${JSON.stringify(answer.setCookies)}`);
  return parseSetCookie(line);
}

const figures: Array<Record<string, unknown>> = [];

function expectCookie(cookie: ParsedCookie, expected: { secure: boolean; minMaxAge: number; maxMaxAge: number }, label: string): void {
  const a = cookie.attributes;
  expect({ cookie: label, httpOnly: a.has('httponly') }).toEqual({ cookie: label, httpOnly: true });
  expect({ cookie: label, sameSite: a.get('samesite')?.toLowerCase() }).toEqual({ cookie: label, sameSite: 'lax' });
  expect({ cookie: label, secure: a.has('secure') }).toEqual({ cookie: label, secure: expected.secure });
  expect({ cookie: label, path: a.get('path') }).toEqual({ cookie: label, path: '/' });
  expect({ cookie: label, domain: a.get('domain') }).toEqual({ cookie: label, domain: undefined });
  const maxAge = Number(a.get('max-age'));
  expect(Number.isInteger(maxAge)).toBe(true);
  expect(maxAge).toBeGreaterThanOrEqual(expected.minMaxAge);
  expect(maxAge).toBeLessThanOrEqual(expected.maxMaxAge);
  if (a.has('expires')) {
    // Expires, when also sent, says the same as Max-Age (within clock rounding).
    expect(Math.abs(Date.parse(a.get('expires')!) - (Date.now() + maxAge * 1000))).toBeLessThan(5_000);
  }
  if (cookie.name.startsWith('__Host-')) expect(expected.secure).toBe(true);
  figures.push({
    cookie: label,
    name: cookie.name,
    HttpOnly: 'yes',
    SameSite: a.get('samesite'),
    Secure: a.has('secure') ? 'yes' : 'no',
    'Max-Age': maxAge,
    Path: a.get('path'),
  });
}

describe.each([
  ['http', 'http://localhost:{port}/auth/wechat/callback', false],
  ['https', 'https://app.example.com/auth/wechat/callback', true],
] as const)('cookies with an %s callback', (scheme, callbackTemplate, secure) => {
  let emulator: WechatEmulator;
  let sample: SampleApp;
  let base: string;
  const sessionCookie = secure ? '__Host-wechat_sample_session' : 'wechat_sample_session';

  beforeAll(async () => {
    ({ emulator, sample, base } = await startSampleAgainstEmulator(scheme === 'https' ? { WECHAT_CALLBACK_URL: callbackTemplate } : {}));
  });

  afterAll(async () => {
    await sample?.close();
    await emulator?.close();
    if (scheme === 'https') printTable('Cookie attributes (from the real Set-Cookie headers):', figures);
  });

  it(`sets the state cookie and the session cookie HttpOnly, SameSite=Lax, ${secure ? 'Secure' : 'not Secure'}, with sensible Max-Age`, async () => {
    const browser = new SampleBrowser();
    const login = await browser.get(base, '/auth/wechat');
    expect(login.status).toBe(302);
    expect(login.setCookies).toHaveLength(1);
    expectCookie(cookieNamed(login, STATE_COOKIE), { secure, minMaxAge: CODE_LIFE_SECONDS, maxMaxAge: 3_600 }, `state (${scheme})`);

    const state = new URL(login.location!).searchParams.get('state')!;
    const callback = await browser.get(base, SampleBrowser.callbackPath(emulator.mintCode(), state));
    expect(callback.status).toBe(302);
    // The callback never rewrites the state cookie (a lost Set-Cookie of the aborted first hit must not matter).
    expect(callback.setCookies.map((line) => parseSetCookie(line).name)).toEqual([sessionCookie]);
    expectCookie(cookieNamed(callback, sessionCookie), { secure, minMaxAge: 3_600, maxMaxAge: 7 * 24 * 3_600 }, `session (${scheme})`);
  });

  it('gives a re-authorization the same state-cookie attributes', async () => {
    const browser = new SampleBrowser();
    const { state } = await browser.startLogin(base);
    const reauth = await browser.get(base, SampleBrowser.callbackPath(randomBytes(16).toString('hex'), state));
    expect(reauth.status).toBe(302);
    expect(reauth.location!.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)).toBe(true);
    expectCookie(cookieNamed(reauth, STATE_COOKIE), { secure, minMaxAge: CODE_LIFE_SECONDS, maxMaxAge: 3_600 }, `state, re-authorization (${scheme})`);
  });

  it('clears the session on logout with the same attributes', async () => {
    const browser = new SampleBrowser();
    const { state } = await browser.startLogin(base);
    await browser.get(base, SampleBrowser.callbackPath(emulator.mintCode(), state));
    const logout = await fetch(`${base}/auth/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: browser.jar.header(), accept: 'application/json', 'sec-fetch-site': 'same-origin' },
    });
    expect(logout.status).toBe(204);
    const cleared = parseSetCookie(logout.headers.getSetCookie().find((line) => line.startsWith(`${sessionCookie}=`))!);
    expect(cleared.value).toBe('');
    expect(Date.parse(cleared.attributes.get('expires')!)).toBeLessThanOrEqual(Date.now());
    expect(cleared.attributes.has('httponly')).toBe(true);
    expect(cleared.attributes.get('samesite')?.toLowerCase()).toBe('lax');
    expect(cleared.attributes.has('secure')).toBe(secure);
    expect(cleared.attributes.get('path')).toBe('/');
  });
});
