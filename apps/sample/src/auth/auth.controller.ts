import { Controller, Get, HttpStatus, Post, Redirect, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { WechatAuthGuard, WechatAutoAuthGuard, WechatReturnTo, WechatUser, type WechatAuthUser } from 'nestjs-wechat-auth';
import { SampleStats } from '../demo/sample-stats.service.js';
import { prefersHtml } from '../http/content-negotiation.js';
import { SessionService } from '../session/session.service.js';
import { sessionSubjectOf } from './wechat-session.js';

/**
 * The WeChat login inside WeChat (the Official Account), and the one "Sign in with WeChat" entry that picks the
 * login by user agent. The website QR login's own routes are in `WebAuthController`. Both routes use the library's guard. The login route redirects to WeChat (binding the state to
 * this browser); the callback route verifies the state, exchanges the code once however many duplicates arrive, and
 * hands the user to the handler, which turns it into the app's own session.
 */
@Controller('auth')
export class AuthController {
  constructor(
    private readonly sessions: SessionService,
    private readonly stats: SampleStats,
  ) {}

  /** `GET /auth/wechat[?returnTo=/path]`: 302 to WeChat's authorize page. The guard answers; this never runs. */
  @Get('wechat')
  @UseGuards(WechatAuthGuard)
  login(): void {}

  /**
   * `GET /auth/wechat/auto[?returnTo=/path]`: "Sign in with WeChat" for phone and desktop. Inside WeChat
   * (`MicroMessenger` in the User-Agent) 302 to the Official Account's authorize page; in any other browser 302 to
   * the website app's QR-login page (or, without a website app configured, the Official Account's page).
   */
  @Get('wechat/auto')
  @UseGuards(WechatAutoAuthGuard)
  loginAuto(): void {}

  /**
   * `GET /auth/wechat/callback?code=…&state=…`: every duplicate of one login gets the same user, so each one sets
   * a session for that user; the browser keeps whichever response it sees (the Android client drops the first).
   */
  @Get('wechat/callback')
  @UseGuards(WechatAuthGuard)
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

  /**
   * `POST /auth/logout`: forgets the session. Browsers (the profile page's form) get 303 to the home page; API
   * clients get 204. Cross-site posts are refused by the app's CSRF protection before reaching here.
   */
  @Post('logout')
  logout(@Req() req: Request, @Res() res: Response): void {
    this.sessions.clear(res);
    res.setHeader('Cache-Control', 'no-store');
    if (prefersHtml(req)) res.redirect(HttpStatus.SEE_OTHER, '/');
    else res.status(HttpStatus.NO_CONTENT).end();
  }
}
