import type { WechatLoginScope } from '../api/wechat-api.types.js';

/**
 * What the callback learned about the login it completes, kept on the request for the guard (re-authorization)
 * and for `@WechatReturnTo()`.
 */
export interface WechatLoginContext {
  /** The strategy that handled the callback. */
  readonly strategyName: string;
  /** The same-site path to land on. */
  readonly returnTo: string;
  /** The scope the login asked for; undefined for a menu-entry login (the token's scope decides). */
  readonly scope?: WechatLoginScope;
  /** The login was already a re-authorization: an unusable code must not redirect again. */
  readonly reauth: boolean;
  /** Verified by the fixed menu-entry state instead of a state cookie. */
  readonly menuEntry: boolean;
}

// Symbol.for: two copies of the library in one process (a hoisting accident) still see each other's context.
const LOGIN_CONTEXT = Symbol.for('nestjs-wechat-auth.login-context');

type WithLoginContext = { [LOGIN_CONTEXT]?: WechatLoginContext };

/** Records the verified login on the request. */
export function setLoginContext(req: object, context: WechatLoginContext): void {
  (req as WithLoginContext)[LOGIN_CONTEXT] = context;
}

/** The verified login of this request, if its callback got that far. */
export function getLoginContext(req: object): WechatLoginContext | undefined {
  return (req as WithLoginContext)[LOGIN_CONTEXT];
}
