import { SetMetadata } from '@nestjs/common';
import type { CustomDecorator } from '@nestjs/common';
import type { WechatScope } from '../api/wechat-api.types.js';
import type { WechatRouteFlow } from '../guards/select-wechat-strategy.js';
import { isSafeReturnTo } from '../state/return-to.js';
import { MAX_RETURN_TO_LENGTH, WECHAT_AUTH_ROUTE_OPTIONS } from '../wechat-auth.constants.js';

/** Per-route overrides read by `WechatAuthGuard` and `WechatAutoAuthGuard`. */
export interface WechatRouteOptions {
  /**
   * Scope of a login started on this route (e.g. `snsapi_base` for a silent openid-only login). Applies to the
   * Official Account login; the website QR login always asks for `snsapi_login`.
   */
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
  /**
   * Which login this route starts (and completes), instead of naming a strategy: `auto` (the default of
   * `WechatAutoAuthGuard`) picks the Official Account login inside WeChat (`MicroMessenger` in the User-Agent) and
   * the website QR login elsewhere; `official-account` or `website-qr` always that one (e.g. a "scan with WeChat"
   * button that must show the QR code even inside WeChat's desktop browser). Not together with `strategy`.
   */
  flow?: WechatRouteFlow;
  /**
   * Which registrations `flow` chooses from, when several of one flow are registered (by `strategyName`). Default:
   * the only one of each flow.
   */
  strategies?: { officialAccount?: string; websiteQr?: string };
}

const ROUTE_FLOWS: readonly WechatRouteFlow[] = ['auto', 'official-account', 'website-qr'];

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
  if (options.flow !== undefined && !ROUTE_FLOWS.includes(options.flow)) {
    throw new TypeError('@WechatAuth({ flow }) must be "auto", "official-account" or "website-qr"');
  }
  if (options.flow !== undefined && options.strategy !== undefined) {
    throw new TypeError('@WechatAuth() takes either strategy (one registration) or flow (chosen per request), not both');
  }
  if (options.strategies !== undefined) {
    const strategies: unknown = options.strategies;
    const fields = typeof strategies === 'object' && strategies !== null ? Object.entries(strategies) : undefined;
    const valid =
      fields !== undefined &&
      fields.every(
        ([key, name]) => (key === 'officialAccount' || key === 'websiteQr') && (name === undefined || (typeof name === 'string' && name.length > 0)),
      );
    if (!valid) {
      throw new TypeError('@WechatAuth({ strategies }) must be { officialAccount?: strategyName, websiteQr?: strategyName }');
    }
  }
  return SetMetadata(
    WECHAT_AUTH_ROUTE_OPTIONS,
    Object.freeze({ ...options, ...(options.strategies ? { strategies: Object.freeze({ ...options.strategies }) } : {}) }),
  );
}
