import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WechatLoginScope } from '../api/wechat-api.types.js';
import { StateMismatchError } from '../errors/wechat-auth.errors.js';
import type { StateFailure } from '../errors/wechat-auth.errors.js';
import type { ResolvedStateCookieOptions } from '../wechat-auth.options.js';
import { RandomPool } from '../code-exchange/random-pool.js';
import { readCookieValues, serializeSetCookie } from './cookies.js';
import { isSafeReturnTo } from './return-to.js';

/** What a login carries from the redirect to WeChat to the callback, inside the signed state cookie. */
export interface LoginState {
  /** 32 random bytes, base64url. The browser's secret: `state` and the code-exchange binding derive from it. */
  readonly nonce: string;
  /** When the login started, in milliseconds since the epoch. */
  readonly issuedAt: number;
  /** The same-site path to land on after the callback. */
  readonly returnTo: string;
  /** The scope requested from WeChat (`snsapi_login` for a website QR login). */
  readonly scope: WechatLoginScope;
  /** This login is the one re-authorization after an unusable code: another unusable code must not redirect again. */
  readonly reauth: boolean;
}

/** A freshly started login: the `state` for the authorize URL and the Set-Cookie header that binds it. */
export interface IssuedLoginState {
  readonly state: string;
  readonly setCookie: string;
  readonly login: LoginState;
}

/** Length of the `state` sent to WeChat: 64 hex characters (a full HMAC-SHA256), within WeChat's 128 and `[A-Za-z0-9]`. */
export const STATE_LENGTH = 64;

const FORMAT_VERSION = 'v1';
const NONCE_BYTES = 32;
/** A cookie written by an instance whose clock runs ahead is accepted up to this skew. */
const MAX_CLOCK_SKEW_MS = 60_000;
/** Longest cookie value considered; a longer one is not ours. */
const MAX_COOKIE_VALUE_LENGTH = 1_200;
const B64URL = /^[A-Za-z0-9_-]*$/;
/** One character per scope in the cookie's flags field. */
const SCOPE_FLAGS: Readonly<Record<WechatLoginScope, 'b' | 'u' | 'l'>> = { snsapi_base: 'b', snsapi_userinfo: 'u', snsapi_login: 'l' };
const SCOPES_BY_FLAG: Readonly<Record<'b' | 'u' | 'l', WechatLoginScope>> = { b: 'snsapi_base', u: 'snsapi_userinfo', l: 'snsapi_login' };

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Issues and verifies the login state, stateless across instances: everything needed to verify a callback is in
 * the browser's cookie, signed with a key every instance derives from the shared secret.
 *
 * The cookie holds `v1.<nonce>.<issuedAt>.<flags>.<returnTo>.<mac>` (base64url fields, HMAC-SHA256 over the rest).
 * `state` = HMAC(key, "state|appId|nonce|issuedAt") in hex, so only the browser holding the cookie can present a
 * matching state. Verification does not consume anything: the aborted first request of a duplicate callback and the
 * second one both verify (the first response's Set-Cookie never reaches the browser, so nothing may depend on it).
 */
export class LoginStateCodec {
  private readonly random = new RandomPool();

  constructor(
    private readonly stateKey: Buffer,
    private readonly appId: string,
    private readonly cookie: ResolvedStateCookieOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cookie's name. */
  get cookieName(): string {
    return this.cookie.name;
  }

  /** Starts a login: a fresh nonce, its `state`, and the Set-Cookie header to send with the redirect. */
  issue(params: { returnTo: string; scope: WechatLoginScope; reauth: boolean }): IssuedLoginState {
    const login: LoginState = {
      nonce: this.random.take(NONCE_BYTES).toString('base64url'),
      issuedAt: this.now(),
      returnTo: params.returnTo,
      scope: params.scope,
      reauth: params.reauth,
    };
    const body = [
      FORMAT_VERSION,
      login.nonce,
      login.issuedAt.toString(36),
      `${SCOPE_FLAGS[login.scope]}${login.reauth ? 'r' : 'n'}`,
      Buffer.from(login.returnTo, 'utf8').toString('base64url'),
    ].join('.');
    const value = `${body}.${this.cookieMac(body).toString('base64url')}`;
    const setCookie = serializeSetCookie(this.cookie.name, value, {
      maxAgeSeconds: this.cookie.maxAgeSeconds,
      path: this.cookie.path,
      ...(this.cookie.domain === undefined ? {} : { domain: this.cookie.domain }),
      secure: this.cookie.secure,
      sameSite: this.cookie.sameSite,
    });
    return { state: this.stateOf(login), setCookie, login };
  }

  /**
   * Verifies a callback's `state` against the browser's state cookie(s), in constant time.
   * @throws StateMismatchError `missing-cookie`, `malformed-cookie` (bad format or signature), `expired` or `mismatch`.
   */
  verify(cookieHeader: string | string[] | undefined, state: string): LoginState {
    const values = readCookieValues(cookieHeader, this.cookie.name);
    if (values.length === 0) throw new StateMismatchError('missing-cookie');
    // A browser may hold several same-named cookies (other path or domain); any one that matches will do. The
    // reported failure is the most telling one.
    let failure: StateFailure = 'malformed-cookie';
    for (const value of values) {
      const login = this.parse(value);
      if (!login) continue;
      const now = this.now();
      if (now > login.issuedAt + this.cookie.maxAgeSeconds * 1000) {
        if (failure === 'malformed-cookie') failure = 'expired';
        continue;
      }
      if (safeEqual(Buffer.from(this.stateOf(login), 'latin1'), Buffer.from(state, 'latin1'))) return login;
      failure = 'mismatch';
    }
    throw new StateMismatchError(failure);
  }

  /**
   * The code-exchange binding of a verified login: derived from the nonce (a secret only this browser holds), never
   * the state itself, which travels in URLs and Referers.
   */
  bindingOf(login: LoginState): string {
    return hmac(this.stateKey, `binding|${this.appId}|${login.nonce}`).toString('base64url');
  }

  /**
   * Menu-entry mode's binding: derived from the code itself, since there is no cookie. Duplicates share the result,
   * but so would anyone replaying the code while the result is cached: that is the mode's documented weakness.
   */
  menuEntryBindingOf(code: string): string {
    return hmac(this.stateKey, `menu-entry-binding|${this.appId}|${code}`).toString('base64url');
  }

  private stateOf(login: Pick<LoginState, 'nonce' | 'issuedAt'>): string {
    return hmac(this.stateKey, `state|${this.appId}|${login.nonce}|${login.issuedAt}`).toString('hex').slice(0, STATE_LENGTH);
  }

  private cookieMac(body: string): Buffer {
    return hmac(this.stateKey, `cookie|${this.appId}|${body}`);
  }

  /** The login in a cookie value, or undefined when it is not a well-formed cookie signed by this app. */
  private parse(value: string): LoginState | undefined {
    if (value.length > MAX_COOKIE_VALUE_LENGTH) return undefined;
    const fields = value.split('.');
    if (fields.length !== 6 || fields[0] !== FORMAT_VERSION) return undefined;
    const [, nonce, issuedAt36, flags, returnTo64, mac] = fields as [string, string, string, string, string, string];
    if (!B64URL.test(mac) || !safeEqual(Buffer.from(mac, 'base64url'), this.cookieMac(fields.slice(0, 5).join('.')))) return undefined;
    // Signed by us, so the fields are ours; still check them, a key shared by mistake must not yield nonsense.
    if (!B64URL.test(nonce) || Buffer.from(nonce, 'base64url').length !== NONCE_BYTES) return undefined;
    const issuedAt = Number.parseInt(issuedAt36, 36);
    if (!/^[0-9a-z]{1,11}$/.test(issuedAt36) || !Number.isSafeInteger(issuedAt) || issuedAt > this.now() + MAX_CLOCK_SKEW_MS) {
      return undefined;
    }
    if (!/^[bul][rn]$/.test(flags) || !B64URL.test(returnTo64)) return undefined;
    const returnTo = Buffer.from(returnTo64, 'base64url').toString('utf8');
    if (!isSafeReturnTo(returnTo)) return undefined;
    return { nonce, issuedAt, returnTo, scope: SCOPES_BY_FLAG[flags[0] as 'b' | 'u' | 'l'], reauth: flags[1] === 'r' };
  }
}
