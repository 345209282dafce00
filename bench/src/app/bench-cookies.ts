import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Response } from 'express';
import { SESSION_COOKIE } from '../shared/strategies.js';

/** The baselines' state cookie: a signed nonce, the state derived from it. Same idea and cost as the library's. */
export const BASELINE_STATE_COOKIE = 'bench_state';
const STATE_MAX_AGE_S = 600;

function mac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/** Parses one cookie out of a Cookie header (bench cookies are plain tokens). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * State cookie and session cookie shared by every baseline, so that they differ from the library only in how they
 * coordinate the code exchange. The state cookie is never cleared by a callback (the library does not clear its own
 * either): a duplicate fails only because of the coordination strategy, never because of cookie handling.
 */
export class BenchCookies {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = mac(Buffer.from(secret), 'bench-cookies');
  }

  /** A new login: the `state` for the authorize URL and the Set-Cookie header binding it to this browser. */
  issueState(): { state: string; setCookie: string } {
    const nonce = randomBytes(24).toString('base64url');
    const issuedAt = Date.now().toString(36);
    const value = `${nonce}.${issuedAt}.${mac(this.key, `cookie|${nonce}|${issuedAt}`).toString('base64url')}`;
    return {
      state: this.stateOf(nonce),
      setCookie: `${BASELINE_STATE_COOKIE}=${value}; Max-Age=${STATE_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax`,
    };
  }

  /** Whether the callback's state belongs to the browser's state cookie (constant-time). */
  verifyState(cookieHeader: string | undefined, state: string): boolean {
    const value = readCookie(cookieHeader, BASELINE_STATE_COOKIE);
    if (!value) return false;
    const [nonce, issuedAt, signature] = value.split('.');
    if (!nonce || !issuedAt || !signature) return false;
    const expected = mac(this.key, `cookie|${nonce}|${issuedAt}`);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    if (Date.now() > Number.parseInt(issuedAt, 36) + STATE_MAX_AGE_S * 1000) return false;
    const a = Buffer.from(this.stateOf(nonce));
    const b = Buffer.from(state);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** "Login success", identical for every strategy: a signed session cookie naming the user, and a small JSON body. */
  signIn(res: Response, openid: string): { ok: true; openid: string } {
    const value = `${Buffer.from(openid).toString('base64url')}.${mac(this.key, `session|${openid}`).toString('base64url')}`;
    res.append('Set-Cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax`);
    res.setHeader('Cache-Control', 'no-store');
    return { ok: true, openid };
  }

  private stateOf(nonce: string): string {
    return mac(this.key, `state|${nonce}`).toString('hex').slice(0, 48);
  }
}
