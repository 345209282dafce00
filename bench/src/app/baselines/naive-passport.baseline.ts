import { Controller, Get, Injectable, Req, Res, UnauthorizedException, UseGuards, type Type } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import type { Request, Response } from 'express';
import { WechatApiClient } from 'nestjs-wechat-auth';
import OAuth2Strategy from 'passport-oauth2';
import { preciseNow } from '../../shared/protocol.js';
import { PUBLIC_ORIGIN, routeOf } from '../../shared/strategies.js';
import { BenchCookies } from '../bench-cookies.js';
import { currentHit, type HitRecorder } from '../hit-recorder.js';
import { describeFailure } from '../library-probe.js';
import { upstreamExchange } from './baseline.js';

/** The name the strategy is registered under with passport. */
export const NAIVE_PASSPORT_STRATEGY = 'bench-naive-passport';

type StoreCallback = (error: Error | null, state?: string) => void;
type VerifyCallback = (error: Error | null, ok?: boolean, state?: string) => void;

/**
 * passport-oauth2's state-store interface over the baselines' signed state cookie (`BenchCookies`): the same state
 * and cookie as every other baseline, without the session that passport-oauth2's own stores need.
 */
class CookieStateStore {
  constructor(private readonly cookies: BenchCookies) {}

  store(req: Request, _meta: unknown, callback: StoreCallback): void {
    const { state, setCookie } = this.cookies.issueState();
    req.res?.setHeader('Set-Cookie', setCookie);
    callback(null, state);
  }

  verify(req: Request, state: unknown, callback: VerifyCallback): void {
    const ok = typeof state === 'string' && /^[A-Za-z0-9]{1,128}$/.test(state) && this.cookies.verifyState(req.headers.cookie, state);
    callback(null, ok, typeof state === 'string' ? state : undefined);
  }
}

/**
 * Baseline "naive (passport-oauth2)": the naive strategy as an app writes it with passport-oauth2 and
 * @nestjs/passport, the way WeChat strategies built on passport-oauth2 do it (passport-wechat and the like): an
 * `OAuth2Strategy` registered through `PassportStrategy`, `AuthGuard` on both routes, the state in the baselines'
 * signed cookie through passport-oauth2's state-store interface, and the token call overridden to WeChat's GET
 * (passport-oauth2 would POST) with the same `WechatApiClient` call every strategy makes. Every callback exchanges
 * its code. It models the cost of the passport machinery an app pays anyway, next to the lean hand-written naive.
 */
export function naivePassportStrategy(emulatorOrigin: string, appId: string): Type<unknown> {
  @Injectable()
  class NaivePassportStrategy extends PassportStrategy(OAuth2Strategy, NAIVE_PASSPORT_STRATEGY, true) {
    constructor(client: WechatApiClient, cookies: BenchCookies) {
      super({
        authorizationURL: `${emulatorOrigin}/connect/oauth2/authorize`,
        tokenURL: `${emulatorOrigin}/sns/oauth2/access_token`,
        clientID: appId,
        clientSecret: '',
        callbackURL: `${PUBLIC_ORIGIN}${routeOf('naive-passport', 'callback')}`,
        scope: 'snsapi_base',
        store: new CookieStateStore(cookies) as unknown as OAuth2Strategy.StateStore,
        skipUserProfile: true,
      });
      const oauth2 = (this as unknown as { _oauth2: { getOAuthAccessToken: unknown } })._oauth2;
      oauth2.getOAuthAccessToken = (
        code: string,
        _params: unknown,
        callback: (error: unknown, accessToken?: string, refreshToken?: string, params?: Record<string, unknown>) => void,
      ): void => {
        const record = currentHit.getStore();
        if (record) record.exchangeStartedAt = preciseNow();
        upstreamExchange(client, code).then(
          (token) => {
            if (record) record.exchangeEndedAt = preciseNow();
            callback(null, token.accessToken, token.refreshToken, { openid: token.openid, scope: token.scope, expires_in: token.expiresIn });
          },
          (error: unknown) => {
            if (record) {
              record.exchangeEndedAt = preciseNow();
              record.failure = describeFailure(error);
            }
            callback(error);
          },
        );
      };
    }

    /** passport-oauth2's verify callback: WeChat's token answer carries the openid. */
    validate(_accessToken: string, _refreshToken: string, params: { openid?: unknown }, _profile: unknown): { openid: string } {
      if (typeof params.openid !== 'string') throw new UnauthorizedException();
      return { openid: params.openid };
    }
  }
  return NaivePassportStrategy;
}

/** @nestjs/passport's AuthGuard, answering 401 on any failure as an app would. */
@Injectable()
export class NaivePassportGuard extends AuthGuard(NAIVE_PASSPORT_STRATEGY) {
  override handleRequest<TUser>(error: unknown, user: TUser | false): TUser {
    if (error || !user) throw new UnauthorizedException();
    return user;
  }
}

/** The routes of the passport-based naive baseline. */
export function naivePassportController(recorder: () => HitRecorder): Type<unknown> {
  @Controller('p/naive-passport')
  class NaivePassportController {
    constructor(private readonly cookies: BenchCookies) {}

    @Get('login')
    @UseGuards(NaivePassportGuard)
    login(): void {}

    @Get('callback')
    @UseGuards(NaivePassportGuard)
    callback(@Req() req: Request & { user?: { openid: string } }, @Res({ passthrough: true }) res: Response): { ok: true; openid: string } {
      const openid = req.user?.openid ?? '';
      const record = currentHit.getStore();
      if (record) {
        record.ok = true;
        record.openid = openid;
        recorder().settle(record);
      }
      return this.cookies.signIn(res, openid);
    }
  }
  return NaivePassportController;
}
