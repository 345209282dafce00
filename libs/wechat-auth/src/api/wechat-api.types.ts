/** `snsapi_base`: silent, openid only. `snsapi_userinfo`: consent page, then the profile can be read. */
export type WechatScope = 'snsapi_base' | 'snsapi_userinfo';

/** Languages accepted by `/sns/userinfo`. */
export type WechatLang = 'zh_CN' | 'zh_TW' | 'en';

/** The answer of `/sns/oauth2/access_token` and `/sns/oauth2/refresh_token`, in camelCase. */
export interface WechatAccessToken {
  /** The web access token (not the Official Account's global access_token). Secret: never log it. */
  accessToken: string;
  /** Lifetime of `accessToken` in seconds (WeChat says 7200). */
  expiresIn: number;
  /** Refresh token, valid 30 days. Secret: never log it. */
  refreshToken: string;
  /** The user's openid for this app. */
  openid: string;
  /** The granted scope(s), as WeChat wrote them (comma-separated when several). */
  scope: string;
  /** Present with snsapi_userinfo when the account is bound to an Open Platform account. */
  unionid?: string;
  /** True for a snapshot-page virtual user (`is_snapshotuser: 1`): its openid and unionid are fake. */
  isSnapshotUser: boolean;
}

/** The answer of `/sns/userinfo`. Since late 2021 `sex` is 0 and the region fields are empty. */
export interface WechatUserInfo {
  openid: string;
  nickname: string;
  sex: number;
  province: string;
  city: string;
  country: string;
  /** Avatar URL; empty when the user has none. */
  headimgurl: string;
  privilege: string[];
  unionid?: string;
}

/** Parameters of the authorize URL, in the order WeChat matches them. */
export interface AuthorizeUrlParams {
  /** Absolute callback URL; encoded by the builder. */
  redirectUri: string;
  scope: WechatScope;
  /** `[A-Za-z0-9]{1,128}`: WeChat returns it unchanged and does not re-encode it. */
  state: string;
  /** Adds `forcePopup=true`, which makes WeChat show the consent page even to followers. */
  forcePopup?: boolean;
}

/**
 * The scope of the website QR login (网站应用微信登录, `/connect/qrconnect`): an Open Platform website app's only
 * scope. It grants what `snsapi_userinfo` grants (the profile through `/sns/userinfo`), without a consent page in
 * the browser: the user confirms on the phone that scanned the QR code.
 */
export type WechatQrScope = 'snsapi_login';

/** Any scope a login may request: an Official Account's ({@link WechatScope}) or the website QR login's. */
export type WechatLoginScope = WechatScope | WechatQrScope;

/** Parameters of the QR-login URL (`/connect/qrconnect`), in the order WeChat matches them; the scope is always `snsapi_login`. */
export interface QrConnectUrlParams {
  /** Absolute callback URL; encoded by the builder. Its host must be the website app's 授权回调域. */
  redirectUri: string;
  /** `[A-Za-z0-9]{1,128}`: WeChat returns it unchanged and does not re-encode it. */
  state: string;
}
