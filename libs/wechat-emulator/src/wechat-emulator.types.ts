/** A WeChat user the emulator can log in as. */
export interface EmulatorUser {
  /** Stable id; the user's openid (per app) and unionid are derived from it. */
  id: string;
  /** The nickname `/sns/userinfo` returns (Chinese text and emoji welcome). */
  nickname: string;
  /** Avatar URL; the emulator generates an SVG data: URI when absent. */
  headimgurl?: string;
  /** WeChat has answered 0 since late 2021; kept for old fixtures. */
  sex?: number;
  /** Overrides the derived unionid. */
  unionid?: string;
  /** Always log this user in as a snapshot-page virtual user (`is_snapshotuser: 1`). */
  snapshot?: boolean;
}

/**
 * What kind of WeChat app an AppID belongs to, which decides where it may sign users in:
 * - `official-account` (公众号): the authorize page `/connect/oauth2/authorize`, scopes snsapi_base / snsapi_userinfo;
 * - `website` (开放平台网站应用): the QR-login page `/connect/qrconnect`, scope snsapi_login. Its AppID on the authorize
 *   page gets WeChat's 10016; an Official Account's AppID on the QR page gets the scope error (10005).
 */
export type EmulatorAppKind = 'official-account' | 'website';

/** A WeChat app the emulator knows: an Official Account (default) or an Open Platform website app. */
export interface EmulatorApp {
  appId: string;
  appSecret: string;
  /** Default `official-account`. */
  kind?: EmulatorAppKind;
  /**
   * Bound to an Open Platform account: `unionid` is returned for snsapi_userinfo (and snsapi_login). Default: false
   * for an Official Account, true for a website app (it lives on the Open Platform). A demo user's unionid is the
   * same in every bound app; its openid differs per app.
   */
  openPlatformBound?: boolean;
  /**
   * The authorization domains (host or host:port) configured for the account. When set, the authorize page refuses
   * a redirect_uri on any other host with WeChat's 10003, as WeChat does. Unset: any host is accepted.
   */
  authorizedDomains?: string[];
}

/** The four sns endpoints, as the emulator's controls name them. */
export type EmulatorEndpoint = 'access_token' | 'userinfo' | 'refresh_token' | 'auth';

/** A failure the emulator can inject on an endpoint. */
export type EmulatorFault =
  /**
   * HTTP 200 with `{ errcode, errmsg }`, like WeChat (`-1` is "system busy"). `errmsg` overrides WeChat's text;
   * `{query}` in it is replaced by the request's raw query string, to test that clients redact what a gateway echoes.
   */
  | { kind: 'errcode'; errcode: number; errmsg?: string }
  /** An HTTP error status with a small gateway-like HTML body. */
  | { kind: 'http'; status: number }
  /** Never answers (until the caller gives up, or the emulator is reset or closed). */
  | { kind: 'hang' }
  /** Resets the TCP connection without answering. */
  | { kind: 'reset' }
  /** HTTP 200 with an HTML page instead of JSON (what a captive portal or a WAF serves). */
  | { kind: 'html' }
  /** HTTP 200 with an empty body. */
  | { kind: 'empty' };

/** Options of {@link injectFault}. */
export interface InjectFaultOptions {
  /** How many calls the fault answers; default: every call until `clearFaults()` or `reset()`. */
  times?: number;
  /**
   * For `access_token` only: whether the faulty call still spends a valid code (default true). WeChat is reported
   * to consume the code even when it answers `-1`, which is why an exchange must never be retried.
   */
  consumeCode?: boolean;
}

/** Latency added to an endpoint's answers: `fixedMs` plus a uniform random `0..jitterMs`. */
export interface EmulatorLatency {
  fixedMs: number;
  jitterMs?: number;
}

/** The Android duplicate-callback simulation applied after "Allow". */
export interface DuplicateCallbackSettings {
  /** Hit the redirect_uri twice with the same code. */
  enabled: boolean;
  /** When the first (background) hit is aborted and the visible navigation starts, in milliseconds. */
  abortAfterMs: number;
}

/** How one exchange call ended: 0 for success, WeChat's errcode, or the injected transport fault. */
export type EmulatorExchangeOutcome = number | 'hang' | 'reset' | 'html' | 'empty' | `http:${number}`;

/** Exchange calls for one code. */
export interface EmulatorCodeCounter {
  calls: number;
  outcomes: EmulatorExchangeOutcome[];
}

/** What the emulator has served since it started or was last reset. */
export interface EmulatorCounters {
  /** Calls of `/sns/oauth2/access_token`, whatever their outcome. */
  exchangeCalls: number;
  /** Exchange calls per code (bounded: the oldest codes are forgotten first). */
  exchangeByCode: Record<string, EmulatorCodeCounter>;
  /** Calls of `/sns/userinfo`. */
  userinfoCalls: number;
  /** Calls of `/sns/oauth2/refresh_token`. */
  refreshCalls: number;
  /** Calls of `/sns/auth`. */
  authCalls: number;
  /** Authorize pages served (valid requests only). */
  authorizePageViews: number;
  /** Consent decisions posted: codes minted through the page, and refusals. */
  consent: { allowed: number; denied: number };
  /** The website QR login: QR pages served, scans (confirm pages opened), confirmations and refusals on the "phone". */
  qrLogin: { pageViews: number; scans: number; allowed: number; denied: number };
  /** Codes minted, through the page or `mintCode()`. */
  codesMinted: number;
}

/** Options of {@link WechatEmulator}. */
export interface WechatEmulatorOptions {
  /** The apps the emulator knows; default: `[DEMO_APP, DEMO_WEB_APP]` (an Official Account and a website app). */
  apps?: EmulatorApp[];
  /** The users offered on the consent page and usable by `mintCode`; default: `DEMO_USERS`. */
  users?: EmulatorUser[];
  /** Lifetime of an Official Account's code in seconds (WeChat: 300). */
  codeTtlSeconds?: number;
  /** Lifetime of a website app's (QR login) code in seconds (WeChat: 600). */
  websiteCodeTtlSeconds?: number;
  /** How long a QR code can be scanned, in seconds, before the QR page says it expired. Default 300. */
  qrTicketTtlSeconds?: number;
  /** The clock in milliseconds; tests advance it to expire codes and tokens. Default `Date.now`. */
  now?: () => number;
  /** Path prefix of every route, e.g. `/__wechat` when mounted inside another server. Default `''`. */
  basePath?: string;
  /** Initial Android duplicate-callback settings (prefill the consent page). Default `{ enabled: false, abortAfterMs: 15 }`. */
  duplicateCallback?: DuplicateCallbackSettings;
  /** What a reused code answers (WeChat has answered both). Default 40163. */
  usedCodeErrcode?: 40163 | 40029;
  /**
   * The Content-Type of sns answers. WeChat sends `text/plain` with no charset (the default); some endpoints
   * send `application/json; encoding=utf-8`.
   */
  snsContentType?: string;
  /** Serve the control API under `/__emulator/` (default true). */
  controlApi?: boolean;
  /** Upper bound of each store (codes, access tokens, refresh tokens, per-code counters). Default 100,000. */
  maxEntries?: number;
}

/** Parameters of {@link mintCode}. */
export interface MintCodeParams {
  /** Default: the first app. */
  appId?: string;
  /** One of the configured users' ids. Default: the first user. Ignored when `nickname` is given. */
  userId?: string;
  /** Log in an ad-hoc user with this nickname (as typed on the consent page). */
  nickname?: string;
  /**
   * Default `snsapi_userinfo` for an Official Account, `snsapi_login` for a website app (its only scope); a scope the
   * app's kind cannot grant is refused.
   */
  scope?: 'snsapi_base' | 'snsapi_userinfo' | 'snsapi_login';
  /** Log in as a snapshot-page virtual user. */
  snapshot?: boolean;
}
