import { Controller, Get, Redirect, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { WechatAuth, WechatAuthGuard, WechatReturnTo, WechatUser, type WechatAuthUser } from 'nestjs-wechat-auth';
import { SampleStats } from '../demo/sample-stats.service.js';
import { SessionService } from '../session/session.service.js';
import { sessionSubjectOf } from './wechat-session.js';

/** The strategy name of the website app's registration (`flow: 'website-qr'`). */
export const WEB_STRATEGY = 'wechat-web';

/**
 * The website QR login (Open Platform website app), for desktop browsers: registered only when a website app is
 * configured (always in demo mode). The same guard as the Official Account's routes, told which strategy to use.
 */
@Controller('auth/wechat/web')
@UseGuards(WechatAuthGuard)
@WechatAuth({ strategy: WEB_STRATEGY })
export class WebAuthController {
  constructor(
    private readonly sessions: SessionService,
    private readonly stats: SampleStats,
  ) {}

  /** `GET /auth/wechat/web[?returnTo=/path]`: 302 to WeChat's QR-login page (`/connect/qrconnect`). */
  @Get()
  login(): void {}

  /**
   * `GET /auth/wechat/web/callback?code=…&state=…`: where WeChat sends the desktop browser once the phone confirmed.
   * The same session as a login inside WeChat: one person through either app is one account when WeChat gives the
   * unionid (both apps bound to one Open Platform account).
   */
  @Get('callback')
  @Redirect()
  callback(
    @WechatUser() user: WechatAuthUser,
    @WechatReturnTo() returnTo: string,
    @Res({ passthrough: true }) res: Response,
  ): { url: string } {
    this.sessions.start(res, sessionSubjectOf(user));
    this.stats.sessionsStarted += 1;
    return { url: returnTo };
  }
}
