import type { ServerResponse } from 'node:http';
import { WechatApiClient } from '../api/wechat-api.client.js';
import { CodeExchangeService } from '../code-exchange/code-exchange.service.js';
import { LoginStateCodec } from '../state/login-state.js';
import type { ResolvedWechatAuthOptions } from '../wechat-auth.options.js';
import { WechatStrategy } from './wechat.strategy.js';

/** WeChat's script that renders the QR code in an iframe on your own page (网站应用 "内嵌二维码"). */
export const WX_LOGIN_SCRIPT_URL = 'https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js';

/** Options of {@link WechatQrStrategy.wxLoginOptions}. */
export interface WxLoginRequest {
  /** The id of the element the QR iframe is placed in (`<div id="…">`). */
  containerId: string;
  /**
   * `false` (default): after the phone confirms, WeChat navigates the top window to your callback, which then works
   * exactly like the full-page QR login. `true`: the callback loads inside the iframe; your callback must then break
   * out (e.g. answer a page that sets `window.top.location`), and the state cookie must be `SameSite=None; Secure`
   * (`stateCookie: { sameSite: 'none' }`), because browsers withhold Lax cookies from a cross-site-initiated
   * navigation inside an iframe.
   */
  selfRedirect?: boolean;
  /** Where to land after the callback. A same-site path; anything else falls back to `defaultReturnTo`. */
  returnTo?: string;
  /** QR code colour scheme, as WxLogin takes it: `black` (default) or `white`. */
  style?: 'black' | 'white';
  /** An https URL of a stylesheet WeChat applies to the QR iframe (WxLogin's `href`). */
  href?: string;
}

/**
 * The parameters of `new WxLogin({...})` (WeChat's `wxLogin.js`), in WeChat's own names. `redirect_uri` is already
 * URL-encoded, as WxLogin expects it. Pass the object to the page as JSON and call `new WxLogin(params)`.
 */
export interface WxLoginOptions {
  self_redirect: boolean;
  id: string;
  appid: string;
  scope: 'snsapi_login';
  redirect_uri: string;
  state: string;
  style?: 'black' | 'white';
  href?: string;
}

const CONTAINER_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * The website QR login (网站应用微信登录, Open Platform website app): the strategy `WechatAuthModule` registers for
 * `flow: 'website-qr'`, under its own `strategyName`, with its own AppID and AppSecret.
 *
 * The login route redirects to `https://open.weixin.qq.com/connect/qrconnect?appid=…&redirect_uri=…&
 * response_type=code&scope=snsapi_login&state=…#wechat_redirect` (WeChat's parameter order); the user scans the QR
 * code with WeChat and confirms on the phone; WeChat sends the browser to the callback with `code` and `state`. The
 * callback is the Official Account's: the same state cookie bound to this browser, the same `CodeExchangeService`
 * (codes namespaced by this AppID; a QR code's `code` lives 10 minutes, and a shared result never outlives
 * `codeExchange.resultTtlMs`, at most 5 minutes), the same token and `/sns/userinfo` endpoints, the profile read
 * once per login. The user carries the UnionID when the website app and your Official Account are bound to one
 * Open Platform account: use `wechatUserKey()` to find the same person across both.
 *
 * For a QR code embedded in your own page (WeChat's `wxLogin.js`), see {@link wxLoginOptions}.
 */
export class WechatQrStrategy extends WechatStrategy {
  constructor(
    options: ResolvedWechatAuthOptions,
    client: WechatApiClient,
    codeExchange: CodeExchangeService,
    loginState: LoginStateCodec,
  ) {
    if (options.flow !== 'website-qr') {
      throw new Error(`WechatQrStrategy needs flow "website-qr" (strategy "${options.strategyName}" is "${options.flow}")`);
    }
    super(options, client, codeExchange, loginState);
  }

  /**
   * Starts an embedded QR login (WeChat's `wxLogin.js` in an iframe): binds a fresh login to this browser (sets the
   * state cookie on `response`, exactly as the login route does) and returns the parameters of
   * `new WxLogin({...})`, with that login's `state`. Render your page in the same response. The callback route is
   * the usual one, guarded by `WechatAuthGuard` with this strategy.
   *
   * @example
   * const params = qr.wxLoginOptions(res, { containerId: 'wx-qr', returnTo: '/account' });
   * // <div id="wx-qr"></div><script src="https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"></script>
   * // <script nonce="…">new WxLogin(${JSON.stringify(params)})</script>
   * @throws TypeError when `containerId` is not an HTML id of letters, digits, `_` or `-`, or `href` is not https.
   */
  wxLoginOptions(response: Pick<ServerResponse, 'getHeader' | 'setHeader'>, request: WxLoginRequest): WxLoginOptions {
    if (typeof request?.containerId !== 'string' || !CONTAINER_ID.test(request.containerId)) {
      throw new TypeError('wxLoginOptions: containerId must be an element id of 1-64 letters, digits, "_" or "-", starting with a letter');
    }
    if (request.style !== undefined && request.style !== 'black' && request.style !== 'white') {
      throw new TypeError('wxLoginOptions: style must be "black" or "white"');
    }
    if (request.href !== undefined && !isHttpsUrl(request.href)) {
      throw new TypeError('wxLoginOptions: href must be an https URL of a stylesheet');
    }
    const issued = this.issueLogin(response, { returnTo: [request.returnTo], scope: 'snsapi_login', reauth: false });
    return {
      self_redirect: request.selfRedirect === true,
      id: request.containerId,
      appid: this.appId,
      scope: 'snsapi_login',
      redirect_uri: encodeURIComponent(this.settings.callbackURL),
      state: issued.state,
      ...(request.style === undefined ? {} : { style: request.style }),
      // Normalized by the URL parser, which percent-encodes `<`, `>` and quotes: safe to inline in a page's script.
      ...(request.href === undefined ? {} : { href: new URL(request.href).href }),
    };
  }
}

function isHttpsUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
