import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { toHttpException, WechatApiError, WechatAuthError } from 'nestjs-wechat-auth';
import { WEB_CALLBACK_PATH, type SampleConfig } from '../config/sample-config.js';
import { SAMPLE_CONFIG } from '../config/sample-config.tokens.js';
import { LOGIN_PATH } from '../session/session.guard.js';
import { renderErrorPage } from '../views/pages.js';
import { prefersHtml } from './content-negotiation.js';
import { RedirectException } from './redirect.exception.js';

/** The JSON error shape of every route: `{ statusCode, error, message, errcode? }`. */
export interface SampleErrorBody {
  statusCode: number;
  /** The HTTP reason phrase, e.g. "Unauthorized". */
  error: string;
  /** What went wrong, for a person; never a secret, a code or a token. */
  message: string;
  /** WeChat's errcode, when WeChat caused the error. */
  errcode?: number;
}

const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status >= 500 ? 'Server Error' : 'Error');
}

function findErrcode(value: unknown, depth = 0): number | undefined {
  if (depth > 3 || value === null || typeof value !== 'object') return undefined;
  if (value instanceof WechatApiError) return value.errcode;
  const record = value as Record<string, unknown>;
  if (typeof record.errcode === 'number' && Number.isInteger(record.errcode)) return record.errcode;
  return findErrcode(record.cause, depth + 1);
}

function messageOf(response: unknown, fallback: string): string {
  if (typeof response === 'string') return response;
  if (response && typeof response === 'object') {
    const message = (response as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    if (Array.isArray(message)) return message.map(String).join('; ');
  }
  return fallback;
}

/**
 * The app's one error boundary. Clients that ask for JSON get `{ statusCode, error, message, errcode? }`; browsers
 * get a small page (with a "try again" link when a new login can fix it). Anything unexpected is logged and answered
 * as a generic 500 that reveals nothing.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  constructor(@Inject(SAMPLE_CONFIG) private readonly config: SampleConfig) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    if (res.headersSent) {
      // The handler already answered (e.g. a redirect written by a guard): nothing more can be sent.
      if (!res.writableEnded) res.end();
      return;
    }

    if (exception instanceof RedirectException) {
      res.redirect(exception.getStatus(), exception.location);
      return;
    }

    const body = this.toBody(exception, req);
    res.setHeader('Cache-Control', 'no-store');
    if (prefersHtml(req)) {
      // A new login can fix a failed callback: send the user back to the login that failed.
      const retryHref =
        req.path === `${LOGIN_PATH}/callback` ? LOGIN_PATH : req.path === WEB_CALLBACK_PATH ? `${LOGIN_PATH}/web` : undefined;
      res
        .status(body.statusCode)
        .type('html')
        .send(
          renderErrorPage({
            mode: this.config.mode,
            ...body,
            retryHref: retryHref && body.statusCode !== 500 ? retryHref : undefined,
          }),
        );
      return;
    }
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown, req: Request): SampleErrorBody {
    let statusCode: number;
    let message: string;
    let errcode = findErrcode(exception);
    // The library maps its errors at its guard; one raised elsewhere (e.g. by an injected service) maps the same way.
    const http = exception instanceof WechatAuthError ? toHttpException(exception) : exception;
    if (http instanceof HttpException) {
      statusCode = http.getStatus();
      const response = http.getResponse();
      message = messageOf(response, http.message);
      errcode = findErrcode(response) ?? errcode;
    } else {
      statusCode = HttpStatus.INTERNAL_SERVER_ERROR;
      message = 'Something went wrong on our side.';
      this.logger.error(
        `Unhandled error on ${req.method} ${req.path}: ${exception instanceof Error ? exception.stack : String(exception)}`,
      );
    }
    if (statusCode >= 500 && statusCode !== 500) {
      this.logger.warn(`${req.method} ${req.path} → ${statusCode}: ${message}`);
    }
    return {
      statusCode,
      error: reasonPhrase(statusCode),
      message,
      ...(errcode !== undefined ? { errcode } : {}),
    };
  }
}
