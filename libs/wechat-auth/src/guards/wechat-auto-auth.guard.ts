import { Injectable } from '@nestjs/common';
import type { WechatRouteFlow } from './select-wechat-strategy.js';
import { WechatAuthGuard } from './wechat-auth.guard.js';

/**
 * One login route for phone and desktop: {@link WechatAuthGuard} that picks the flow by user agent. Inside WeChat
 * (`MicroMessenger` in the User-Agent) it starts the Official Account login; in any other browser the website QR
 * login (Open Platform website app). Register both apps with `WechatAuthModule` (distinct `strategyName`s, the
 * second with `flow: 'website-qr'`). Falls back to whichever is registered when only one is.
 *
 * Overridable per route: `@WechatAuth({ flow: 'website-qr' })` (or `'official-account'`) forces one flow,
 * `@WechatAuth({ strategy })` one registration, `@WechatAuth({ strategies: { officialAccount, websiteQr } })`
 * chooses among several of a flow. On a callback route it completes whichever login set this browser's state
 * cookie, so both flows may share one callback path; separate callback routes with `WechatAuthGuard` and
 * `@WechatAuth({ strategy })` work too.
 *
 * @example
 * @Get('auth/wechat/login') @UseGuards(WechatAutoAuthGuard) login() {}
 */
@Injectable()
export class WechatAutoAuthGuard extends WechatAuthGuard {
  protected override readonly defaultFlow: WechatRouteFlow | undefined = 'auto';
}
