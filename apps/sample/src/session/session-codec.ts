import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** What the app remembers about a signed-in user. Never a WeChat access or refresh token. */
export interface SampleSession {
  openid: string;
  unionid?: string;
  nickname?: string;
  headimgurl?: string;
  /**
   * The WeChat app the user signed in through (the Official Account, or the website app for a QR login); a session
   * of an app this one does not run is not accepted.
   */
  appId: string;
  /**
   * The account this user is: `wechatUserKey(user).id` (`unionid:…` when WeChat gave a unionid, so the same person
   * signing in through either app is the same account; else `openid:<appId>:…`; `snapshot:…` for a snapshot-page
   * virtual user, which matches no account).
   */
  account?: string;
  /** A snapshot-page virtual user (朋友圈快照页): not a real person, never linked to an account. */
  snapshot?: true;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
}

/** The fields a session is issued from. */
export type SessionSubject = Omit<SampleSession, 'iat' | 'exp'>;

/** Options of {@link SessionCodec}. */
export interface SessionCodecOptions {
  /** The shared secret (SESSION_SECRET); instances that share it accept each other's sessions. */
  secret: string;
  /** The app id(s) sessions are issued for and accepted from (an Official Account and a website app). */
  appId: string | readonly string[];
  /** Session lifetime in seconds. */
  maxAgeSeconds: number;
  /** The clock, in milliseconds. */
  now?: () => number;
}

/** Format version, part of the signed text so a future format cannot be confused with this one. */
const VERSION = 'v1';
/** Tolerated clock skew between instances when checking `iat`, in seconds. */
const CLOCK_SKEW_SECONDS = 60;
/** Cookies are limited to about 4 KB; a session never needs more than this. */
const MAX_ENCODED_LENGTH = 3500;
/** Field bounds: WeChat's openid/unionid are 28-ish characters, nicknames are short. */
const MAX_ID_LENGTH = 128;
const MAX_NICKNAME_LENGTH = 200;
/** `unionid:` / `openid:<appId>:` / `snapshot:<appId>:` and an id. */
const MAX_ACCOUNT_LENGTH = 300;
/** Avatar URLs longer than this are dropped from the session rather than overflowing the cookie. */
export const MAX_HEADIMGURL_LENGTH = 2048;

/**
 * A stateless session token: `v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256)>`. Any instance holding the same
 * secret verifies it, so sessions survive a load balancer sending the next request elsewhere. The payload is signed,
 * not encrypted: it holds only what the profile page shows anyway.
 */
export class SessionCodec {
  private readonly key: Buffer;
  private readonly now: () => number;
  private readonly appIds: readonly string[];

  constructor(private readonly options: SessionCodecOptions) {
    // A key derived for this purpose only, so the same SESSION_SECRET could sign something else without a
    // signature from one use ever being valid for the other.
    this.key = Buffer.from(hkdfSync('sha256', options.secret, 'nestjs-wechat-auth-sample', 'session-cookie v1', 32));
    this.now = options.now ?? Date.now;
    this.appIds = typeof options.appId === 'string' ? [options.appId] : [...options.appId];
  }

  /** Session lifetime in seconds. */
  get maxAgeSeconds(): number {
    return this.options.maxAgeSeconds;
  }

  /** Issues a token for `subject`, valid for `maxAgeSeconds`. */
  encode(subject: SessionSubject): { token: string; session: SampleSession } {
    const iat = Math.floor(this.now() / 1000);
    const session: SampleSession = {
      openid: subject.openid,
      ...(subject.unionid ? { unionid: subject.unionid } : {}),
      ...(subject.nickname !== undefined ? { nickname: subject.nickname.slice(0, MAX_NICKNAME_LENGTH) } : {}),
      ...(subject.headimgurl && subject.headimgurl.length <= MAX_HEADIMGURL_LENGTH ? { headimgurl: subject.headimgurl } : {}),
      appId: subject.appId,
      ...(subject.account ? { account: subject.account.slice(0, MAX_ACCOUNT_LENGTH) } : {}),
      ...(subject.snapshot ? { snapshot: true as const } : {}),
      iat,
      exp: iat + this.options.maxAgeSeconds,
    };
    let body = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
    if (body.length > MAX_ENCODED_LENGTH) {
      // Keep the session (the identity) and lose the decoration.
      delete session.headimgurl;
      body = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
    }
    return { token: `${VERSION}.${body}.${this.sign(body)}`, session };
  }

  /** Returns the session a token carries, or undefined when it is malformed, forged, expired or for another app. */
  decode(token: string | undefined): SampleSession | undefined {
    if (!token || token.length > MAX_ENCODED_LENGTH + 100) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
    const [, body, signature] = parts as [string, string, string];
    if (!/^[A-Za-z0-9_-]+$/.test(body) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return undefined;
    // Compared as text, not decoded bytes: the last base64url character carries 2 unused bits, and a decoded
    // comparison would accept 4 spellings of one signature.
    const expected = Buffer.from(this.sign(body), 'ascii');
    const given = Buffer.from(signature, 'ascii');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;

    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const session = toSession(payload);
    if (!session || !this.appIds.includes(session.appId)) return undefined;
    const nowSeconds = Math.floor(this.now() / 1000);
    if (session.exp <= nowSeconds || session.iat > nowSeconds + CLOCK_SKEW_SECONDS) return undefined;
    return session;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(`${VERSION}.${body}`).digest('base64url');
  }
}

function isBoundedString(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

/** Checks the payload's shape: a valid signature says who wrote it, not that a future version wrote the same fields. */
function toSession(payload: unknown): SampleSession | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const p = payload as Record<string, unknown>;
  if (!isBoundedString(p.openid, MAX_ID_LENGTH) || !isBoundedString(p.appId, MAX_ID_LENGTH)) return undefined;
  if (!Number.isSafeInteger(p.iat) || !Number.isSafeInteger(p.exp)) return undefined;
  if (p.unionid !== undefined && !isBoundedString(p.unionid, MAX_ID_LENGTH)) return undefined;
  if (p.nickname !== undefined && (typeof p.nickname !== 'string' || p.nickname.length > MAX_NICKNAME_LENGTH)) return undefined;
  if (p.headimgurl !== undefined && (typeof p.headimgurl !== 'string' || p.headimgurl.length > MAX_HEADIMGURL_LENGTH)) {
    return undefined;
  }
  if (p.account !== undefined && !isBoundedString(p.account, MAX_ACCOUNT_LENGTH)) return undefined;
  if (p.snapshot !== undefined && p.snapshot !== true) return undefined;
  return {
    openid: p.openid,
    ...(p.unionid !== undefined ? { unionid: p.unionid as string } : {}),
    ...(p.nickname !== undefined ? { nickname: p.nickname as string } : {}),
    ...(p.headimgurl !== undefined ? { headimgurl: p.headimgurl as string } : {}),
    appId: p.appId,
    ...(p.account !== undefined ? { account: p.account as string } : {}),
    ...(p.snapshot === true ? { snapshot: true as const } : {}),
    iat: p.iat as number,
    exp: p.exp as number,
  };
}
