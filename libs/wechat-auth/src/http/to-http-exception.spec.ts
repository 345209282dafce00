import { describe, expect, it } from '@jest/globals';
import { BadRequestException, HttpException } from '@nestjs/common';
import {
  AuthorizationDeniedError,
  CodeExchangeTimeoutError,
  CodeReplayError,
  InvalidCallbackError,
  StateMismatchError,
  WechatApiError,
  WechatTransportError,
} from '../errors/wechat-auth.errors.js';
import { toHttpException } from './to-http-exception.js';

function mapped(error: unknown): { status: number; body: Record<string, unknown> } {
  const exception = toHttpException(error);
  return { status: exception.getStatus(), body: exception.getResponse() as Record<string, unknown> };
}

describe('toHttpException', () => {
  it.each([
    [new InvalidCallbackError(['code must not be empty']), 400, 'Bad Request'],
    [new AuthorizationDeniedError(), 401, 'Unauthorized'],
    [new StateMismatchError('missing-cookie'), 401, 'Unauthorized'],
    [new StateMismatchError('expired'), 401, 'Unauthorized'],
    [new StateMismatchError('malformed-cookie'), 403, 'Forbidden'],
    [new StateMismatchError('mismatch'), 403, 'Forbidden'],
    [new CodeReplayError(), 403, 'Forbidden'],
    [new WechatTransportError('timeout', '/sns/oauth2/access_token'), 504, 'Gateway Timeout'],
    [new CodeExchangeTimeoutError(12_000), 504, 'Gateway Timeout'],
    [new WechatTransportError('http-status', '/sns/oauth2/access_token', 503), 502, 'Bad Gateway'],
    [new WechatTransportError('network', '/sns/userinfo'), 502, 'Bad Gateway'],
  ])('maps %s to %i', (error, status, reason) => {
    const { status: actual, body } = mapped(error);
    expect(actual).toBe(status);
    expect(body).toEqual({ statusCode: status, error: reason, message: expect.any(String) });
  });

  it.each([
    [40163, 401],
    [40029, 401],
    [42003, 401],
    [-1, 502],
    [40125, 502],
    [40013, 502],
    [48001, 502],
    [99999, 502],
  ])('maps WeChat errcode %i to %i with the errcode in the body', (errcode, status) => {
    const { status: actual, body } = mapped(new WechatApiError(errcode, 'msg', '/sns/oauth2/access_token', 'rid-1'));
    expect(actual).toBe(status);
    expect(body).toMatchObject({ statusCode: status, errcode });
  });

  it('keeps the invalid-callback problems in the message', () => {
    expect(mapped(new InvalidCallbackError(['code must not be empty'])).body.message).toBe('Invalid WeChat callback: code must not be empty');
  });

  it('returns HttpExceptions unchanged and hides anything else behind a bare 500', () => {
    const http = new BadRequestException('x');
    expect(toHttpException(http)).toBe(http);
    const bug = mapped(new Error('secret detail'));
    expect(bug.status).toBe(500);
    expect(JSON.stringify(bug.body)).not.toContain('secret detail');
    expect(toHttpException(new Error('x'))).toBeInstanceOf(HttpException);
  });
});
