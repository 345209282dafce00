import type { EmulatorApp } from './wechat-emulator.types.js';

/** A validated authorize request, as WeChat would accept it. */
export interface AuthorizeRequest {
  appId: string;
  redirectUri: string;
  scope: 'snsapi_base' | 'snsapi_userinfo';
  /** `[A-Za-z0-9]{0,128}`; empty when the app sent none. */
  state: string;
  forcePopup: boolean;
}

/** Why WeChat would refuse the request; `errcode` when WeChat shows one for it. */
export interface AuthorizeProblem {
  errcode?: number;
  /** A bilingual explanation, shown on the error page. */
  message: string;
}

export type AuthorizeCheck = { ok: true; request: AuthorizeRequest } | { ok: false; problem: AuthorizeProblem };

/** The order in which WeChat matches the authorize parameters. */
export const AUTHORIZE_PARAMETER_ORDER = [
  'appid',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'forcePopup',
] as const;

const STATE_PATTERN = /^[A-Za-z0-9]{0,128}$/;
const MAX_REDIRECT_URI_LENGTH = 2048;

function fail(message: string, errcode?: number): AuthorizeCheck {
  return { ok: false, problem: { message, errcode } };
}

/** A validated QR-login request (`/connect/qrconnect`), as WeChat would accept it. */
export interface QrConnectRequest {
  appId: string;
  redirectUri: string;
  /** `[A-Za-z0-9]{0,128}`; empty when the app sent none. */
  state: string;
}

export type QrConnectCheck = { ok: true; request: QrConnectRequest } | { ok: false; problem: AuthorizeProblem };

/** The order in which WeChat matches the QR-login parameters (the authorize page's, without forcePopup). */
export const QRCONNECT_PARAMETER_ORDER = ['appid', 'redirect_uri', 'response_type', 'scope', 'state'] as const;

type OrderedQuery = { ok: true; values: Map<string, string> } | { ok: false; problem: AuthorizeProblem };

function problemOf(message: string): { ok: false; problem: AuthorizeProblem } {
  return { ok: false, problem: { message } };
}

/**
 * Reads a raw query string the way WeChat does: percent-decoded, each parameter once, a redirect_uri that arrived
 * URL-encoded, and the known parameters in `order` (unknown ones, such as `connect_redirect=1`, are ignored).
 */
function readOrderedQuery(rawQuery: string, order: readonly string[]): OrderedQuery {
  const seen: string[] = [];
  const values = new Map<string, string>();
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      return problemOf('参数编码错误 / a parameter is not valid percent-encoding');
    }
    if (values.has(key)) return problemOf(`参数重复 / parameter "${key}" appears more than once`);
    if (key === 'redirect_uri' && /[:/?]/.test(rawValue)) {
      return problemOf(
        'redirect_uri 参数错误 / redirect_uri must be URL-encoded (encodeURIComponent): WeChat reads it raw',
      );
    }
    values.set(key, value);
    seen.push(key);
  }

  // Other parameters (connect_redirect=1 and the like) are ignored, as WeChat ignores them.
  const ordered = seen.filter((key) => order.includes(key));
  const expected = order.filter((key) => values.has(key));
  if (ordered.join('&') !== expected.join('&')) {
    return problemOf(
      `参数顺序错误 / parameters out of order: WeChat matches ${order.slice(0, 5).join(', ')}` +
        `${order.length > 5 ? ` (then ${order.slice(5).join(', ')})` : ''} in this order; got ${ordered.join(', ')}`,
    );
  }
  return { ok: true, values };
}

/**
 * Checks the raw query of `GET /connect/oauth2/authorize` the way WeChat does, including the strict parameter
 * order and a redirect_uri that must arrive URL-encoded.
 */
export function checkAuthorizeQuery(rawQuery: string, apps: ReadonlyMap<string, EmulatorApp>): AuthorizeCheck {
  const query = readOrderedQuery(rawQuery, AUTHORIZE_PARAMETER_ORDER);
  return query.ok ? checkAuthorizeFields(query.values, apps) : query;
}

/**
 * Checks the raw query of `GET /connect/qrconnect` (the website QR login) the way WeChat does: the same strict
 * order and encoding as the authorize page, an Open Platform website app's appid, scope `snsapi_login`.
 */
export function checkQrConnectQuery(rawQuery: string, apps: ReadonlyMap<string, EmulatorApp>): QrConnectCheck {
  const query = readOrderedQuery(rawQuery, QRCONNECT_PARAMETER_ORDER);
  if (!query.ok) return query;
  const fields = query.values;
  for (const required of ['appid', 'redirect_uri', 'response_type', 'scope'] as const) {
    if (!fields.get(required)) return qrFail(`缺少参数 / missing parameter: ${required}`);
  }
  const appId = fields.get('appid') as string;
  const app = apps.get(appId);
  if (!app) return qrFail('appid 无效 / unknown appid', 40013);
  if ((app.kind ?? 'official-account') !== 'website') {
    return qrFail(
      'scope 参数错误或没有 scope 权限 / this appid is not an Open Platform website app: the QR login (snsapi_login) needs ' +
        "the website app's AppID (open.weixin.qq.com → 管理中心 → 网站应用), not an Official Account's",
      10005,
    );
  }
  const redirect = checkRedirectUri(fields.get('redirect_uri') as string, app);
  if (redirect) return { ok: false, problem: redirect };
  if (fields.get('response_type') !== 'code') return qrFail('response_type 参数错误 / response_type must be "code"');
  if (fields.get('scope') !== 'snsapi_login') {
    return qrFail('scope 参数错误或没有 scope 权限 / the QR login\'s scope must be snsapi_login', 10005);
  }
  const state = fields.get('state') ?? '';
  if (!STATE_PATTERN.test(state)) return qrFail('state 参数错误 / state must be [a-zA-Z0-9], at most 128 characters');
  return { ok: true, request: { appId, redirectUri: fields.get('redirect_uri') as string, state } };
}

function qrFail(message: string, errcode?: number): QrConnectCheck {
  return { ok: false, problem: { message, errcode } };
}

/** Why WeChat would refuse this redirect_uri for `app`, or undefined when it is fine. */
function checkRedirectUri(redirectUri: string, app: EmulatorApp): AuthorizeProblem | undefined {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    return { message: 'redirect_uri 参数错误 / redirect_uri is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { message: 'redirect_uri 参数错误 / redirect_uri must be http or https' };
  }
  if (redirectUri.length > MAX_REDIRECT_URI_LENGTH) {
    return { message: `redirect_uri 参数错误 / redirect_uri is longer than ${MAX_REDIRECT_URI_LENGTH} characters` };
  }
  if (app.authorizedDomains && !app.authorizedDomains.some((d) => d === url.host || d === url.hostname)) {
    return { message: 'redirect_uri 域名与后台配置不一致 / redirect_uri host is not an authorized domain', errcode: 10003 };
  }
  return undefined;
}

/** Checks the fields of an authorize request (from the query, or re-checked from the consent form). */
export function checkAuthorizeFields(
  fields: ReadonlyMap<string, string>,
  apps: ReadonlyMap<string, EmulatorApp>,
): AuthorizeCheck {
  for (const required of ['appid', 'redirect_uri', 'response_type', 'scope'] as const) {
    if (!fields.get(required)) return fail(`缺少参数 / missing parameter: ${required}`);
  }
  const appId = fields.get('appid') as string;
  const app = apps.get(appId);
  if (!app) return fail('appid 无效 / unknown appid', 40013);
  if (app.kind === 'website') {
    return fail(
      '该 appid 为开放平台网站应用，不能用于公众号网页授权 / an Open Platform (website app) appid was used on the Official ' +
        "Account authorize page: use the Official Account's AppID here, and /connect/qrconnect for the website app",
      10016,
    );
  }

  const redirectUri = fields.get('redirect_uri') as string;
  const redirect = checkRedirectUri(redirectUri, app);
  if (redirect) return { ok: false, problem: redirect };

  if (fields.get('response_type') !== 'code') {
    return fail('response_type 参数错误 / response_type must be "code"');
  }
  const scope = fields.get('scope');
  if (scope !== 'snsapi_base' && scope !== 'snsapi_userinfo') {
    return fail('scope 参数错误或没有 scope 权限 / scope must be snsapi_base or snsapi_userinfo', 10005);
  }
  const state = fields.get('state') ?? '';
  if (!STATE_PATTERN.test(state)) {
    return fail('state 参数错误 / state must be [a-zA-Z0-9], at most 128 characters');
  }
  const forcePopup = fields.get('forcePopup');
  if (forcePopup !== undefined && forcePopup !== 'true' && forcePopup !== 'false' && forcePopup !== '') {
    return fail('forcePopup 参数错误 / forcePopup must be true or false');
  }
  return { ok: true, request: { appId, redirectUri, scope, state, forcePopup: forcePopup === 'true' } };
}

/** `redirect_uri` with WeChat's callback parameters appended (before any fragment), as WeChat does. */
export function callbackUrl(redirectUri: string, params: { code?: string; state: string }): string {
  const hash = redirectUri.indexOf('#');
  const base = hash === -1 ? redirectUri : redirectUri.slice(0, hash);
  const fragment = hash === -1 ? '' : redirectUri.slice(hash);
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  const query = params.code === undefined ? `state=${params.state}` : `code=${params.code}&state=${params.state}`;
  return `${base}${separator}${query}${fragment}`;
}
