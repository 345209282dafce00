import { Injectable, Logger } from '@nestjs/common';
import type { CanActivate, ExecutionContext, HttpException } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { WechatRouteOptions } from '../decorators/wechat-auth.decorator.js';
import { WechatApiError, WechatAuthError } from '../errors/wechat-auth.errors.js';
import { toHttpException } from '../http/to-http-exception.js';
import { getLoginContext } from '../state/login-context.js';
import type { WechatAuthUser } from '../strategy/wechat-auth-user.js';
import { collectWechatStrategies } from '../strategy/wechat-strategies.js';
import { DRIVEN_BY_WECHAT_GUARD, type WechatStrategy } from '../strategy/wechat.strategy.js';
import type { WechatAuthenticateOptions } from '../strategy/wechat.strategy.js';
import { WECHAT_AUTH_ROUTE_OPTIONS } from '../wechat-auth.constants.js';
import { selectWechatStrategy } from './select-wechat-strategy.js';
import type { WechatRouteFlow } from './select-wechat-strategy.js';

type Outcome = { kind: 'success'; user: WechatAuthUser } | { kind: 'redirect' } | { kind: 'error'; error: unknown };

const SETTLE = Symbol('settle');
const RESPONSE = Symbol('response');

/** One request's run of a strategy: where its outcome goes and the response a redirect is written to. */
interface GuardedRun {
  [SETTLE](outcome: Outcome): void;
  [RESPONSE]: Response;
}

/**
 * Passport's actions (success / fail / redirect / pass / error), as methods of a prototype shared by every request
 * of a strategy: each request then only adds its own outcome callback and response, rather than five closures.
 */
const PASSPORT_ACTIONS = {
  success(this: GuardedRun, user: WechatAuthUser | false): void {
    this[SETTLE](user ? { kind: 'success', user } : { kind: 'error', error: new Error('WechatStrategy failed without an error') });
  },
  fail(this: GuardedRun): void {
    this[SETTLE]({ kind: 'error', error: new Error('WechatStrategy failed without an error') });
  },
  error(this: GuardedRun, error: unknown): void {
    this[SETTLE]({ kind: 'error', error });
  },
  pass(this: GuardedRun): void {
    this[SETTLE]({ kind: 'error', error: new Error('WechatStrategy passed the request on without a result') });
  },
  redirect(this: GuardedRun, url: string, status?: number): void {
    // As passport writes it (not Express's res.redirect, whose signature changed between versions).
    const res = this[RESPONSE];
    res.statusCode = status ?? 302;
    res.setHeader('Location', url);
    res.setHeader('Content-Length', '0');
    res.end();
    this[SETTLE]({ kind: 'redirect' });
  },
};

const NO_ROUTE_OPTIONS: WechatRouteOptions = Object.freeze({});

/**
 * One guard for both routes of a WeChat login:
 * - no `code`/`state` in the query: starts the login (sets the state cookie, 302 to WeChat);
 * - with them: completes it (verifies the state, exchanges the code once for all duplicates) and sets `req.user`
 *   to a {@link WechatAuthUser}; the handler then redirects to `@WechatReturnTo()`.
 *
 * Responses carry `Cache-Control: no-store` and `Referrer-Policy: no-referrer`, so a URL holding a code is neither
 * cached nor leaked through the Referer. Errors become HTTP here and only here, through {@link toHttpException}; an
 * unusable code (40029, 40163, 42003) that no earlier exchange can answer gets one re-authorization redirect (never
 * two in a row) when `reauthorizeOnCodeUnusable` is on.
 *
 * The state cookie is never cleared by the callback: the aborted first request of a duplicate pair would lose its
 * Set-Cookie anyway, and clearing it on the second would make any later duplicate fail. It expires on its own
 * (`stateCookie.maxAgeSeconds`) and the next login overwrites it.
 *
 * Which strategy: the one `@WechatAuth({ strategy })` names; else the one `@WechatAuth({ flow })` picks (`auto`: by
 * user agent, see {@link WechatAutoAuthGuard}); else the only one registered, or the one named `wechat`.
 */
@Injectable()
export class WechatAuthGuard implements CanActivate {
  private readonly logger = new Logger(WechatAuthGuard.name);
  /** Strategies of this app by name, looked up once (bounded by the number of registered apps). */
  private strategies?: Map<string, WechatStrategy>;
  /** Per strategy: the prototype of its per-request runs (the strategy, plus passport's actions). */
  private readonly runPrototypes = new Map<WechatStrategy, WechatStrategy>();
  /** Per route's `@WechatAuth()` options (one object per route): what they ask of the strategy. */
  private readonly authenticateOptions = new WeakMap<WechatRouteOptions, WechatAuthenticateOptions>();
  /** How a route without `@WechatAuth({ strategy | flow })` picks its strategy; undefined: the only (or default) one. */
  protected readonly defaultFlow: WechatRouteFlow | undefined = undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') {
      throw new Error('WechatAuthGuard only guards HTTP routes');
    }
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const route =
      this.reflector.getAllAndOverride<WechatRouteOptions | undefined>(WECHAT_AUTH_ROUTE_OPTIONS, [
        context.getHandler(),
        context.getClass(),
      ]) ?? NO_ROUTE_OPTIONS;
    const strategy = selectWechatStrategy((this.strategies ??= collectWechatStrategies(this.moduleRef)), route, req, this.defaultFlow);

    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');

    const routeOptions = this.optionsOf(route);
    const outcome = await this.authenticate(strategy, req, res, routeOptions);
    if (outcome.kind === 'success') {
      (req as Request & { user?: unknown }).user = outcome.user;
      return true;
    }
    if (outcome.kind === 'redirect') return this.redirected();

    const { error } = outcome;
    const login = getLoginContext(req);
    if (
      error instanceof WechatApiError &&
      error.category === 'code-unusable' &&
      strategy.settings.reauthorizeOnCodeUnusable &&
      login !== undefined &&
      !login.reauth &&
      !res.headersSent
    ) {
      this.logger.log(`WeChat code unusable (errcode ${error.errcode}); re-authorizing once`);
      const again = await this.authenticate(strategy, req, res, {
        ...routeOptions,
        ...(login.scope === undefined ? {} : { scope: login.scope }),
        returnTo: login.returnTo,
        reauthorize: true,
      });
      if (again.kind === 'redirect') return this.redirected();
      throw this.toException(again.kind === 'error' ? again.error : error);
    }
    throw this.toException(error);
  }

  /** The response is already written (a redirect to WeChat): keep the handler from running. */
  private redirected(): Promise<boolean> {
    // Like @nestjs/passport's AuthGuard on a redirect: never settle, so that neither the handler nor an exception
    // filter touches a response that is already sent. Nothing holds this promise, so it is simply collected.
    return new Promise<boolean>(() => undefined);
  }

  private toException(error: unknown): HttpException | unknown {
    if (!(error instanceof WechatAuthError)) {
      // Not one of ours: a bug or the app's own validate() failing. Let Nest's exception layer answer (and log) it.
      return error;
    }
    const exception = toHttpException(error);
    const status = exception.getStatus();
    if (status >= 500) this.logger.warn(`WeChat login failed with ${status}: ${error.message}`);
    else this.logger.debug(`WeChat login refused with ${status}: ${error.message}`);
    return exception;
  }

  private optionsOf(route: WechatRouteOptions): WechatAuthenticateOptions {
    let options = this.authenticateOptions.get(route);
    if (options === undefined) {
      options = {
        ...(route.scope === undefined ? {} : { scope: route.scope }),
        ...(route.forcePopup === undefined ? {} : { forcePopup: route.forcePopup }),
        ...(route.returnTo === undefined ? {} : { returnTo: route.returnTo }),
      };
      this.authenticateOptions.set(route, options);
    }
    return options;
  }

  /**
   * Runs the strategy with passport's action protocol (success / fail / redirect / pass / error) and turns the
   * action it takes into one outcome. This is what `passport.authenticate()` does for a single strategy object with
   * a callback; calling it directly skips the session helpers passport adds to every request (req.logIn and
   * friends, unused with `session: false`) and its multi-strategy chain. Measured in the benchmark: they were the
   * largest allocation of a login. The strategy stays a passport strategy, usable with `AuthGuard(name)` as well.
   */
  private authenticate(strategy: WechatStrategy, req: Request, res: Response, options: WechatAuthenticateOptions): Promise<Outcome> {
    let prototype = this.runPrototypes.get(strategy);
    if (prototype === undefined) {
      prototype = Object.assign(Object.create(strategy) as WechatStrategy, PASSPORT_ACTIONS, { [DRIVEN_BY_WECHAT_GUARD]: true });
      this.runPrototypes.set(strategy, prototype);
    }
    const proto = prototype;
    return new Promise<Outcome>((resolve) => {
      // A run per request, so concurrent logins never overwrite each other's callbacks.
      const run = Object.create(proto) as WechatStrategy & GuardedRun;
      run[SETTLE] = resolve;
      run[RESPONSE] = res;
      try {
        run.authenticate(req, { ...options, response: res });
      } catch (error) {
        resolve({ kind: 'error', error });
      }
    });
  }
}
