import { createParamDecorator } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import { getLoginContext } from '../state/login-context.js';
import type { WechatAuthUser } from '../strategy/wechat-auth-user.js';

/**
 * The signed-in WeChat user (`req.user` set by `WechatAuthGuard` on the callback route), or one of its fields.
 * @example
 * callback(@WechatUser() user: WechatAuthUser, @WechatUser('openid') openid: string) {}
 */
export const WechatUser = createParamDecorator(
  (field: keyof WechatAuthUser | undefined, context: ExecutionContext): unknown => {
    const user = context.switchToHttp().getRequest<{ user?: WechatAuthUser }>().user;
    return field === undefined ? user : user?.[field];
  },
);

/**
 * Where to send the user after the callback: the same-site path carried through the signed state cookie (from the
 * login route's `returnTo` query, `@WechatAuth({ returnTo })` or `defaultReturnTo`). Always a same-site path; `/`
 * on a route the guard did not complete.
 */
export const WechatReturnTo = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string => getLoginContext(context.switchToHttp().getRequest<object>())?.returnTo ?? '/',
);
