/**
 * The library's error hierarchy. Errors carry facts (errcode, category, endpoint), never secrets: no app secret,
 * access/refresh token or authorization code may appear in a message, in `toString()` or in `toJSON()`.
 * They are mapped to HTTP only at the guard boundary (see `toHttpException` in the guards folder).
 */

/** The WeChat endpoints the library calls, by their path. */
export type WechatEndpoint =
  | '/sns/oauth2/access_token'
  | '/sns/userinfo'
  | '/sns/oauth2/refresh_token'
  | '/sns/auth';

/**
 * What a caller should make of a WeChat failure.
 * - `code-unusable`: the code was wrong, expired or already used (40029, 40163, 42003): re-authorize.
 * - `configuration`: the app id or secret is wrong (40013, 40125, 40001): alert an operator, never retry.
 * - `outcome-unknown`: `-1`, a timeout after the request was sent, a reset, HTTP 5xx, an unreadable body:
 *   the code may have been spent, so never exchange the same code again.
 * - `token-invalid`: an access or refresh token is invalid or expired (40014, 42001, 40030, 42002).
 * - `scope-unauthorized`: the token's scope does not allow the call (48001).
 * - `client-error`: a request WeChat judged malformed (41008, 40003, …) or an errcode this library does not know.
 */
export type WechatErrorCategory =
  | 'code-unusable'
  | 'configuration'
  | 'outcome-unknown'
  | 'token-invalid'
  | 'scope-unauthorized'
  | 'client-error';

const CATEGORY_BY_ERRCODE: Readonly<Record<number, WechatErrorCategory>> = {
  40029: 'code-unusable',
  40163: 'code-unusable',
  42003: 'code-unusable',
  40013: 'configuration',
  40125: 'configuration',
  40001: 'configuration',
  40164: 'configuration',
  [-1]: 'outcome-unknown',
  40014: 'token-invalid',
  42001: 'token-invalid',
  40030: 'token-invalid',
  42002: 'token-invalid',
  48001: 'scope-unauthorized',
};

/** Classifies a WeChat errcode. Unknown codes are `client-error`. */
export function categorizeErrcode(errcode: number): WechatErrorCategory {
  return CATEGORY_BY_ERRCODE[errcode] ?? 'client-error';
}

/** Base class of every error the library throws. `kind` is stable and serializable. */
export abstract class WechatAuthError extends Error {
  /** A stable discriminator, used in logs and when an outcome is shared between duplicate callbacks. */
  abstract readonly kind: string;

  protected constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }

  /** A plain, secret-free description, safe to log and to store in a shared cache. */
  toJSON(): SerializedWechatAuthError {
    return { kind: this.kind, message: this.message };
  }
}

/** The serialized form of a {@link WechatAuthError}, as stored in the code-exchange cache. */
export interface SerializedWechatAuthError {
  kind: string;
  message: string;
  [field: string]: unknown;
}

/** WeChat answered with `errcode != 0` (HTTP 200 with `{ errcode, errmsg }`). */
export class WechatApiError extends WechatAuthError {
  readonly kind = 'wechat-api';
  /** What a caller should do about it. */
  readonly category: WechatErrorCategory;

  constructor(
    /** WeChat's errcode. */
    readonly errcode: number,
    /** WeChat's errmsg, with its trace id removed and anything secret-looking redacted. */
    readonly errmsg: string,
    /** The endpoint that answered. */
    readonly endpoint: WechatEndpoint,
    /** WeChat's trace id (`rid: …` or `req_id: …`), for WeChat support. */
    readonly rid?: string,
  ) {
    super(`WeChat ${endpoint} failed with errcode ${errcode} (${errmsg})${rid ? ` rid: ${rid}` : ''}`);
    this.category = categorizeErrcode(errcode);
  }

  override toJSON(): SerializedWechatAuthError {
    return {
      ...super.toJSON(),
      errcode: this.errcode,
      errmsg: this.errmsg,
      endpoint: this.endpoint,
      rid: this.rid,
    };
  }
}

/** Why a call produced no usable WeChat answer. */
export type WechatTransportFailure =
  | 'timeout'
  | 'network'
  | 'http-status'
  | 'empty-body'
  | 'html-body'
  | 'invalid-json';

/**
 * No usable answer from WeChat: timeout, connection refused or reset, HTTP error status, or a body that is empty,
 * HTML or not JSON. The request may have reached WeChat, so its outcome is unknown.
 */
export class WechatTransportError extends WechatAuthError {
  readonly kind = 'wechat-transport';
  readonly category: WechatErrorCategory = 'outcome-unknown';

  constructor(
    /** What went wrong. */
    readonly failure: WechatTransportFailure,
    /** The endpoint that was called. */
    readonly endpoint: WechatEndpoint,
    /** The HTTP status, when a response arrived. */
    readonly httpStatus?: number,
  ) {
    super(
      `WeChat ${endpoint} gave no usable answer: ${failure}${httpStatus === undefined ? '' : ` (HTTP ${httpStatus})`}`,
    );
  }

  /** True when WeChat did not answer in time; the guard maps this to 504. */
  get timedOut(): boolean {
    return this.failure === 'timeout';
  }

  override toJSON(): SerializedWechatAuthError {
    return { ...super.toJSON(), failure: this.failure, endpoint: this.endpoint, httpStatus: this.httpStatus };
  }
}

/** The callback's query string is malformed (missing, empty, oversized, repeated or non-ASCII code or state). */
export class InvalidCallbackError extends WechatAuthError {
  readonly kind = 'invalid-callback';
  constructor(
    /** Human-readable problems, one per offending field; never the field's value. */
    readonly problems: string[],
  ) {
    super(`Invalid WeChat callback: ${problems.join('; ')}`);
  }
  override toJSON(): SerializedWechatAuthError {
    return { ...super.toJSON(), problems: this.problems };
  }
}

/** Why the state check failed. */
export type StateFailure = 'missing-cookie' | 'malformed-cookie' | 'expired' | 'mismatch';

/**
 * The callback's `state` is not bound to this browser: no state cookie, a tampered or expired one, or a state
 * that another browser started (a replayed or forged callback).
 */
export class StateMismatchError extends WechatAuthError {
  readonly kind = 'state-mismatch';
  constructor(readonly failure: StateFailure) {
    super(`WeChat login state rejected: ${failure}`);
  }
  override toJSON(): SerializedWechatAuthError {
    return { ...super.toJSON(), failure: this.failure };
  }
}

/** The user refused authorization on WeChat's consent page (the callback carried `state` but no `code`). */
export class AuthorizationDeniedError extends WechatAuthError {
  readonly kind = 'authorization-denied';
  constructor() {
    super('The user denied the WeChat authorization request');
  }
}

/**
 * The code was already exchanged for another browser: the shared result is sealed to that browser, so this
 * request gets nothing (a leaked code is not a reusable credential).
 */
export class CodeReplayError extends WechatAuthError {
  readonly kind = 'code-replay';
  constructor() {
    super('This authorization code was already used by another browser');
  }
}

/** A duplicate waited for the first exchange of its code beyond the deadline and gave up. */
export class CodeExchangeTimeoutError extends WechatAuthError {
  readonly kind = 'code-exchange-timeout';
  constructor(readonly waitedMs: number) {
    super(`Gave up waiting ${waitedMs} ms for the code's first exchange`);
  }
  override toJSON(): SerializedWechatAuthError {
    return { ...super.toJSON(), waitedMs: this.waitedMs };
  }
}

/** The module's options are invalid; thrown once at startup. The message names each field and how to fix it. */
export class WechatAuthOptionsError extends WechatAuthError {
  readonly kind = 'invalid-options';
  constructor(readonly problems: string[]) {
    super(`Invalid WechatAuthModule options:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * Rebuilds an error from {@link WechatAuthError.toJSON}, so that a duplicate callback served from the shared cache
 * gets the same typed error as the first. Returns undefined for a kind that is not shareable.
 */
export function reviveWechatAuthError(json: SerializedWechatAuthError): WechatAuthError | undefined {
  switch (json.kind) {
    case 'wechat-api':
      return new WechatApiError(
        Number(json.errcode),
        String(json.errmsg ?? ''),
        json.endpoint as WechatEndpoint,
        typeof json.rid === 'string' ? json.rid : undefined,
      );
    case 'wechat-transport':
      return new WechatTransportError(
        json.failure as WechatTransportFailure,
        json.endpoint as WechatEndpoint,
        typeof json.httpStatus === 'number' ? json.httpStatus : undefined,
      );
    case 'code-exchange-timeout':
      return new CodeExchangeTimeoutError(Number(json.waitedMs));
    case 'code-replay':
      return new CodeReplayError();
    default:
      return undefined;
  }
}
