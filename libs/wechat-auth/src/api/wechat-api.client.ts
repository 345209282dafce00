import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  InvalidCallbackError,
  WechatApiError,
  WechatTransportError,
  type WechatEndpoint,
} from '../errors/wechat-auth.errors.js';
import { cleanErrmsg } from './wechat-api.redaction.js';
import type {
  AuthorizeUrlParams,
  QrConnectUrlParams,
  WechatAccessToken,
  WechatLang,
  WechatScope,
  WechatUserInfo,
} from './wechat-api.types.js';

/** WeChat's API origin (the sns endpoints). */
export const WECHAT_API_BASE_URL = 'https://api.weixin.qq.com';
/** WeChat's OAuth origin (the authorize page). */
export const WECHAT_OAUTH_BASE_URL = 'https://open.weixin.qq.com';

/** Options of {@link WechatApiClient}. */
export interface WechatApiClientOptions {
  /** The Official Account's AppID. */
  appId: string;
  /** The Official Account's AppSecret. Kept in a private field: never serialized, inspected or logged. */
  appSecret: string;
  /** Origin (optionally with a path prefix) of the sns endpoints. Default `https://api.weixin.qq.com`. */
  apiBaseURL?: string;
  /** Origin (optionally with a path prefix) of the authorize page. Default `https://open.weixin.qq.com`. */
  oauthBaseURL?: string;
  /** Per-call timeout in milliseconds, covering the answer's body too. Default 5000. */
  timeoutMs?: number;
  /** Default language of `/sns/userinfo`. Default `zh_CN`. */
  lang?: WechatLang;
}

/** Options of {@link WechatApiClient.getUserInfo}. */
export interface GetUserInfoOptions {
  lang?: WechatLang;
  signal?: AbortSignal;
}

type WechatJson = Record<string, unknown>;

const SCOPES: readonly WechatScope[] = ['snsapi_base', 'snsapi_userinfo'];
const LANGS: readonly WechatLang[] = ['zh_CN', 'zh_TW', 'en'];
const STATE_PATTERN = /^[A-Za-z0-9]{1,128}$/;
/** Codes, tokens and openids: printable ASCII with no space, bounded. WeChat's are far shorter than 512. */
const OPAQUE_VALUE_PATTERN = /^[\x21-\x7e]{1,512}$/;
const MAX_REDIRECT_URI_LENGTH = 2048;
/** WeChat's answers are a few hundred bytes; a huge body is a proxy error page, not something to buffer. */
const MAX_BODY_BYTES = 64 * 1024;
const USERINFO_RETRY_DELAY_MS = 100;

class BodyTooLargeError extends Error {}

function checkBaseUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`WechatApiClient: ${name} must be an absolute http(s) URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new TypeError(`WechatApiClient: ${name} must be an http(s) origin or path, without query, fragment or credentials`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function checkOpaque(name: string, value: unknown): string {
  if (typeof value !== 'string' || !OPAQUE_VALUE_PATTERN.test(value)) {
    throw new TypeError(`${name} must be 1..512 printable ASCII characters without spaces`);
  }
  return value;
}

function checkState(method: string, state: unknown): asserts state is string {
  if (typeof state !== 'string' || !STATE_PATTERN.test(state)) {
    // WeChat returns the state unchanged and does not re-encode it: anything else breaks on the way back.
    throw new TypeError(`${method}: state must match /^[A-Za-z0-9]{1,128}$/`);
  }
}

function checkRedirectUri(method: string, redirectUri: unknown): asserts redirectUri is string {
  let url: URL | undefined;
  try {
    url = typeof redirectUri === 'string' ? new URL(redirectUri) : undefined;
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    (redirectUri as string).length > MAX_REDIRECT_URI_LENGTH
  ) {
    throw new TypeError(`${method}: redirectUri must be an absolute http(s) URL of at most ${MAX_REDIRECT_URI_LENGTH} characters`);
  }
}

function isRecord(value: unknown): value is WechatJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** What one GET answered: the status, and the body unless the status already makes it unusable. */
interface HttpAnswer {
  status: number;
  bytes: Buffer;
}

/**
 * One GET with node's own HTTP client (keep-alive agents by default). Lighter than `fetch` on every login: no web
 * streams, Headers or Response objects to build and collect (measured in the benchmark: `fetch` was about a tenth
 * of a login's CPU, and without it a third less of a login's allocations outlive the young generation). Never
 * follows a redirect; a body over MAX_BODY_BYTES is cut off with BodyTooLargeError; rejects with the socket's
 * error, or an abort.
 */
function getBytes(url: string, signal: AbortSignal): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', signal, headers: { accept: 'application/json, text/plain, */*' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300) {
        res.resume();
        resolve({ status, bytes: Buffer.alloc(0) });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      res.on('data', (chunk: Buffer) => {
        if (tooLarge) return;
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          tooLarge = true;
          req.destroy(new BodyTooLargeError());
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('close', () => {
        // Whichever of the request's error and this comes first, a cut-off body is never an answer.
        if (tooLarge) reject(new BodyTooLargeError());
        else if (res.complete) resolve({ status, bytes: Buffer.concat(chunks, size) });
        else reject(new Error('The answer ended before its body did'));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The WeChat web-authorization API: the authorize URL and the four sns endpoints.
 *
 * Every failure is a {@link WechatApiError} (WeChat answered `errcode != 0`) or a {@link WechatTransportError} (no
 * usable answer). Neither carries the request URL, the app secret, the code or a token: not in the message, not in
 * `toJSON()`, not in a `cause`.
 */
export class WechatApiClient {
  /** The AppID this client speaks for. */
  readonly appId: string;
  readonly apiBaseURL: string;
  readonly oauthBaseURL: string;
  readonly timeoutMs: number;
  readonly lang: WechatLang;
  // A native private field: util.inspect, JSON.stringify and Object.keys cannot reach it.
  readonly #appSecret: string;
  /** The last redirect URI that passed validation, and its encoded form: an app sends the same one every login. */
  #checkedRedirectUri?: string;
  #encodedRedirectUri = '';

  constructor(options: WechatApiClientOptions) {
    if (!isRecord(options)) throw new TypeError('WechatApiClient: options are required');
    if (typeof options.appId !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(options.appId)) {
      throw new TypeError('WechatApiClient: appId must be 1..64 printable ASCII characters');
    }
    if (typeof options.appSecret !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(options.appSecret)) {
      throw new TypeError('WechatApiClient: appSecret must be 1..128 printable ASCII characters');
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000) {
      throw new TypeError('WechatApiClient: timeoutMs must be an integer in 1..120000');
    }
    const lang = options.lang ?? 'zh_CN';
    if (!LANGS.includes(lang)) throw new TypeError(`WechatApiClient: lang must be one of ${LANGS.join(', ')}`);
    this.appId = options.appId;
    this.#appSecret = options.appSecret;
    this.apiBaseURL = checkBaseUrl('apiBaseURL', options.apiBaseURL ?? WECHAT_API_BASE_URL);
    this.oauthBaseURL = checkBaseUrl('oauthBaseURL', options.oauthBaseURL ?? WECHAT_OAUTH_BASE_URL);
    this.timeoutMs = timeoutMs;
    this.lang = lang;
  }

  /**
   * The authorize URL, with its parameters in the order WeChat matches them (appid, redirect_uri, response_type,
   * scope, state, then forcePopup) and the required `#wechat_redirect`.
   * @throws TypeError when the state is not `[A-Za-z0-9]{1,128}`, the scope is unknown, or the redirect URI is not
   *   an absolute http(s) URL. The message never echoes the values.
   */
  buildAuthorizeUrl(params: AuthorizeUrlParams): string {
    if (!isRecord(params)) throw new TypeError('buildAuthorizeUrl: params are required');
    const { redirectUri, scope, state, forcePopup } = params;
    checkState('buildAuthorizeUrl', state);
    if (!SCOPES.includes(scope)) {
      throw new TypeError(`buildAuthorizeUrl: scope must be one of ${SCOPES.join(', ')}`);
    }
    const encodedRedirectUri = this.encodeRedirectUri('buildAuthorizeUrl', redirectUri);
    return (
      `${this.oauthBaseURL}/connect/oauth2/authorize` +
      `?appid=${encodeURIComponent(this.appId)}` +
      `&redirect_uri=${encodedRedirectUri}` +
      `&response_type=code` +
      `&scope=${scope}` +
      `&state=${state}` +
      (forcePopup ? '&forcePopup=true' : '') +
      '#wechat_redirect'
    );
  }

  /**
   * The website QR-login URL (an Open Platform website app, 网站应用微信登录): `/connect/qrconnect` with the same
   * parameter order as the authorize page (appid, redirect_uri, response_type, scope, state), scope
   * `snsapi_login`, and the required `#wechat_redirect`. The client's `appId` must be the website app's.
   * @throws TypeError when the state is not `[A-Za-z0-9]{1,128}` or the redirect URI is not an absolute http(s)
   *   URL. The message never echoes the values.
   */
  buildQrConnectUrl(params: QrConnectUrlParams): string {
    if (!isRecord(params)) throw new TypeError('buildQrConnectUrl: params are required');
    const { redirectUri, state } = params;
    checkState('buildQrConnectUrl', state);
    const encodedRedirectUri = this.encodeRedirectUri('buildQrConnectUrl', redirectUri);
    return (
      `${this.oauthBaseURL}/connect/qrconnect` +
      `?appid=${encodeURIComponent(this.appId)}` +
      `&redirect_uri=${encodedRedirectUri}` +
      `&response_type=code` +
      `&scope=snsapi_login` +
      `&state=${state}` +
      '#wechat_redirect'
    );
  }

  /**
   * Exchanges an authorization code for the web access token (`/sns/oauth2/access_token`).
   *
   * Never retried: WeChat may spend the code even when it answers `-1` or the answer is lost, and a second call
   * would then fail with 40163 and hide the first outcome.
   * @throws InvalidCallbackError when the code is not 1..512 printable ASCII characters (no call is made).
   */
  async exchangeCode(code: string, signal?: AbortSignal): Promise<WechatAccessToken> {
    if (typeof code !== 'string' || !OPAQUE_VALUE_PATTERN.test(code)) {
      throw new InvalidCallbackError(['code must be 1..512 printable ASCII characters without spaces']);
    }
    const json = await this.call(
      '/sns/oauth2/access_token',
      { appid: this.appId, secret: this.#appSecret, code, grant_type: 'authorization_code' },
      [code],
      signal,
    );
    return this.toAccessToken(json, '/sns/oauth2/access_token');
  }

  /**
   * Reads the user's profile (`/sns/userinfo`); the token must come from a snsapi_userinfo authorization of a
   * real (not snapshot) user, else WeChat answers 48001.
   *
   * Retried once when the outcome is unknown (`-1`, a connection failure, HTTP 5xx): a read is safe to repeat.
   * Never retried after a timeout, nor once the caller's signal has aborted.
   */
  async getUserInfo(accessToken: string, openid: string, opts: GetUserInfoOptions = {}): Promise<WechatUserInfo> {
    checkOpaque('accessToken', accessToken);
    checkOpaque('openid', openid);
    const lang = opts.lang ?? this.lang;
    if (!LANGS.includes(lang)) throw new TypeError(`lang must be one of ${LANGS.join(', ')}`);
    const params = { access_token: accessToken, openid, lang };
    let json: WechatJson;
    try {
      json = await this.call('/sns/userinfo', params, [accessToken], opts.signal);
    } catch (error) {
      if (!isRetryableRead(error) || opts.signal?.aborted) throw error;
      await delay(USERINFO_RETRY_DELAY_MS, opts.signal);
      if (opts.signal?.aborted) throw error;
      json = await this.call('/sns/userinfo', params, [accessToken], opts.signal);
    }
    const resultOpenid = str(json.openid);
    if (!resultOpenid) throw new WechatTransportError('invalid-json', '/sns/userinfo');
    const info: WechatUserInfo = {
      openid: resultOpenid,
      nickname: str(json.nickname),
      sex: typeof json.sex === 'number' ? json.sex : Number(json.sex) || 0,
      province: str(json.province),
      city: str(json.city),
      country: str(json.country),
      headimgurl: str(json.headimgurl),
      privilege: Array.isArray(json.privilege) ? json.privilege.filter((p): p is string => typeof p === 'string') : [],
    };
    const unionid = str(json.unionid);
    if (unionid) info.unionid = unionid;
    return info;
  }

  /** Renews the web access token with a refresh token (`/sns/oauth2/refresh_token`, valid 30 days). Not retried. */
  async refreshAccessToken(refreshToken: string, signal?: AbortSignal): Promise<WechatAccessToken> {
    checkOpaque('refreshToken', refreshToken);
    const json = await this.call(
      '/sns/oauth2/refresh_token',
      { appid: this.appId, grant_type: 'refresh_token', refresh_token: refreshToken },
      [refreshToken],
      signal,
    );
    return this.toAccessToken(json, '/sns/oauth2/refresh_token');
  }

  /**
   * Checks a web access token (`/sns/auth`).
   * @returns true when WeChat answers `errcode: 0`; false when it judges the token invalid or expired
   *   (the `token-invalid` category).
   * @throws WechatApiError for any other errcode (e.g. 40003 for an openid that is not the token's),
   *   WechatTransportError when there is no usable answer.
   */
  async checkAccessToken(accessToken: string, openid: string, signal?: AbortSignal): Promise<boolean> {
    checkOpaque('accessToken', accessToken);
    checkOpaque('openid', openid);
    try {
      await this.call('/sns/auth', { access_token: accessToken, openid }, [accessToken], signal);
      return true;
    } catch (error) {
      if (error instanceof WechatApiError && error.category === 'token-invalid') return false;
      throw error;
    }
  }

  /** A secret-free description (the app secret lives in a private field and is never part of it). */
  toJSON(): Record<string, unknown> {
    return { appId: this.appId, apiBaseURL: this.apiBaseURL, oauthBaseURL: this.oauthBaseURL, timeoutMs: this.timeoutMs };
  }

  /** Validates (once per distinct value) and encodes a redirect URI. */
  private encodeRedirectUri(method: string, redirectUri: unknown): string {
    if (redirectUri !== this.#checkedRedirectUri || this.#checkedRedirectUri === undefined) {
      checkRedirectUri(method, redirectUri);
      this.#encodedRedirectUri = encodeURIComponent(redirectUri);
      this.#checkedRedirectUri = redirectUri;
    }
    return this.#encodedRedirectUri;
  }

  private toAccessToken(json: WechatJson, endpoint: WechatEndpoint): WechatAccessToken {
    const accessToken = str(json.access_token);
    const openid = str(json.openid);
    if (!accessToken || !openid) throw new WechatTransportError('invalid-json', endpoint);
    const expiresIn = Number(json.expires_in);
    const token: WechatAccessToken = {
      accessToken,
      expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 7200,
      refreshToken: str(json.refresh_token),
      openid,
      scope: str(json.scope),
      isSnapshotUser: Number(json.is_snapshotuser) === 1,
    };
    const unionid = str(json.unionid);
    if (unionid) token.unionid = unionid;
    return token;
  }

  /**
   * One GET on an sns endpoint. The URL carries the secret, the code or a token, so it is built here and goes
   * nowhere else: errors are created fresh, without the socket error as their cause.
   */
  private async call(
    endpoint: WechatEndpoint,
    params: Record<string, string>,
    sentSecrets: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<WechatJson> {
    if (signal?.aborted) throw new WechatTransportError('timeout', endpoint);
    // One controller, aborted by the timeout or by the caller's signal: cheaper than AbortSignal.timeout() plus
    // AbortSignal.any() on every call, and nothing is left behind once the call is over.
    const combined = new AbortController();
    const timer = setTimeout(() => combined.abort(), this.timeoutMs);
    timer.unref();
    const onAbort = (): void => combined.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const url = `${this.apiBaseURL}${endpoint}?${new URLSearchParams(params).toString()}`;

    let answer: HttpAnswer;
    try {
      // A redirect from the API is never a usable answer; following it would resend the secret elsewhere.
      answer = await getBytes(url, combined.signal);
      if (answer.status >= 300) throw new WechatTransportError('http-status', endpoint, answer.status);
    } catch (error) {
      if (error instanceof WechatTransportError) throw error;
      if (error instanceof BodyTooLargeError) throw new WechatTransportError('invalid-json', endpoint, 200);
      throw new WechatTransportError(combined.signal.aborted ? 'timeout' : 'network', endpoint);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    const { status, bytes } = answer;

    // WeChat says text/plain (or `application/json; encoding=utf-8`) with no charset: the bytes are UTF-8 JSON
    // whatever the header claims, so the header is not consulted.
    const text = new TextDecoder('utf-8').decode(bytes).trim();
    if (text === '') throw new WechatTransportError('empty-body', endpoint, status);
    if (text.startsWith('<')) throw new WechatTransportError('html-body', endpoint, status);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new WechatTransportError('invalid-json', endpoint, status);
    }
    if (!isRecord(json)) throw new WechatTransportError('invalid-json', endpoint, status);

    if (json.errcode !== undefined && json.errcode !== null) {
      const errcode = Number(json.errcode);
      if (!Number.isInteger(errcode)) throw new WechatTransportError('invalid-json', endpoint, status);
      if (errcode !== 0) {
        const { errmsg, rid } = cleanErrmsg(json.errmsg, [this.#appSecret, ...sentSecrets]);
        throw new WechatApiError(errcode, errmsg, endpoint, rid);
      }
    }
    return json;
  }
}

/** A read may be repeated when its outcome is unknown for a reason other than running out of time. */
function isRetryableRead(error: unknown): boolean {
  if (error instanceof WechatApiError) return error.errcode === -1;
  if (error instanceof WechatTransportError) {
    return (
      error.failure === 'network' ||
      (error.failure === 'http-status' && error.httpStatus !== undefined && error.httpStatus >= 500)
    );
  }
  return false;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
