import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '../../../../test/support/thrown.js';
import { StateMismatchError } from '../errors/wechat-auth.errors.js';
import type { ResolvedStateCookieOptions } from '../wechat-auth.options.js';
import { appendSetCookie, readCookieValues } from './cookies.js';
import { LoginStateCodec, STATE_LENGTH } from './login-state.js';
import { deriveWechatAuthKeys } from './wechat-auth.keys.js';

const APP_ID = 'wx0123456789abcdef';
const COOKIE: ResolvedStateCookieOptions = { name: 'wechat_auth_state_wechat', maxAgeSeconds: 600, secure: true, sameSite: 'lax', path: '/' };
const keys = deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'A'.repeat(32) });

function codecAt(clock: { now: number }, key = keys.stateKey, cookie = COOKIE): LoginStateCodec {
  return new LoginStateCodec(key, APP_ID, cookie, () => clock.now);
}

/** The Cookie header a browser would send back for a Set-Cookie header. */
function cookieHeaderOf(setCookie: string): string {
  return setCookie.split(';')[0]!;
}

function failureOf(fn: () => unknown): string {
  return thrownBy(fn, StateMismatchError).failure;
}

describe('LoginStateCodec', () => {
  it('issues a WeChat-safe state and an HttpOnly, SameSite=Lax, Secure cookie with Max-Age and Path', () => {
    const codec = codecAt({ now: 1_700_000_000_000 });
    const issued = codec.issue({ returnTo: '/orders?id=1', scope: 'snsapi_userinfo', reauth: false });
    expect(issued.state).toMatch(new RegExp(`^[A-Za-z0-9]{${STATE_LENGTH}}$`));
    expect(issued.setCookie).toMatch(/^wechat_auth_state_wechat=v1\.[A-Za-z0-9_.-]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(issued.login.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('omits Secure when told to and writes Domain when set', () => {
    const codec = codecAt({ now: 1 }, keys.stateKey, { ...COOKIE, secure: false, domain: 'example.com', path: '/auth' });
    const { setCookie } = codec.issue({ returnTo: '/', scope: 'snsapi_base', reauth: false });
    expect(setCookie).not.toContain('Secure');
    expect(setCookie).toContain('; Path=/auth; Domain=example.com; HttpOnly; SameSite=Lax');
  });

  it('verifies its own state and cookie, returning what the login carried', () => {
    const clock = { now: 1_700_000_000_000 };
    const codec = codecAt(clock);
    const issued = codec.issue({ returnTo: '/a/b?c=d', scope: 'snsapi_base', reauth: true });
    clock.now += 599_000;
    const login = codec.verify(`other=1; ${cookieHeaderOf(issued.setCookie)}; x=y`, issued.state);
    expect(login).toEqual(issued.login);
    expect(login).toMatchObject({ returnTo: '/a/b?c=d', scope: 'snsapi_base', reauth: true });
  });

  it('verifies the same callback any number of times (duplicates are not consumed)', () => {
    const codec = codecAt({ now: 5_000_000 });
    const issued = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    for (let i = 0; i < 3; i++) expect(codec.verify(cookieHeaderOf(issued.setCookie), issued.state).nonce).toBe(issued.login.nonce);
  });

  it('is stateless across instances: another codec with the same derived key verifies it', () => {
    const clock = { now: 9_000_000 };
    const issued = codecAt(clock).issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const otherInstance = codecAt(clock, deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'A'.repeat(32) }).stateKey);
    expect(otherInstance.verify(cookieHeaderOf(issued.setCookie), issued.state).nonce).toBe(issued.login.nonce);
  });

  it('rejects a missing cookie, a tampered cookie, an expired one and another browser\'s state', () => {
    const clock = { now: 1_700_000_000_000 };
    const codec = codecAt(clock);
    const mine = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const theirs = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const header = cookieHeaderOf(mine.setCookie);

    expect(failureOf(() => codec.verify(undefined, mine.state))).toBe('missing-cookie');
    expect(failureOf(() => codec.verify('unrelated=1', mine.state))).toBe('missing-cookie');
    expect(failureOf(() => codec.verify(header, theirs.state))).toBe('mismatch');
    expect(failureOf(() => codec.verify(header, mine.state.slice(1)))).toBe('mismatch');

    // Flip the returnTo field (open-redirect attempt) or the reauth flag: the MAC no longer matches.
    const [name, value] = header.split('=') as [string, string];
    const fields = value.split('.');
    const evilReturnTo = [...fields];
    evilReturnTo[4] = Buffer.from('/evil', 'utf8').toString('base64url');
    expect(failureOf(() => codec.verify(`${name}=${evilReturnTo.join('.')}`, mine.state))).toBe('malformed-cookie');
    const flipped = [...fields];
    flipped[3] = 'ur';
    expect(failureOf(() => codec.verify(`${name}=${flipped.join('.')}`, mine.state))).toBe('malformed-cookie');
    expect(failureOf(() => codec.verify(`${name}=garbage`, mine.state))).toBe('malformed-cookie');
    expect(failureOf(() => codec.verify(`${name}=${'x'.repeat(5000)}`, mine.state))).toBe('malformed-cookie');

    clock.now += 600_001;
    expect(failureOf(() => codec.verify(header, mine.state))).toBe('expired');
  });

  it('rejects a cookie signed for another app or with another secret', () => {
    const clock = { now: 1_700_000_000_000 };
    const issued = codecAt(clock).issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const otherSecret = codecAt(clock, deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'B'.repeat(32) }).stateKey);
    expect(failureOf(() => otherSecret.verify(cookieHeaderOf(issued.setCookie), issued.state))).toBe('malformed-cookie');
    const otherApp = new LoginStateCodec(keys.stateKey, 'wx1111111111111111', COOKIE, () => clock.now);
    expect(failureOf(() => otherApp.verify(cookieHeaderOf(issued.setCookie), issued.state))).toBe('malformed-cookie');
  });

  it('rejects a cookie issued far in the future (clock skew beyond a minute)', () => {
    const clock = { now: 1_700_000_000_000 };
    const future = codecAt({ now: clock.now + 120_000 }).issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    expect(failureOf(() => codecAt(clock).verify(cookieHeaderOf(future.setCookie), future.state))).toBe('malformed-cookie');
    const nearFuture = codecAt({ now: clock.now + 30_000 }).issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    expect(codecAt(clock).verify(cookieHeaderOf(nearFuture.setCookie), nearFuture.state).nonce).toBe(nearFuture.login.nonce);
  });

  it('accepts the matching one among several same-named cookies', () => {
    const codec = codecAt({ now: 1_700_000_000_000 });
    const older = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const newer = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const header = `${cookieHeaderOf(older.setCookie)}; ${cookieHeaderOf(newer.setCookie)}`;
    expect(codec.verify(header, newer.state).nonce).toBe(newer.login.nonce);
    expect(codec.verify(header, older.state).nonce).toBe(older.login.nonce);
  });

  it('derives a binding per browser nonce that is not the state and is stable for duplicates', () => {
    const codec = codecAt({ now: 1_700_000_000_000 });
    const a = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    const b = codec.issue({ returnTo: '/', scope: 'snsapi_userinfo', reauth: false });
    expect(codec.bindingOf(a.login)).toBe(codec.bindingOf(codec.verify(cookieHeaderOf(a.setCookie), a.state)));
    expect(codec.bindingOf(a.login)).not.toBe(codec.bindingOf(b.login));
    expect(codec.bindingOf(a.login)).not.toContain(a.state);
    expect(codec.bindingOf(a.login)).not.toContain(a.login.nonce);
    expect(codec.menuEntryBindingOf('CODE1')).toBe(codec.menuEntryBindingOf('CODE1'));
    expect(codec.menuEntryBindingOf('CODE1')).not.toBe(codec.menuEntryBindingOf('CODE2'));
  });
});

describe('cookies', () => {
  it('reads every value of a name, unquoting, ignoring look-alike names', () => {
    expect(readCookieValues('a=1; ab=2; a="3";  a = 4 ;b=5', 'a')).toEqual(['1', '3', '4']);
    expect(readCookieValues(undefined, 'a')).toEqual([]);
    expect(readCookieValues(['a=1', 'a=2'], 'a')).toEqual(['1', '2']);
  });

  it('bounds how many same-named values it considers', () => {
    expect(readCookieValues(Array.from({ length: 50 }, (_, i) => `a=${i}`).join('; '), 'a')).toHaveLength(4);
  });

  it('appends Set-Cookie headers without dropping existing ones', () => {
    const headers = new Map<string, unknown>();
    const res = {
      getHeader: (name: string) => headers.get(name.toLowerCase()) as string | string[] | undefined,
      setHeader: (name: string, value: unknown) => {
        headers.set(name.toLowerCase(), value);
        return res;
      },
    };
    appendSetCookie(res as never, 'a=1');
    appendSetCookie(res as never, 'b=2');
    expect(headers.get('set-cookie')).toEqual(['a=1', 'b=2']);
    headers.set('set-cookie', 'z=0');
    appendSetCookie(res as never, 'c=3');
    expect(headers.get('set-cookie')).toEqual(['z=0', 'c=3']);
  });
});

describe('deriveWechatAuthKeys', () => {
  it('derives distinct 32-byte keys, changes them with the secret, and hides them from logs', () => {
    const a = deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'A'.repeat(32) });
    expect(a.stateKey).toHaveLength(32);
    expect(a.codeExchangeKey).toHaveLength(32);
    expect(a.stateKey.equals(a.codeExchangeKey)).toBe(false);
    expect(deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'B'.repeat(32) }).stateKey.equals(a.stateKey)).toBe(false);
    const withStateSecret = deriveWechatAuthKeys({ appId: APP_ID, appSecret: 'A'.repeat(32), stateSecret: 's'.repeat(40) });
    expect(withStateSecret.stateKey.equals(a.stateKey)).toBe(false);
    expect(withStateSecret.codeExchangeKey.equals(a.codeExchangeKey)).toBe(true);
    expect(JSON.stringify(a)).toBe('{}');
  });
});
