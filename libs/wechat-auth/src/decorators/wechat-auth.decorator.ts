import { SetMetadata } from '@nestjs/common';
import type { CustomDecorator } from '@nestjs/common';
import type { WechatScope } from '../api/wechat-api.types.js';
import { isSafeReturnTo } from '../state/return-to.js';
import { MAX_RETURN_TO_LENGTH, WECHAT_AUTH_ROUTE_OPTIONS } from '../wechat-auth.constants.js';

/** Per-route overrides read by `WechatAuthGuard`. */
export interface WechatRouteOptions {
  /** Scope of a login started on this route (e.g. `snsapi_base` for a silent openid-only login). */
  scope?: WechatScope;
  /** Add `forcePopup=true`: show WeChat's consent page even to followers of the account. */
  forcePopup?: boolean;
  /**
   * Where a login started on this route lands, unless its `returnTo` query parameter names another same-site path.
   * Must itself be a same-site path (checked when the decorator is applied).
   */
  returnTo?: string;
  /** The strategy (`strategyName`) this route uses when several WeChat apps are registered. Put it on the callback route too. */
  strategy?: string;
}

/**
 * Per-route options for `WechatAuthGuard` (on a handler or a controller).
 * @example
 * @Get('auth/wechat/silent') @UseGuards(WechatAuthGuard) @WechatAuth({ scope: 'snsapi_base', returnTo: '/me' })
 * @throws TypeError at startup when an option is invalid (so a typo never reaches a user).
 */
export function WechatAuth(options: WechatRouteOptions = {}): CustomDecorator<string> {
  if (options.scope !== undefined && options.scope !== 'snsapi_base' && options.scope !== 'snsapi_userinfo') {
    throw new TypeError('@WechatAuth({ scope }) must be "snsapi_base" or "snsapi_userinfo"');
  }
  if (options.returnTo !== undefined && !isSafeReturnTo(options.returnTo)) {
    throw new TypeError(
      `@WechatAuth({ returnTo }) must be a same-site path starting with a single "/" (no scheme, "//", backslash or spaces; at most ${MAX_RETURN_TO_LENGTH} characters)`,
    );
  }
  if (options.forcePopup !== undefined && typeof options.forcePopup !== 'boolean') {
    throw new TypeError('@WechatAuth({ forcePopup }) must be true or false');
  }
  if (options.strategy !== undefined && (typeof options.strategy !== 'string' || options.strategy.length === 0)) {
    throw new TypeError('@WechatAuth({ strategy }) must be the strategyName of a registered WechatAuthModule');
  }
  return SetMetadata(WECHAT_AUTH_ROUTE_OPTIONS, Object.freeze({ ...options }));
}
