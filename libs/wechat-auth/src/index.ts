export type {
  WechatScope,
  WechatLang,
  WechatAccessToken,
  WechatUserInfo,
  AuthorizeUrlParams,
} from './api/wechat-api.types.js';
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
