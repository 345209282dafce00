export type {
  WechatScope,
  WechatQrScope,
  WechatLoginScope,
  WechatLang,
  WechatAccessToken,
  WechatUserInfo,
  AuthorizeUrlParams,
  QrConnectUrlParams,
} from './api/wechat-api.types.js';
export {
  WechatApiClient,
  WECHAT_API_BASE_URL,
  WECHAT_OAUTH_BASE_URL,
} from './api/wechat-api.client.js';
export type { WechatApiClientOptions, GetUserInfoOptions } from './api/wechat-api.client.js';
export {
  WechatAuthError,
  WechatApiError,
  WechatTransportError,
  InvalidCallbackError,
  StateMismatchError,
  AuthorizationDeniedError,
  CodeReplayError,
  CodeExchangeTimeoutError,
  WechatAuthOptionsError,
  categorizeErrcode,
  reviveWechatAuthError,
} from './errors/wechat-auth.errors.js';
export type {
  WechatEndpoint,
  WechatErrorCategory,
  WechatTransportFailure,
  StateFailure,
  SerializedWechatAuthError,
} from './errors/wechat-auth.errors.js';
export type { CodeExchangeRequest, CodeExchangeHealth } from './code-exchange/code-exchange.types.js';
export { CodeExchangeService } from './code-exchange/code-exchange.service.js';
export {
  CodeExchangeOptions,
  CODE_EXCHANGE_DEFAULTS,
  MAX_RESULT_TTL_MS,
  defaultLockTtlMs,
  resolveCodeExchangeSettings,
} from './code-exchange/code-exchange.options.js';
export type {
  CodeExchangeSettings,
  ResolvedCodeExchangeSettings,
  CodeExchangeRedisClient,
} from './code-exchange/code-exchange.options.js';
export type { CodeExchangeEvent, CodeExchangeStats, CodeExchangeLayer } from './code-exchange/code-exchange.events.js';
export { ExchangeLock } from './code-exchange/exchange-lock.js';
export type { LockAttempt } from './code-exchange/exchange-lock.js';
export { ExchangeSignal } from './code-exchange/exchange-signal.js';
export type { ExchangeSignalListener } from './code-exchange/exchange-signal.js';
export { ExchangeResultStore } from './code-exchange/exchange-result-store.js';
export { MemoryExchangeLock } from './code-exchange/memory-exchange-lock.js';
export { MemoryExchangeSignal } from './code-exchange/memory-exchange-signal.js';
export { MemoryExchangeResultStore } from './code-exchange/memory-exchange-result-store.js';
export { CacheExchangeResultStore } from './code-exchange/cache-exchange-result-store.js';
export type { CodeExchangeCache } from './code-exchange/cache-exchange-result-store.js';
export { RedisExchangeLock } from './code-exchange/redis-exchange-lock.js';
export { RedisExchangeSignal } from './code-exchange/redis-exchange-signal.js';
export { RedisExchangeResultStore } from './code-exchange/redis-exchange-result-store.js';
export { RedisCoordinationConnection } from './code-exchange/redis-coordination.connection.js';
export type { RedisCoordinationConnectionOptions } from './code-exchange/redis-coordination.connection.js';

// Module, options, strategy, guard, decorators, HTTP mapping (the surface apps touch).
export { WechatAuthModule } from './wechat-auth.module.js';
export {
  WECHAT_AUTH_MODULE_OPTIONS,
  WECHAT_AUTH_OPTIONS_TYPE,
  WECHAT_AUTH_ASYNC_OPTIONS_TYPE,
} from './wechat-auth.module-definition.js';
export type { WechatAuthModuleExtras, WechatAuthOptionsFactory } from './wechat-auth.module-definition.js';
export {
  WechatAuthOptions,
  WechatStateCookieOptions,
  WechatMenuEntryOptions,
  validateWechatAuthOptions,
  WECHAT_AUTH_FLOWS,
} from './wechat-auth.options.js';
export type {
  WechatAuthFlow,
  ResolvedWechatAuthOptions,
  ResolvedStateCookieOptions,
  ResolvedMenuEntryOptions,
  ValidatedWechatAuthOptions,
} from './wechat-auth.options.js';
export { WECHAT_AUTH_OPTIONS, WECHAT_AUTH_ROUTE_OPTIONS, DEFAULT_STRATEGY_NAME } from './wechat-auth.constants.js';
export { WechatStrategy, WechatOAuth2Strategy } from './strategy/wechat.strategy.js';
export type { WechatAuthenticateOptions, WechatExchangeResult } from './strategy/wechat.strategy.js';
export type { WechatAuthUser, WechatTokenParams } from './strategy/wechat-auth-user.js';
export { WechatQrStrategy, WX_LOGIN_SCRIPT_URL } from './strategy/wechat-qr.strategy.js';
export type { WxLoginRequest, WxLoginOptions } from './strategy/wechat-qr.strategy.js';
export { WechatStrategies } from './strategy/wechat-strategies.js';
export { WechatAuthGuard } from './guards/wechat-auth.guard.js';
export { WechatAutoAuthGuard } from './guards/wechat-auto-auth.guard.js';
export { isWechatUserAgent, selectWechatStrategy } from './guards/select-wechat-strategy.js';
export type { WechatRouteFlow } from './guards/select-wechat-strategy.js';
export { wechatUserKey, isSameWechatUser } from './user/wechat-user-key.js';
export type { WechatUserKey, WechatUserKeyKind, WechatUserKeySource } from './user/wechat-user-key.js';
export { WechatAuth } from './decorators/wechat-auth.decorator.js';
export type { WechatRouteOptions } from './decorators/wechat-auth.decorator.js';
export { WechatUser, WechatReturnTo } from './decorators/wechat-user.decorator.js';
export { InjectWechatAuthOptions, InjectWechatApiClient, InjectCodeExchangeService } from './decorators/inject.decorators.js';
export { toHttpException } from './http/to-http-exception.js';
export type { WechatAuthErrorBody } from './http/to-http-exception.js';
export { WechatCallbackQuery } from './http/wechat-callback.query.js';
export { isSafeReturnTo } from './state/return-to.js';
export type { WechatLoginContext } from './state/login-context.js';
