import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import {
  AuthorizationDeniedError,
  CodeExchangeTimeoutError,
  CodeReplayError,
  InvalidCallbackError,
  StateMismatchError,
  WechatApiError,
  WechatAuthError,
  WechatAuthOptionsError,
  WechatTransportError,
} from '../errors/wechat-auth.errors.js';

/** The JSON body of every error the guard answers. Never carries a secret, a code or a token. */
export interface WechatAuthErrorBody {
  statusCode: number;
  /** The HTTP reason phrase, as Nest's built-in exceptions write it. */
  error: string;
  message: string;
  /** WeChat's errcode, when WeChat answered with one. */
  errcode?: number;
}

function exception(status: number, message: string, cause: unknown, errcode?: number): HttpException {
  const body: WechatAuthErrorBody = {
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    message,
    ...(errcode === undefined ? {} : { errcode }),
  };
  return new HttpException(body, status, { cause });
}

function fromWechatApiError(error: WechatApiError): HttpException {
  switch (error.category) {
    case 'code-unusable':
      return exception(
        HttpStatus.UNAUTHORIZED,
        'The WeChat authorization code is no longer valid; start the login again',
        error,
        error.errcode,
      );
    case 'configuration':
      return exception(
        HttpStatus.BAD_GATEWAY,
        `WeChat rejected this site's app credentials (errcode ${error.errcode}); the operator must check appId and appSecret`,
        error,
        error.errcode,
      );
    case 'outcome-unknown':
      return exception(HttpStatus.BAD_GATEWAY, `WeChat is busy (errcode ${error.errcode}); start the login again`, error, error.errcode);
    default:
      return exception(HttpStatus.BAD_GATEWAY, `WeChat refused the login (errcode ${error.errcode})`, error, error.errcode);
  }
}

/**
 * Maps the library's errors to HTTP. This is the only place where they become status codes:
 *
 * | error | status |
 * |---|---|
 * | InvalidCallbackError | 400 |
 * | AuthorizationDeniedError | 401 |
 * | StateMismatchError `missing-cookie` / `expired` | 401 (the login must simply start again) |
 * | StateMismatchError `malformed-cookie` / `mismatch` | 403 (the callback does not belong to this browser) |
 * | CodeReplayError | 403 |
 * | WechatApiError `code-unusable` (40029, 40163, 42003) | 401 (after the one re-authorization the guard may try) |
 * | WechatApiError, any other category | 502 with `errcode` |
 * | WechatTransportError `timeout`, CodeExchangeTimeoutError | 504 |
 * | WechatTransportError, any other failure | 502 |
 *
 * An `HttpException` is returned unchanged. Anything else is a bug, answered as a plain 500 with no detail.
 */
export function toHttpException(error: unknown): HttpException {
  if (error instanceof HttpException) return error;
  if (!(error instanceof WechatAuthError)) {
    return exception(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error', error);
  }
  if (error instanceof InvalidCallbackError) return exception(HttpStatus.BAD_REQUEST, error.message, error);
  if (error instanceof AuthorizationDeniedError) {
    return exception(HttpStatus.UNAUTHORIZED, 'The WeChat authorization was denied', error);
  }
  if (error instanceof StateMismatchError) {
    switch (error.failure) {
      case 'missing-cookie':
        return exception(
          HttpStatus.UNAUTHORIZED,
          'This WeChat login has no state cookie in this browser (started elsewhere, or cookies are blocked); start the login again',
          error,
        );
      case 'expired':
        return exception(HttpStatus.UNAUTHORIZED, 'This WeChat login took too long and expired; start the login again', error);
      default:
        return exception(HttpStatus.FORBIDDEN, 'This WeChat login does not belong to this browser', error);
    }
  }
  if (error instanceof CodeReplayError) {
    return exception(HttpStatus.FORBIDDEN, 'This WeChat authorization code was already used by another browser', error);
  }
  if (error instanceof WechatApiError) return fromWechatApiError(error);
  if (error instanceof WechatTransportError) {
    return error.timedOut
      ? exception(HttpStatus.GATEWAY_TIMEOUT, 'WeChat did not answer in time; start the login again', error)
      : exception(HttpStatus.BAD_GATEWAY, 'WeChat gave no usable answer; start the login again', error);
  }
  if (error instanceof CodeExchangeTimeoutError) {
    return exception(HttpStatus.GATEWAY_TIMEOUT, 'The WeChat login took too long to complete; start the login again', error);
  }
  if (error instanceof WechatAuthOptionsError) {
    return exception(HttpStatus.INTERNAL_SERVER_ERROR, 'WeChat login is misconfigured', error);
  }
  // A library error this table does not know yet: it came from the upstream side of the login.
  return exception(HttpStatus.BAD_GATEWAY, 'The WeChat login failed; start the login again', error);
}
