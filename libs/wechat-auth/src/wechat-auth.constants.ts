/**
 * Injection tokens and fixed names of the WeChat auth module.
 */

/**
 * The validated, resolved module options ({@link ResolvedWechatAuthOptions}): every default applied, no secrets
 * (the app secret and the state secret are kept out of it, so injecting or logging it leaks nothing).
 */
export const WECHAT_AUTH_OPTIONS = Symbol('WECHAT_AUTH_OPTIONS');

/** Internal: the validated options including the secrets. Not exported from the package. */
export const WECHAT_AUTH_VALIDATED_OPTIONS = Symbol('WECHAT_AUTH_VALIDATED_OPTIONS');

/** Internal: keys derived from the app secret (state signing key, code-exchange key secret). */
export const WECHAT_AUTH_KEYS = Symbol('WECHAT_AUTH_KEYS');

/** Metadata key of the per-route overrides set by `@WechatAuth()`. */
export const WECHAT_AUTH_ROUTE_OPTIONS = 'nestjs-wechat-auth:route-options';

/** The strategy name used when `strategyName` is not configured. */
export const DEFAULT_STRATEGY_NAME = 'wechat';

/** Prefix of the state cookie's default name; the strategy name is appended so two apps never share a cookie. */
export const STATE_COOKIE_NAME_PREFIX = 'wechat_auth_state_';

/** WeChat's production origins. */
export const DEFAULT_API_BASE_URL = 'https://api.weixin.qq.com';
export const DEFAULT_OAUTH_BASE_URL = 'https://open.weixin.qq.com';

/** The longest `returnTo` path the state cookie carries; longer ones fall back to `defaultReturnTo`. */
export const MAX_RETURN_TO_LENGTH = 512;

/** WeChat returns `state` unchanged up to 128 bytes; codes are far shorter. Longer values are rejected before any work. */
export const MAX_CALLBACK_PARAM_LENGTH = 128;
