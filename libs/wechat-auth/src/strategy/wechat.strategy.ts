import { Inject, Injectable, Logger } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import type { ServerResponse } from 'node:http';
import OAuth2Strategy from 'passport-oauth2';
import { WechatApiClient } from '../api/wechat-api.client.js';
import type { WechatAccessToken, WechatLoginScope, WechatScope, WechatUserInfo } from '../api/wechat-api.types.js';
import { CodeExchangeService } from '../code-exchange/code-exchange.service.js';
import { AuthorizationDeniedError, WechatAuthError } from '../errors/wechat-auth.errors.js';
import { toHttpException } from '../http/to-http-exception.js';
import { isCallbackQuery, parseCallbackQuery, queryParamsOf } from '../http/wechat-callback.query.js';
import { appendSetCookie } from '../state/cookies.js';
import { setLoginContext } from '../state/login-context.js';
import type { WechatLoginContext } from '../state/login-context.js';
import { LoginStateCodec } from '../state/login-state.js';
import type { IssuedLoginState } from '../state/login-state.js';
import { pickReturnTo } from '../state/return-to.js';
import { WECHAT_AUTH_OPTIONS } from '../wechat-auth.constants.js';
import type { ResolvedWechatAuthOptions, WechatAuthFlow } from '../wechat-auth.options.js';
import { createWechatAuthUser, grantsUserInfo, toTokenParams } from './wechat-auth-user.js';
import type { WechatAuthUser, WechatTokenParams } from './wechat-auth-user.js';

/** What one login's exchange produces and what duplicates share: the token and, with snsapi_userinfo, the profile. */
export interface WechatExchangeResult {
  token: WechatAccessToken;
  profile?: WechatUserInfo;
}

/** Options of {@link WechatStrategy.authenticate}, as `WechatAuthGuard` passes them (per-route overrides). */
export interface WechatAuthenticateOptions {
  /**
   * Scope of a login started here. Default: the module's `scope`. An Official Account scope; a website QR login
   * always asks for `snsapi_login` and ignores it.
   */
  scope?: WechatLoginScope;
  /** Add `forcePopup=true` to the authorize URL (show the consent page even to followers). Ignored by the QR login. */
  forcePopup?: boolean;
  /** Where to land after the callback, when the login route's query does not say. Same-site paths only. */
  returnTo?: string;
  /**
   * Start a login even though the request carries `code`/`state`: the guard's single re-authorization after an
   * unusable code. The new state cookie is marked, so that the next unusable code fails instead of looping.
   */
  reauthorize?: boolean;
  /** The response to set the state cookie on. Default: `req.res` (Express). */
  response?: ServerResponse;
  /** Called once the redirect to WeChat is written, so that a caller awaiting the strategy can settle. */
  onRedirect?: (url: string) => void;
}

/** passport-oauth2's strategy under a configurable name, so that several WeChat apps can be registered at once. */
export class WechatOAuth2Strategy extends OAuth2Strategy {
  constructor(
    options: { strategyName: string; appId: string; callbackURL: string; authorizationURL: string; tokenURL: string },
    verify: OAuth2Strategy.VerifyFunction,
  ) {
    super(
      {
        authorizationURL: options.authorizationURL,
        tokenURL: options.tokenURL,
        clientID: options.appId,
        // node-oauth's token POST is never used (WeChat's token call is a GET with the secret in the query, made by
        // WechatApiClient under CodeExchangeService), so the secret is not handed to it at all.
        clientSecret: '',
        callbackURL: options.callbackURL,
      },
      verify,
    );
    // Read by passport.use(this) in @nestjs/passport's mixin constructor, right after this returns.
    this.name = options.strategyName;
  }
}

/**
 * Marks a per-request strategy instance whose passport actions WechatAuthGuard supplied: the guard wants the typed
 * error (it maps it, and may re-authorize once). Under passport's own middleware the strategy maps it itself.
 */
export const DRIVEN_BY_WECHAT_GUARD = Symbol('nestjs-wechat-auth:driven-by-guard');

/** The callback's parameters; the login route's `returnTo` parameter is added per the options. */
const QUERY_PARAMS = ['code', 'state'] as const;

type VerifyDone = (error: unknown, user?: WechatAuthUser | false) => void;

/**
 * The WeChat web-authorization strategy (passport-oauth2 via @nestjs/passport), registered under
 * `options.strategyName`.
 *
 * - Without `code`/`state` in the query it starts a login: sets the signed state cookie and redirects to WeChat's
 *   authorize URL (WeChat's parameter order, `#wechat_redirect`), or, for `flow: 'website-qr'`, to the QR-login
 *   page (`/connect/qrconnect`, scope `snsapi_login`; the module then registers the {@link WechatQrStrategy}
 *   subclass).
 * - With them it completes one: validates the query, verifies the state against the cookie in constant time, then
 *   exchanges the code through `CodeExchangeService`, so that duplicate callbacks share a single exchange (and a
 *   single profile read). `state` without `code` means the user refused: a clean failure, not a new redirect.
 */
@Injectable()
export class WechatStrategy extends PassportStrategy(WechatOAuth2Strategy, undefined, true) {
  private readonly logger = new Logger(`WechatStrategy(${this.name})`);
  /** The query parameters read by {@link authenticate}: the callback's and, per the options, `returnTo`. */
  private readonly loginQueryParams: readonly string[];

  constructor(
    @Inject(WECHAT_AUTH_OPTIONS) private readonly options: ResolvedWechatAuthOptions,
    private readonly client: WechatApiClient,
    private readonly codeExchange: CodeExchangeService,
    private readonly loginState: LoginStateCodec,
  ) {
    super({
      strategyName: options.strategyName,
      appId: options.appId,
      callbackURL: options.callbackURL,
      authorizationURL: `${options.oauthBaseURL.replace(/\/+$/, '')}${
        options.flow === 'website-qr' ? '/connect/qrconnect' : '/connect/oauth2/authorize'
      }`,
      tokenURL: `${options.apiBaseURL.replace(/\/+$/, '')}/sns/oauth2/access_token`,
    });
    const queryParam = options.returnToQueryParam;
    this.loginQueryParams = queryParam === false ? QUERY_PARAMS : [...QUERY_PARAMS, queryParam];
  }

  /** The AppID this strategy signs users in to. */
  get appId(): string {
    return this.options.appId;
  }

  /** The login this strategy performs: `official-account` or `website-qr`. */
  get flow(): WechatAuthFlow {
    return this.options.flow;
  }

  /** The module options this strategy runs with (validated, defaults applied, no secrets). */
  get settings(): ResolvedWechatAuthOptions {
    return this.options;
  }

  /**
   * Passport's entry point. Reports through passport's actions: `redirect` (login started), `success` (signed in)
   * or `error` (any failure, as a typed `WechatAuthError` for the guard to map).
   */
  override authenticate(req: Request, options: WechatAuthenticateOptions = {}): void {
    const query = queryParamsOf(req.originalUrl ?? req.url, this.loginQueryParams);
    if (options.reauthorize === true || !isCallbackQuery(query)) {
      try {
        this.startLogin(req, query, options);
      } catch (error) {
        this.reportFailure(error);
      }
      return;
    }
    this.completeLogin(req, query)
      .then(
        (user) => this.success(user),
        (error: unknown) => this.reportFailure(error),
      )
      // Only reached if passport's own callback throws; never leave that as an unhandled rejection.
      .catch((error: unknown) => this.logger.error(`passport callback failed: ${(error as Error)?.message ?? 'unknown'}`));
  }

  /**
   * Reports a failed login through passport's `error` action. Under WechatAuthGuard: the typed `WechatAuthError`,
   * for the guard to map. Under passport's own middleware (`AuthGuard(name)` of @nestjs/passport, or
   * `passport.authenticate`): already mapped to its HttpException (400/401/403/502/504), so that a refused
   * callback is not answered with a 500 there either.
   */
  protected reportFailure(error: unknown): void {
    const drivenByGuard = (this as unknown as Record<symbol, unknown>)[DRIVEN_BY_WECHAT_GUARD] === true;
    this.error((!drivenByGuard && error instanceof WechatAuthError ? toHttpException(error) : error) as Error);
  }

  /**
   * Turns the token answer into the signed-in user. `params` is WeChat's token answer (openid, unionid, scope,
   * is_snapshotuser); `profile` is the `/sns/userinfo` answer with snsapi_userinfo, undefined with snsapi_base.
   */
  validate(accessToken: string, refreshToken: string, params: WechatTokenParams, profile: WechatUserInfo | undefined): WechatAuthUser {
    const isSnapshotUser = params.is_snapshotuser === 1;
    const unionid = params.unionid ?? profile?.unionid;
    return createWechatAuthUser(
      {
        openid: params.openid,
        ...(unionid === undefined ? {} : { unionid }),
        scope: params.scope,
        isSnapshotUser,
        appId: this.options.appId,
        flow: this.options.flow,
        ...(profile === undefined ? {} : { profile }),
      },
      {
        accessToken,
        refreshToken,
        expiresIn: params.expires_in,
        openid: params.openid,
        scope: params.scope,
        ...(params.unionid === undefined ? {} : { unionid: params.unionid }),
        isSnapshotUser,
      },
    );
  }

  /**
   * The authorize URL for a WeChat menu that links straight to WeChat (menu-entry mode), with the fixed state.
   * @throws Error when `menuEntry.enabled` is not set: the mode is an explicit opt-in.
   */
  menuEntryAuthorizeUrl(scope?: WechatScope): string {
    // Validation only lets an Official Account enable the mode, so its scope is an Official Account scope.
    if (!this.options.menuEntry.enabled || this.options.flow !== 'official-account') {
      throw new Error(`menu-entry mode is off for strategy "${this.options.strategyName}": set menuEntry.enabled to opt in`);
    }
    return this.client.buildAuthorizeUrl({
      redirectUri: this.options.callbackURL,
      scope: scope ?? (this.options.scope as WechatScope),
      state: this.options.menuEntry.state,
    });
  }

  /**
   * Whether this request is the callback of a login this strategy started in this browser: its state cookie
   * verifies the query's `state` (or, when enabled, it carries the menu-entry state). Cheap (an HMAC, no I/O), so a
   * guard that serves several strategies on one callback route can ask each.
   */
  recognizesCallback(req: Request): boolean {
    const query = queryParamsOf(req.originalUrl ?? req.url, QUERY_PARAMS);
    const state = query.state;
    if (typeof state !== 'string' || state.length === 0) return false;
    const menu = this.options.menuEntry;
    if (menu.enabled && state === menu.state) return true;
    try {
      this.loginState.verify(req.headers.cookie, state);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The scope a login asks WeChat for, given a route's or a re-authorization's request. An Official Account keeps
   * `snsapi_base` / `snsapi_userinfo` and otherwise uses its configured scope; a website QR login always asks for
   * `snsapi_login`.
   */
  protected loginScope(requested: WechatLoginScope | undefined): WechatLoginScope {
    if (this.options.flow === 'website-qr') return 'snsapi_login';
    return requested === 'snsapi_base' || requested === 'snsapi_userinfo' ? requested : this.options.scope;
  }

  /** Where the browser goes to sign in: the authorize page (Official Account) or the QR-login page (website app). */
  protected loginUrl(params: { scope: WechatLoginScope; state: string; forcePopup: boolean }): string {
    if (this.options.flow === 'website-qr') {
      return this.client.buildQrConnectUrl({ redirectUri: this.options.callbackURL, state: params.state });
    }
    return this.client.buildAuthorizeUrl({
      redirectUri: this.options.callbackURL,
      scope: params.scope as WechatScope,
      state: params.state,
      ...(params.forcePopup ? { forcePopup: true } : {}),
    });
  }

  /**
   * Starts a login bound to this browser: issues the signed state and appends its cookie to `response`.
   * @param returnTo candidates in order of preference; the first same-site path wins, else `defaultReturnTo`.
   */
  protected issueLogin(
    response: Pick<ServerResponse, 'getHeader' | 'setHeader'>,
    params: { returnTo: readonly unknown[]; scope: WechatLoginScope; reauth: boolean },
  ): IssuedLoginState {
    const returnTo = pickReturnTo(this.options.defaultReturnTo, ...params.returnTo);
    const issued = this.loginState.issue({ returnTo, scope: params.scope, reauth: params.reauth });
    appendSetCookie(response, issued.setCookie);
    return issued;
  }

  private startLogin(req: Request, query: Record<string, string | string[]>, options: WechatAuthenticateOptions): void {
    const response = options.response ?? (req.res as ServerResponse | undefined);
    if (!response) throw new Error('WechatStrategy needs the response to set its state cookie (Express request without req.res)');
    const scope = this.loginScope(options.scope);
    const queryParam = this.options.returnToQueryParam;
    // A re-authorization keeps the failed login's destination; the callback URL's own query has no say in it.
    const fromQuery = queryParam !== false && options.reauthorize !== true ? query[queryParam] : undefined;
    const issued = this.issueLogin(response, { returnTo: [fromQuery, options.returnTo], scope, reauth: options.reauthorize === true });
    const url = this.loginUrl({ scope, state: issued.state, forcePopup: options.forcePopup === true });
    this.redirect(url);
    options.onRedirect?.(url);
  }

  private async completeLogin(req: Request, rawQuery: Record<string, string | string[]>): Promise<WechatAuthUser> {
    const query = parseCallbackQuery(rawQuery);
    const code = query.code;
    if (code === undefined) throw new AuthorizationDeniedError();

    let binding: string;
    let context: WechatLoginContext;
    const menu = this.options.menuEntry;
    if (menu.enabled && query.state === menu.state) {
      binding = this.loginState.menuEntryBindingOf(code);
      context = { strategyName: this.options.strategyName, returnTo: menu.returnTo, reauth: false, menuEntry: true };
    } else {
      // Before anything touches the lock or WeChat: a callback that is not this browser's stops here.
      const login = this.loginState.verify(req.headers.cookie, query.state);
      binding = this.loginState.bindingOf(login);
      context = {
        strategyName: this.options.strategyName,
        returnTo: login.returnTo,
        scope: login.scope,
        reauth: login.reauth,
        menuEntry: false,
      };
    }
    setLoginContext(req, context);

    // With snsapi_base nobody asked for a profile; a menu entry's scope is whatever the token says.
    const wantsProfile = context.scope !== 'snsapi_base';
    const result = await this.codeExchange.exchange<WechatExchangeResult>({
      appId: this.options.appId,
      code,
      binding,
      exchange: (signal) => this.exchangeOnce(code, wantsProfile, signal),
    });
    return this.verifyResult(result);
  }

  /** The upstream work, run once per code for all duplicates: the token call and, when allowed, one profile read. */
  private async exchangeOnce(code: string, wantsProfile: boolean, signal: AbortSignal): Promise<WechatExchangeResult> {
    const token = await this.client.exchangeCode(code, signal);
    // userinfo answers 48001 for a snsapi_base token and for a snapshot user: do not even ask. snsapi_login (the QR
    // login) grants the profile like snsapi_userinfo.
    if (wantsProfile && !token.isSnapshotUser && grantsUserInfo(token.scope)) {
      const profile = await this.client.getUserInfo(token.accessToken, token.openid, { lang: this.options.lang, signal });
      return { token, profile };
    }
    return { token };
  }

  /** Runs passport's verify callback (which calls `validate()`), as passport-oauth2 would after its token call. */
  private verifyResult(result: WechatExchangeResult): Promise<WechatAuthUser> {
    const verify = (this as unknown as { _verify: (...args: unknown[]) => void })._verify;
    return new Promise<WechatAuthUser>((resolve, reject) => {
      const done: VerifyDone = (error, user) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else if (!user) reject(new Error('WechatStrategy.validate() returned no user'));
        else resolve(user);
      };
      verify(result.token.accessToken, result.token.refreshToken, toTokenParams(result.token), result.profile, done);
    });
  }
}
