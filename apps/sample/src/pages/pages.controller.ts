import { Controller, Get, Header, Inject, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import type { SampleConfig } from '../config/sample-config.js';
import { SAMPLE_CONFIG } from '../config/sample-config.tokens.js';
import { DemoCountersService } from '../demo/demo-counters.service.js';
import { CurrentSession } from '../session/current-session.decorator.js';
import type { SampleSession } from '../session/session-codec.js';
import { RedirectToLogin, SessionGuard } from '../session/session.guard.js';
import { SessionService } from '../session/session.service.js';
import { renderHomePage, renderProfilePage } from '../views/pages.js';

/** What `GET /api/me` answers: who is signed in, never a token. */
export interface MeResponse {
  /** The account key (`wechatUserKey().id`): the same for one person through either WeChat app when unionid is known. */
  account?: string;
  /** A snapshot-page virtual user: never linked to an account. */
  snapshot?: true;
  openid: string;
  unionid?: string;
  nickname?: string;
  headimgurl?: string;
  appId: string;
  /** When the session ends, ISO 8601. */
  expiresAt: string;
}

/** A green speech bubble: browsers ask for /favicon.ico on every origin, including the emulator's pages in demo mode. */
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#07c160"/>' +
  '<ellipse cx="30" cy="29" rx="19" ry="15" fill="#fff"/><path d="M20 40l-3 9 10-6z" fill="#fff"/>' +
  '<circle cx="23" cy="28" r="2.6" fill="#07c160"/><circle cx="37" cy="28" r="2.6" fill="#07c160"/></svg>';

@Controller()
export class PagesController {
  constructor(
    @Inject(SAMPLE_CONFIG) private readonly config: SampleConfig,
    private readonly sessions: SessionService,
    private readonly counters: DemoCountersService,
  ) {}

  /** `GET /`: "Sign in with WeChat", or who is signed in; in demo mode the counters panel. */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  home(@Req() req: Request): string {
    const demo = this.config.mode === 'demo';
    // In demo mode a person may open 127.0.0.1 while the callback comes back to localhost: say so before the login
    // fails on a missing state cookie. (Behind a production proxy the Host header says little: no warning there.)
    const wrongHost = demo && req.headers.host !== new URL(this.config.publicOrigin).host;
    return renderHomePage({
      mode: this.config.mode,
      session: this.sessions.read(req),
      counters: demo ? this.counters.view(this.counters.snapshot()) : undefined,
      websiteLogin: this.config.web !== undefined,
      canonicalOrigin: wrongHost ? this.config.publicOrigin : undefined,
    });
  }

  @Get('favicon.ico')
  @Header('Content-Type', 'image/svg+xml')
  @Header('Cache-Control', 'public, max-age=86400')
  favicon(): string {
    return FAVICON_SVG;
  }

  /** `GET /profile`: the signed-in user's page; without a session, 302 to the login with `returnTo`. */
  @Get('profile')
  @UseGuards(SessionGuard)
  @RedirectToLogin()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  profile(@CurrentSession() session: SampleSession): string {
    const via =
      session.appId === this.config.web?.appId
        ? '网站应用扫码 Website QR login'
        : session.appId === this.config.appId
          ? '公众号网页授权 Official Account (in WeChat)'
          : undefined;
    return renderProfilePage({ mode: this.config.mode, session, via });
  }

  /** `GET /api/me`: the signed-in user as JSON; 401 JSON without a session. */
  @Get('api/me')
  @UseGuards(SessionGuard)
  @Header('Cache-Control', 'no-store')
  me(@CurrentSession() session: SampleSession): MeResponse {
    return {
      ...(session.account ? { account: session.account } : {}),
      ...(session.snapshot ? { snapshot: true as const } : {}),
      openid: session.openid,
      ...(session.unionid ? { unionid: session.unionid } : {}),
      ...(session.nickname !== undefined ? { nickname: session.nickname } : {}),
      ...(session.headimgurl ? { headimgurl: session.headimgurl } : {}),
      appId: session.appId,
      expiresAt: new Date(session.exp * 1000).toISOString(),
    };
  }
}
