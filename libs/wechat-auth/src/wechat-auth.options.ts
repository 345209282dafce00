import { Transform, Type, plainToInstance } from 'class-transformer';
import type { TransformFnParams } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  ValidateNested,
  validateSync,
} from 'class-validator';
import type { ValidationError, ValidationOptions } from 'class-validator';
import type { WechatLang, WechatLoginScope } from './api/wechat-api.types.js';
import { CodeExchangeOptions } from './code-exchange/code-exchange.options.js';
import { WechatAuthOptionsError } from './errors/wechat-auth.errors.js';
import { isSafeReturnTo } from './state/return-to.js';
import {
  DEFAULT_API_BASE_URL,
  DEFAULT_OAUTH_BASE_URL,
  DEFAULT_STRATEGY_NAME,
  MAX_RETURN_TO_LENGTH,
  STATE_COOKIE_NAME_PREFIX,
} from './wechat-auth.constants.js';

// Values read through ConfigService arrive as strings: accept "5000" and "true"/"false" where a number or a boolean
// is expected, but never guess beyond that (Boolean("false") is true, which is why implicit conversion is off).
const toNumber = ({ value }: TransformFnParams): unknown =>
  typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
const toBoolean = ({ value }: TransformFnParams): unknown => {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return value;
};

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function parseHttpUrl(value: unknown, allowQuery = true): URL | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || url.hash || value.includes('#')) return undefined;
    if (!allowQuery && value.includes('?')) return undefined;
    return url;
  } catch {
    return undefined;
  }
}

/** An absolute http(s) URL without credentials or fragment (and, for a base URL, without a query). */
function IsHttpUrl(validationOptions: ValidationOptions, allowQuery = true): PropertyDecorator {
  return ValidateBy(
    { name: 'isHttpUrl', validator: { validate: (value) => parseHttpUrl(value, allowQuery) !== undefined } },
    validationOptions,
  );
}

/** A same-site path (see `isSafeReturnTo`). */
function IsSafeReturnTo(validationOptions: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isSafeReturnTo', validator: { validate: (value) => isSafeReturnTo(value) } }, validationOptions);
}

/** The scopes each flow may ask for. */
const SCOPES_OF_FLOW: Readonly<Record<WechatAuthFlow, readonly WechatLoginScope[]>> = {
  'official-account': ['snsapi_base', 'snsapi_userinfo'],
  'website-qr': ['snsapi_login'],
};

function flowOf(options: object): WechatAuthFlow {
  return (options as { flow?: unknown }).flow === 'website-qr' ? 'website-qr' : 'official-account';
}

/** A scope the configured `flow` can ask for (an unknown flow is reported on its own and checked as the default). */
function IsScopeOfFlow(): PropertyDecorator {
  return ValidateBy({
    name: 'isScopeOfFlow',
    validator: {
      validate: (value, args) => (SCOPES_OF_FLOW[flowOf(args?.object ?? {})] as readonly unknown[]).includes(value),
      defaultMessage: (args) =>
        flowOf(args?.object ?? {}) === 'website-qr'
          ? 'scope must be "snsapi_login" (or unset) with flow "website-qr": it is the website QR login\'s only scope'
          : 'scope must be "snsapi_base" or "snsapi_userinfo" (default)',
    },
  });
}

/** `false` or a query parameter name. */
function IsQueryParamNameOrFalse(validationOptions: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isQueryParamNameOrFalse',
      validator: { validate: (value) => value === false || (typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value)) },
    },
    validationOptions,
  );
}

/**
 * The cookie that binds a login to the browser that started it. It holds a random nonce, the time it was issued,
 * the `returnTo` path and the requested scope, HMAC-signed; the `state` sent to WeChat is derived from it.
 */
export class WechatStateCookieOptions {
  /**
   * Cookie name. Default `wechat_auth_state_<strategyName>`, so two strategies in one app never overwrite each
   * other's login. A `__Host-` prefix is allowed (then `secure` must be on, `path` `/` and no `domain`).
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, {
    message: 'stateCookie.name must be 1-64 cookie-token characters (letters, digits and !#$%&\'*+.^_`|~-), e.g. "wechat_auth_state"',
  })
  name?: string;

  /**
   * How long a login may take, in seconds, from the redirect to WeChat until the callback (default 600). A user
   * may read the consent page for a while; WeChat's code itself lives 5 minutes after it is issued.
   */
  @IsOptional()
  @Transform(toNumber)
  @IsInt({ message: 'stateCookie.maxAgeSeconds must be a whole number of seconds between 60 and 3600 (default 600)' })
  @Min(60, { message: 'stateCookie.maxAgeSeconds must be at least 60 seconds: a user needs time on WeChat\'s consent page' })
  @Max(3600, { message: 'stateCookie.maxAgeSeconds must be at most 3600 seconds: a login is not a session' })
  maxAgeSeconds?: number = 600;

  /** Send the cookie only over https. Default: on when `callbackURL` is https. */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'stateCookie.secure must be true or false (leave it unset to follow the callbackURL scheme)' })
  secure?: boolean;

  /**
   * `lax` (default) or `none` (needs `secure`). `strict` is refused: WeChat redirects back to the callback from
   * another site, and a strict cookie would not be sent with that navigation, so every login would fail.
   */
  @IsOptional()
  @IsIn(['lax', 'none'], {
    message:
      'stateCookie.sameSite must be "lax" (recommended) or "none"; "strict" cookies are not sent on WeChat\'s redirect back to your callback',
  })
  sameSite?: 'lax' | 'none' = 'lax';

  /** Cookie path; it must cover both the login and the callback routes. Default `/`. */
  @IsOptional()
  @Matches(/^\/[\x21-\x3a\x3c-\x7e]{0,255}$/, { message: 'stateCookie.path must start with "/" and contain no spaces or ";" (default "/")' })
  path?: string = '/';

  /** Cookie domain; unset (the default) ties the cookie to the callback's exact host, which is the safest choice. */
  @IsOptional()
  @Matches(/^\.?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, {
    message: 'stateCookie.domain must be a host name such as "example.com" (or leave it unset)',
  })
  domain?: string;
}

/**
 * Menu-entry mode: accept a callback whose `state` is one fixed value and that comes with no state cookie, for a
 * WeChat menu (自定义菜单) that links straight to the authorize URL.
 *
 * WEAKER PROTECTION, opt-in only. Without a cookie there is nothing that ties the callback to the browser that
 * started the login, so (1) the duplicate-callback result is bound to the code itself: anyone who learns the code
 * (Referer, logs, a shared link) while the result is cached (`codeExchange.resultTtlMs`) is logged in as that user;
 * (2) login CSRF: an attacker can send a victim a callback link carrying the attacker's own code and log the victim
 * into the attacker's account. Prefer linking the menu to your login route, which sets the cookie first.
 */
export class WechatMenuEntryOptions {
  /** Accept fixed-state callbacks without a state cookie. Default false. */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'menuEntry.enabled must be true or false' })
  enabled?: boolean = false;

  /** The fixed `state` in the menu's authorize URL: 1-32 letters or digits (WeChat allows `[A-Za-z0-9]`). Default `menu`. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9]{1,32}$/, { message: 'menuEntry.state must be 1-32 letters or digits, e.g. "menu"' })
  state?: string = 'menu';

  /** Where a menu-entry login lands. Default: `defaultReturnTo`. */
  @IsOptional()
  @IsSafeReturnTo({
    message: `menuEntry.returnTo must be a same-site path starting with a single "/" (no scheme, "//", backslash, spaces; at most ${MAX_RETURN_TO_LENGTH} characters)`,
  })
  returnTo?: string;
}

/**
 * Which WeChat login a registration of `WechatAuthModule` performs:
 * - `official-account` (default): 公众号网页授权 inside WeChat, `/connect/oauth2/authorize`, scope `snsapi_base` or
 *   `snsapi_userinfo`, an Official Account's AppID (mp.weixin.qq.com);
 * - `website-qr`: 网站应用微信登录 on any other browser, `/connect/qrconnect` (a QR code the user scans with WeChat),
 *   scope `snsapi_login`, an Open Platform website app's AppID (open.weixin.qq.com). Codes live 10 minutes.
 */
export type WechatAuthFlow = 'official-account' | 'website-qr';

/** The flows, for validation and documentation. */
export const WECHAT_AUTH_FLOWS: readonly WechatAuthFlow[] = Object.freeze(['official-account', 'website-qr']);

/**
 * Options of `WechatAuthModule.forRoot()` / `forRootAsync()`. Validated once at startup: a bad or missing value
 * fails the boot with a {@link WechatAuthOptionsError} naming each field and how to fix it. Numbers and booleans
 * may be given as strings (as ConfigService returns them).
 *
 * Register the module once per WeChat app, each with its own `strategyName`: e.g. an Official Account
 * (`flow: 'official-account'`, the default) and an Open Platform website app (`flow: 'website-qr'`) side by side.
 */
export class WechatAuthOptions {
  /**
   * The login this registration performs: `official-account` (default; in WeChat, an Official Account's AppID) or
   * `website-qr` (the QR login on desktop browsers, an Open Platform website app's AppID). See {@link WechatAuthFlow}.
   */
  @IsOptional()
  @IsIn(WECHAT_AUTH_FLOWS as WechatAuthFlow[], {
    message: 'flow must be "official-account" (default: the login inside WeChat) or "website-qr" (the QR login of an Open Platform website app)',
  })
  flow?: WechatAuthFlow = 'official-account';

  /** The Official Account's AppID: `wx` + 16 hex characters (公众号后台 → 设置与开发 → 基本配置 → 开发者ID). */
  @IsDefined({ message: 'appId is required: the AppID from WeChat MP → 设置与开发 → 基本配置 → 开发者ID(AppID)' })
  @Matches(/^wx[0-9a-fA-F]{16}$/, {
    message: 'appId must look like wx followed by 16 hex characters (WeChat MP → 设置与开发 → 基本配置 → 开发者ID(AppID))',
  })
  appId!: string;

  /** The AppSecret (32 letters and digits; 设置与开发 → 基本配置 → 开发者密码). Never logged, never in an error. */
  @IsDefined({ message: 'appSecret is required: the AppSecret from WeChat MP → 设置与开发 → 基本配置 → 开发者密码(AppSecret)' })
  @Matches(/^[A-Za-z0-9]{32}$/, {
    message:
      'appSecret must be the 32 letters and digits of the AppSecret (WeChat MP → 设置与开发 → 基本配置 → 开发者密码(AppSecret)); check for spaces or quotes',
  })
  appSecret!: string;

  /**
   * The absolute http(s) URL of your callback route, e.g. `https://example.com/auth/wechat/callback`. Its host must
   * be the account's 网页授权域名 (设置与开发 → 公众号设置 → 功能设置), or WeChat shows error 10003.
   */
  @IsDefined({ message: 'callbackURL is required: the absolute URL of your callback route, e.g. https://example.com/auth/wechat/callback' })
  @IsHttpUrl({
    message:
      'callbackURL must be an absolute http(s) URL without credentials or #fragment, e.g. https://example.com/auth/wechat/callback (its host must be the 网页授权域名)',
  })
  callbackURL!: string;

  /**
   * Default scope. Official Account: `snsapi_userinfo` (default; consent page, then the profile is read once per
   * login) or `snsapi_base` (silent, openid only). Website QR login: `snsapi_login`, its only scope (the default
   * there; the profile is read once per login).
   */
  @IsOptional()
  @IsScopeOfFlow()
  scope?: WechatLoginScope = 'snsapi_userinfo';

  /** Language of the profile's region fields: `zh_CN` (default), `zh_TW` or `en`. */
  @IsOptional()
  @IsIn(['zh_CN', 'zh_TW', 'en'], { message: 'lang must be "zh_CN" (default), "zh_TW" or "en"' })
  lang?: WechatLang = 'zh_CN';

  /** Origin of the sns API (default `https://api.weixin.qq.com`); override for the emulator or an egress proxy. */
  @IsOptional()
  @IsHttpUrl({ message: `apiBaseURL must be an absolute http(s) URL without query, such as ${DEFAULT_API_BASE_URL} (the default)` }, false)
  apiBaseURL?: string = DEFAULT_API_BASE_URL;

  /** Origin of the authorize page (default `https://open.weixin.qq.com`); override for the emulator. */
  @IsOptional()
  @IsHttpUrl({ message: `oauthBaseURL must be an absolute http(s) URL without query, such as ${DEFAULT_OAUTH_BASE_URL} (the default)` }, false)
  oauthBaseURL?: string = DEFAULT_OAUTH_BASE_URL;

  /** Timeout of each call to WeChat, in milliseconds (default 5000). A timeout maps to 504. */
  @IsOptional()
  @Transform(toNumber)
  @IsInt({ message: 'httpTimeoutMs must be a whole number of milliseconds between 500 and 60000 (default 5000)' })
  @Min(500, { message: 'httpTimeoutMs must be at least 500 ms: WeChat is often slower than that from outside mainland China' })
  @Max(60_000, { message: 'httpTimeoutMs must be at most 60000 ms: users do not wait longer' })
  httpTimeoutMs?: number = 5000;

  /**
   * The Passport strategy name (default `wechat`). Give each app its own name to register two Official Accounts in
   * one Nest app, and pick one per route with `@WechatAuth({ strategy })`.
   */
  @IsOptional()
  @Matches(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, {
    message: 'strategyName must start with a letter and hold at most 64 letters, digits, "_" or "-", e.g. "wechat-mp"',
  })
  strategyName?: string = DEFAULT_STRATEGY_NAME;

  /**
   * Secret that signs the state cookie (at least 32 characters). Default: derived from `appSecret` with HKDF, so
   * every instance of the app verifies every other's logins with no extra configuration. Set it to rotate state
   * signing independently of the AppSecret.
   */
  @IsOptional()
  @IsString({ message: 'stateSecret must be a string of at least 32 characters (or leave it unset to derive it from appSecret)' })
  @MinLength(32, {
    message: 'stateSecret must be at least 32 characters, e.g. `openssl rand -base64 48` (or leave it unset to derive it from appSecret)',
  })
  stateSecret?: string;

  /** The state cookie's settings. */
  @IsOptional()
  @ValidateNested()
  @Type(() => WechatStateCookieOptions)
  stateCookie?: WechatStateCookieOptions;

  /** Where the callback sends the user when the login carried no valid `returnTo`. A same-site path; default `/`. */
  @IsOptional()
  @IsSafeReturnTo({
    message: `defaultReturnTo must be a same-site path starting with a single "/" (no scheme, "//", backslash or spaces; at most ${MAX_RETURN_TO_LENGTH} characters)`,
  })
  defaultReturnTo?: string = '/';

  /**
   * The login route's query parameter that carries `returnTo` (default `returnTo`, e.g. `/auth/wechat?returnTo=/orders`),
   * or `false` to ignore the query. Only same-site paths are kept; anything else becomes `defaultReturnTo`.
   */
  @IsOptional()
  @IsQueryParamNameOrFalse({ message: 'returnToQueryParam must be a query parameter name such as "returnTo", or false' })
  returnToQueryParam?: string | false = 'returnTo';

  /**
   * When the code turns out unusable (40029, 40163, 42003) and no earlier exchange of it can be shared, redirect
   * once to WeChat for a fresh code instead of failing (default true). Never twice in a row: a second failure is a 401.
   */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'reauthorizeOnCodeUnusable must be true or false (default true)' })
  reauthorizeOnCodeUnusable?: boolean = true;

  /** The duplicate-callback coordination (result TTL, lock TTL, Redis); see `CodeExchangeOptions`. */
  @IsOptional()
  @ValidateNested()
  @Type(() => CodeExchangeOptions)
  codeExchange?: CodeExchangeOptions;

  /** Menu-entry mode (explicit opt-in, weaker protection; see {@link WechatMenuEntryOptions}). */
  @IsOptional()
  @ValidateNested()
  @Type(() => WechatMenuEntryOptions)
  menuEntry?: WechatMenuEntryOptions;
}

/** The state cookie's settings with every default applied. */
export interface ResolvedStateCookieOptions {
  readonly name: string;
  readonly maxAgeSeconds: number;
  readonly secure: boolean;
  readonly sameSite: 'lax' | 'none';
  readonly path: string;
  readonly domain?: string;
}

/** Menu-entry settings with every default applied. */
export interface ResolvedMenuEntryOptions {
  readonly enabled: boolean;
  readonly state: string;
  readonly returnTo: string;
}

/**
 * The options after validation, with every default applied, as injected with `@InjectWechatAuthOptions()`.
 * Secrets (`appSecret`, `stateSecret`) are deliberately absent.
 */
export interface ResolvedWechatAuthOptions {
  /** The login this registration performs (default `official-account`). */
  readonly flow: WechatAuthFlow;
  readonly appId: string;
  readonly callbackURL: string;
  /** `snsapi_base` or `snsapi_userinfo` for an Official Account; always `snsapi_login` for `website-qr`. */
  readonly scope: WechatLoginScope;
  readonly lang: WechatLang;
  readonly apiBaseURL: string;
  readonly oauthBaseURL: string;
  readonly httpTimeoutMs: number;
  readonly strategyName: string;
  readonly stateCookie: ResolvedStateCookieOptions;
  readonly defaultReturnTo: string;
  readonly returnToQueryParam: string | false;
  readonly reauthorizeOnCodeUnusable: boolean;
  readonly codeExchange: CodeExchangeOptions;
  readonly menuEntry: ResolvedMenuEntryOptions;
}

/** What {@link validateWechatAuthOptions} returns: the secret-free view, and the secrets kept apart. */
export interface ValidatedWechatAuthOptions {
  readonly options: ResolvedWechatAuthOptions;
  readonly appSecret: string;
  readonly stateSecret?: string;
}

const TOP_LEVEL_KEYS = [
  'flow',
  'appId',
  'appSecret',
  'callbackURL',
  'scope',
  'lang',
  'apiBaseURL',
  'oauthBaseURL',
  'httpTimeoutMs',
  'strategyName',
  'stateSecret',
  'stateCookie',
  'defaultReturnTo',
  'returnToQueryParam',
  'reauthorizeOnCodeUnusable',
  'codeExchange',
  'menuEntry',
];

/**
 * The fixed messages name the Official Account's console; a website app's AppID, AppSecret and callback domain are
 * found elsewhere (open.weixin.qq.com), so the same problems are told with the right directions.
 */
const WEBSITE_APP_PROBLEMS: ReadonlyArray<readonly [string, string]> = [
  [
    'appId is required',
    'appId is required: the website app\'s AppID from open.weixin.qq.com → 管理中心 → 网站应用 → 查看 (not an Official Account\'s AppID)',
  ],
  [
    'appId must look like',
    'appId must look like wx followed by 16 hex characters (open.weixin.qq.com → 管理中心 → 网站应用 → 查看 → AppID)',
  ],
  [
    'appSecret is required',
    'appSecret is required: the website app\'s AppSecret from open.weixin.qq.com → 管理中心 → 网站应用 → 查看 → AppSecret',
  ],
  [
    'appSecret must be',
    'appSecret must be the 32 letters and digits of the website app\'s AppSecret (open.weixin.qq.com → 管理中心 → 网站应用 → 查看); check for spaces or quotes',
  ],
  [
    'callbackURL must be',
    'callbackURL must be an absolute http(s) URL without credentials or #fragment, e.g. https://example.com/auth/wechat/web/callback (its host must be the website app\'s 授权回调域)',
  ],
];

function toWebsiteAppProblem(problem: string): string {
  return WEBSITE_APP_PROBLEMS.find(([prefix]) => problem.startsWith(prefix))?.[1] ?? problem;
}

function describeUnknownOption(path: string): string {
  const leaf = path.slice(path.lastIndexOf('.') + 1);
  const suggestion = path.includes('.') ? undefined : TOP_LEVEL_KEYS.find((key) => key.toLowerCase() === leaf.toLowerCase());
  return `${path} is not a WechatAuthModule option${suggestion ? ` (did you mean ${suggestion}?)` : ''}`;
}

/** Flattens class-validator's tree into one line per problem, each naming its field path. Never includes a value. */
function describeValidationErrors(errors: ValidationError[], parentPath = ''): string[] {
  const problems: string[] = [];
  for (const error of errors) {
    const path = parentPath ? `${parentPath}.${error.property}` : error.property;
    const constraints = error.constraints ?? {};
    if (constraints.whitelistValidation) {
      problems.push(describeUnknownOption(path));
    } else if (constraints.isDefined) {
      problems.push(constraints.isDefined);
    } else {
      for (const message of Object.values(constraints)) {
        // Our own messages already start with the full path; nested classes owned by other files may use the bare
        // property name, so prefix the parent path for them.
        problems.push(message.startsWith(path) ? message : parentPath && message.startsWith(error.property) ? `${parentPath}.${message}` : `${path}: ${message}`);
      }
    }
    if (error.children?.length) problems.push(...describeValidationErrors(error.children, path));
  }
  return problems;
}

/**
 * class-transformer deep-copies every nested object it meets, so a live Redis client passed as
 * `codeExchange.redis` would come out as a dead plain-object clone (and its getters would run). Keep the client out
 * of the transformation and put the very same instance back.
 */
function toOptionsInstance(raw: Record<string, unknown>): WechatAuthOptions {
  const codeExchange = raw.codeExchange;
  const redis =
    typeof codeExchange === 'object' && codeExchange !== null ? (codeExchange as Record<string, unknown>).redis : undefined;
  if (typeof redis !== 'object' || redis === null) {
    return plainToInstance(WechatAuthOptions, raw, { exposeDefaultValues: true });
  }
  const { redis: _client, ...codeExchangeWithoutClient } = codeExchange as Record<string, unknown>;
  const instance = plainToInstance(
    WechatAuthOptions,
    { ...raw, codeExchange: codeExchangeWithoutClient },
    { exposeDefaultValues: true },
  );
  if (instance.codeExchange) instance.codeExchange.redis = redis as CodeExchangeOptions['redis'];
  return instance;
}

/**
 * Validates raw module options once, at startup, and applies the defaults.
 * @throws WechatAuthOptionsError listing every problem, each naming its field and how to fix it.
 */
export function validateWechatAuthOptions(raw: unknown): ValidatedWechatAuthOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WechatAuthOptionsError([
      'options must be an object such as { appId, appSecret, callbackURL } (did the forRootAsync factory return nothing?)',
    ]);
  }
  const instance = toOptionsInstance(raw as Record<string, unknown>);
  // The class's default scope is the Official Account's; a website QR login left unset means its only scope.
  if ((raw as Record<string, unknown>).scope === undefined && instance.flow === 'website-qr') instance.scope = 'snsapi_login';
  const problems = describeValidationErrors(
    validateSync(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
    }),
  );

  const flow: WechatAuthFlow = instance.flow ?? 'official-account';
  if (flow === 'website-qr') {
    problems.splice(0, problems.length, ...problems.map(toWebsiteAppProblem));
    if (instance.menuEntry?.enabled === true) {
      problems.push('menuEntry is for Official Account menus (flow "official-account"); a website QR login always starts on your login route');
    }
  }
  const callback = parseHttpUrl(instance.callbackURL);
  const cookie = instance.stateCookie ?? new WechatStateCookieOptions();
  const strategyName = instance.strategyName ?? DEFAULT_STRATEGY_NAME;
  const secure = cookie.secure ?? callback?.protocol === 'https:';
  const cookieName = cookie.name ?? `${STATE_COOKIE_NAME_PREFIX}${strategyName}`;
  if (cookie.sameSite === 'none' && !secure) {
    problems.push('stateCookie.sameSite "none" needs stateCookie.secure true (browsers drop SameSite=None cookies without Secure)');
  }
  if (cookie.secure === true && callback?.protocol === 'http:' && !LOOPBACK_HOSTS.has(callback.hostname)) {
    problems.push('stateCookie.secure is true but callbackURL is http: browsers would never send the state cookie back; use an https callbackURL');
  }
  if (cookieName.startsWith('__Host-') && (!secure || (cookie.path ?? '/') !== '/' || cookie.domain !== undefined)) {
    problems.push('stateCookie.name uses the __Host- prefix, which needs secure true, path "/" and no domain');
  }
  if (cookieName.startsWith('__Secure-') && !secure) {
    problems.push('stateCookie.name uses the __Secure- prefix, which needs secure true');
  }
  if (problems.length > 0) throw new WechatAuthOptionsError(problems);

  const menu = instance.menuEntry ?? new WechatMenuEntryOptions();
  const defaultReturnTo = instance.defaultReturnTo ?? '/';
  const options: ResolvedWechatAuthOptions = Object.freeze({
    flow,
    appId: instance.appId,
    callbackURL: instance.callbackURL,
    scope: flow === 'website-qr' ? 'snsapi_login' : (instance.scope ?? 'snsapi_userinfo'),
    lang: instance.lang ?? 'zh_CN',
    apiBaseURL: instance.apiBaseURL ?? DEFAULT_API_BASE_URL,
    oauthBaseURL: instance.oauthBaseURL ?? DEFAULT_OAUTH_BASE_URL,
    httpTimeoutMs: instance.httpTimeoutMs ?? 5000,
    strategyName,
    stateCookie: Object.freeze({
      name: cookieName,
      maxAgeSeconds: cookie.maxAgeSeconds ?? 600,
      secure,
      sameSite: cookie.sameSite ?? 'lax',
      path: cookie.path ?? '/',
      ...(cookie.domain === undefined ? {} : { domain: cookie.domain }),
    }),
    defaultReturnTo,
    returnToQueryParam: instance.returnToQueryParam ?? 'returnTo',
    reauthorizeOnCodeUnusable: instance.reauthorizeOnCodeUnusable ?? true,
    codeExchange: instance.codeExchange ?? new CodeExchangeOptions(),
    menuEntry: Object.freeze({
      enabled: menu.enabled ?? false,
      state: menu.state ?? 'menu',
      returnTo: menu.returnTo ?? defaultReturnTo,
    }),
  });
  // The secrets are non-enumerable so that logging or serializing this object cannot print them.
  const validated = { options } as ValidatedWechatAuthOptions;
  Object.defineProperty(validated, 'appSecret', { value: instance.appSecret, enumerable: false });
  if (instance.stateSecret !== undefined) {
    Object.defineProperty(validated, 'stateSecret', { value: instance.stateSecret, enumerable: false });
  }
  return Object.freeze(validated);
}
