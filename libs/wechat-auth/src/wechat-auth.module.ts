import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Logger, Module } from '@nestjs/common';
import type { Provider } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { WechatApiClient } from './api/wechat-api.client.js';
import { CodeExchangeService } from './code-exchange/code-exchange.service.js';
import { LoginStateCodec } from './state/login-state.js';
import { deriveWechatAuthKeys } from './state/wechat-auth.keys.js';
import type { WechatAuthKeys } from './state/wechat-auth.keys.js';
import { WechatQrStrategy } from './strategy/wechat-qr.strategy.js';
import { WechatStrategies } from './strategy/wechat-strategies.js';
import { WechatStrategy } from './strategy/wechat.strategy.js';
import { WECHAT_AUTH_KEYS, WECHAT_AUTH_OPTIONS, WECHAT_AUTH_VALIDATED_OPTIONS } from './wechat-auth.constants.js';
import { ConfigurableWechatAuthModule, WECHAT_AUTH_MODULE_OPTIONS } from './wechat-auth.module-definition.js';
import { validateWechatAuthOptions } from './wechat-auth.options.js';
import type { ResolvedWechatAuthOptions, ValidatedWechatAuthOptions } from './wechat-auth.options.js';

const providers: Provider[] = [
  {
    // Validated once, here, at startup: a bad option fails the boot with WechatAuthOptionsError.
    provide: WECHAT_AUTH_VALIDATED_OPTIONS,
    inject: [WECHAT_AUTH_MODULE_OPTIONS],
    useFactory: (raw: unknown): ValidatedWechatAuthOptions => validateWechatAuthOptions(raw),
  },
  {
    provide: WECHAT_AUTH_OPTIONS,
    inject: [WECHAT_AUTH_VALIDATED_OPTIONS],
    useFactory: (validated: ValidatedWechatAuthOptions): ResolvedWechatAuthOptions => validated.options,
  },
  {
    provide: WECHAT_AUTH_KEYS,
    inject: [WECHAT_AUTH_VALIDATED_OPTIONS],
    useFactory: (validated: ValidatedWechatAuthOptions): WechatAuthKeys =>
      deriveWechatAuthKeys({
        appId: validated.options.appId,
        appSecret: validated.appSecret,
        ...(validated.stateSecret === undefined ? {} : { stateSecret: validated.stateSecret }),
      }),
  },
  {
    provide: WechatApiClient,
    inject: [WECHAT_AUTH_VALIDATED_OPTIONS],
    useFactory: ({ options, appSecret }: ValidatedWechatAuthOptions): WechatApiClient =>
      new WechatApiClient({
        appId: options.appId,
        appSecret,
        apiBaseURL: options.apiBaseURL,
        oauthBaseURL: options.oauthBaseURL,
        timeoutMs: options.httpTimeoutMs,
        lang: options.lang,
      }),
  },
  {
    provide: CodeExchangeService,
    inject: [WECHAT_AUTH_OPTIONS, WECHAT_AUTH_KEYS, { token: CACHE_MANAGER, optional: true }],
    useFactory: (options: ResolvedWechatAuthOptions, keys: WechatAuthKeys, cache?: Cache): CodeExchangeService =>
      new CodeExchangeService(
        {
          ...options.codeExchange,
          keySecret: keys.codeExchangeKey.toString('base64url'),
          httpTimeoutMs: options.httpTimeoutMs,
        },
        cache,
        new Logger(`CodeExchangeService(${options.strategyName})`),
      ),
  },
  {
    provide: LoginStateCodec,
    inject: [WECHAT_AUTH_OPTIONS, WECHAT_AUTH_KEYS],
    useFactory: (options: ResolvedWechatAuthOptions, keys: WechatAuthKeys): LoginStateCodec =>
      new LoginStateCodec(keys.stateKey, options.appId, options.stateCookie),
  },
  {
    // One token for both flows, so that guards find every registration's strategy the same way; the website QR
    // login gets its subclass (with the embedded-QR helper).
    provide: WechatStrategy,
    inject: [WECHAT_AUTH_OPTIONS, WechatApiClient, CodeExchangeService, LoginStateCodec],
    useFactory: (
      options: ResolvedWechatAuthOptions,
      client: WechatApiClient,
      codeExchange: CodeExchangeService,
      loginState: LoginStateCodec,
    ): WechatStrategy =>
      options.flow === 'website-qr'
        ? new WechatQrStrategy(options, client, codeExchange, loginState)
        : new WechatStrategy(options, client, codeExchange, loginState),
  },
  WechatStrategies,
];

/**
 * WeChat web authorization (微信网页授权) for a Nest app: `WechatStrategy`, the state cookie, the API client and the
 * duplicate-callback-proof `CodeExchangeService`. Register it once per WeChat app, each registration with its own
 * `strategyName` (its own strategy, state cookie, client and code exchange): an Official Account, a second one, an
 * Open Platform website app with `flow: 'website-qr'` (the desktop QR login). Use `WechatAuthGuard` on the login and
 * callback routes, `WechatAutoAuthGuard` to pick the Official Account or the QR login by user agent.
 *
 * @example
 * WechatAuthModule.forRoot({ appId, appSecret, callbackURL: 'https://example.com/auth/wechat/callback' })
 * WechatAuthModule.forRoot({ flow: 'website-qr', strategyName: 'wechat-web', appId: webAppId, appSecret: webAppSecret,
 *   callbackURL: 'https://example.com/auth/wechat/web/callback' })
 * WechatAuthModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({ ... }) })
 */
@Module({
  providers,
  exports: [WECHAT_AUTH_OPTIONS, WechatApiClient, CodeExchangeService, WechatStrategy, WechatStrategies],
})
export class WechatAuthModule extends ConfigurableWechatAuthModule {}
