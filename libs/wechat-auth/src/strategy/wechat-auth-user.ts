import type { WechatAccessToken, WechatUserInfo } from '../api/wechat-api.types.js';
import type { WechatAuthFlow } from '../wechat-auth.options.js';

/**
 * The token answer's fields as WeChat writes them; what `WechatStrategy.validate()` receives as `params`, like any
 * passport-oauth2 strategy.
 */
export interface WechatTokenParams {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  openid: string;
  scope: string;
  unionid?: string;
  /** `1` for a snapshot-page virtual user. */
  is_snapshotuser?: 1;
}

/** The signed-in WeChat user, as `@WechatUser()` returns it (and `req.user` holds it). */
export interface WechatAuthUser {
  /** The user's openid for this app. Fake for a snapshot user. */
  openid: string;
  /** The UnionID (snsapi_userinfo with an account bound to an Open Platform account). Fake for a snapshot user. */
  unionid?: string;
  /** The scope WeChat granted, as it wrote it (`snsapi_base`, `snsapi_userinfo`, or `snsapi_login` for a QR login). */
  scope: string;
  /**
   * A snapshot-page virtual user (朋友圈快照页): WeChat made up its openid and unionid. Do not create an account
   * for it or link it to anything; ask the user to open the page for real.
   */
  isSnapshotUser: boolean;
  /**
   * The AppID this login belongs to (which strategy signed the user in): the Official Account's, or the website
   * app's for a QR login. An openid only means something together with it.
   */
  appId: string;
  /** How the user signed in: `official-account` (inside WeChat) or `website-qr` (scanned a QR code). */
  flow: WechatAuthFlow;
  /** The profile, read once per login with snsapi_userinfo for a real user; absent with snsapi_base. */
  profile?: WechatUserInfo;
  /**
   * The web access and refresh tokens. Non-enumerable: logging or JSON-serializing the user never prints them;
   * read `user.token` explicitly if you need to call WeChat later (and store it as the secret it is).
   */
  token: WechatAccessToken;
}

/** Builds a {@link WechatAuthUser}, with `token` non-enumerable so that it does not leak through logs or JSON. */
export function createWechatAuthUser(fields: Omit<WechatAuthUser, 'token'>, token: WechatAccessToken): WechatAuthUser {
  const user = { ...fields } as WechatAuthUser;
  Object.defineProperty(user, 'token', { value: Object.freeze({ ...token }), enumerable: false });
  return user;
}

/** The token answer in WeChat's wire format, for `validate()`'s `params`. */
export function toTokenParams(token: WechatAccessToken): WechatTokenParams {
  const params: WechatTokenParams = {
    access_token: token.accessToken,
    expires_in: token.expiresIn,
    refresh_token: token.refreshToken,
    openid: token.openid,
    scope: token.scope,
  };
  if (token.unionid !== undefined) params.unionid = token.unionid;
  if (token.isSnapshotUser) params.is_snapshotuser = 1;
  return params;
}

/**
 * Whether a token answer's scope lets `/sns/userinfo` read the profile: `snsapi_userinfo` (Official Account) or
 * `snsapi_login` (website QR login). `snsapi_base` does not (WeChat answers 48001).
 */
export function grantsUserInfo(scope: string): boolean {
  const scopes = grantedScopes(scope);
  return scopes.includes('snsapi_userinfo') || scopes.includes('snsapi_login');
}

/** The scopes a token answer granted (WeChat separates several with commas). */
export function grantedScopes(scope: string): string[] {
  return scope
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
