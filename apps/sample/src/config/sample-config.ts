import { randomBytes } from 'node:crypto';
import { MAX_RESULT_TTL_MS } from 'nestjs-wechat-auth';

/** WeChat's real origins, used outside demo mode unless overridden. */
export const WECHAT_OAUTH_ORIGIN = 'https://open.weixin.qq.com';
export const WECHAT_API_ORIGIN = 'https://api.weixin.qq.com';

/** Where the in-process emulator is mounted in demo mode. */
export const DEMO_EMULATOR_BASE_PATH = '/__wechat';

/** The callback route of the website QR login (the Open Platform website app). */
export const WEB_CALLBACK_PATH = '/auth/wechat/web/callback';

/** The shortest SESSION_SECRET accepted: 32 characters, i.e. 256 bits when it is random base64/hex. */
export const MIN_SESSION_SECRET_LENGTH = 32;

/**
 * The bounds of WECHAT_RESULT_TTL_MS: the library's own for `codeExchange.resultTtlMs` (at most a code's 5-minute
 * life), checked here too so that a bad value is reported by its variable's name.
 */
export const RESULT_TTL_MS_RANGE = { min: 1_000, max: MAX_RESULT_TTL_MS } as const;

export type SampleScope = 'snsapi_base' | 'snsapi_userinfo';

/**
 * The sample app's settings as read from the environment, before the HTTP port is bound. Values that depend on the
 * bound port (the default callback URL, the demo emulator's origins) are filled in by {@link resolveSampleConfig}.
 */
export interface SampleEnvConfig {
  /** `demo` when WECHAT_APP_ID is unset: the emulator is mounted in-process and plays WeChat. */
  mode: 'demo' | 'production';
  /** The port to listen on (0: any free port). */
  port: number;
  /** The Official Account's app id; in demo mode the emulator's demo app. */
  appId: string;
  /** The Official Account's app secret; in demo mode the emulator's (public) demo secret. Never log it. */
  appSecret: string;
  scope: SampleScope;
  /** WECHAT_CALLBACK_URL when set; otherwise derived from the bound port. */
  callbackURL?: string;
  /** Production only: the origins serving the authorize page and the sns API. */
  oauthBaseURL?: string;
  apiBaseURL?: string;
  /** Shared Redis for the code-exchange cache and lock; unset: in-memory, single instance. */
  redisURL?: string;
  /**
   * The Open Platform website app for the desktop QR login: the demo website app in demo mode; in production only
   * when WECHAT_WEB_APP_ID is set. Its secret is a secret: never log it.
   */
  web?: { appId: string; appSecret: string; callbackURL?: string };
  /** Signs the session cookie. Random per process in demo mode when unset. Never log it. */
  sessionSecret: string;
  /** True when SESSION_SECRET was generated for this process (demo mode): sessions do not survive a restart. */
  sessionSecretGenerated: boolean;
  /** Timeout of each call to WeChat in ms (WECHAT_HTTP_TIMEOUT_MS); the library's default (5000) when unset. */
  httpTimeoutMs?: number;
  /**
   * How long a code exchange's outcome is shared with the callback's duplicates, in ms (WECHAT_RESULT_TTL_MS); the
   * library's default (60000) when unset.
   */
  resultTtlMs?: number;
  /** Prefix of the code exchange's Redis keys (REDIS_KEY_PREFIX); the library's default when unset. */
  redisKeyPrefix?: string;
  /** Express's `trust proxy` setting (TRUST_PROXY), when the app runs behind a reverse proxy. */
  trustProxy?: boolean | number | string;
}

/** The settings the app runs with, once the port is bound. */
export interface SampleConfig extends Omit<SampleEnvConfig, 'callbackURL' | 'oauthBaseURL' | 'apiBaseURL' | 'web'> {
  /** The bound port. */
  port: number;
  /** The public URL of `GET /auth/wechat/callback`. */
  callbackURL: string;
  /** The website QR login, when configured: its app and the public URL of `GET /auth/wechat/web/callback`. */
  web?: { appId: string; appSecret: string; callbackURL: string };
  /** Origin (and path prefix) serving `/connect/oauth2/authorize`, as the browser reaches it. */
  oauthBaseURL: string;
  /** Origin (and path prefix) serving `/sns/...`, as this server reaches it. */
  apiBaseURL: string;
  /** The URL a person opens to use the app (the callback URL's origin). */
  publicOrigin: string;
  /** True when the callback URL is https: cookies get `Secure`. */
  secureCookies: boolean;
}

/** The environment is not usable; the message lists every problem and how to fix it. */
export class SampleConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid sample app configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SampleConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads a variable; an empty or blank value counts as unset (a common shape of `FOO=` in .env files). */
function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parsePort(raw: string | undefined, problems: string[]): number {
  if (raw === undefined) return 3000;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    problems.push(`PORT must be an integer from 0 to 65535 (got ${JSON.stringify(raw)}).`);
    return 3000;
  }
  return Number(raw);
}

/** Parses an absolute http(s) URL, reporting a problem that names the variable. */
function parseHttpUrl(name: string, raw: string, problems: string[], what: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${name} must be an absolute http(s) URL ${what} (got ${JSON.stringify(raw)}).`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${name} must use http or https (got ${JSON.stringify(url.protocol)}).`);
    return undefined;
  }
  if (url.username || url.password) {
    problems.push(`${name} must not carry credentials.`);
    return undefined;
  }
  if (url.hash) {
    problems.push(`${name} must not have a #fragment.`);
    return undefined;
  }
  return url;
}

/** An origin with an optional path prefix, without a trailing slash, query or fragment. */
function parseBaseUrl(name: string, raw: string | undefined, fallback: string, problems: string[]): string {
  if (raw === undefined) return fallback;
  const url = parseHttpUrl(name, raw, problems, 'such as https://api.weixin.qq.com');
  if (!url) return fallback;
  if (url.search) {
    problems.push(`${name} must not have a ?query.`);
    return fallback;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function parseTrustProxy(raw: string | undefined, problems: string[]): boolean | number | string | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d{1,3}$/.test(raw)) return Number(raw);
  // Express also accepts subnet names and comma-separated addresses ("loopback", "10.0.0.0/8, uniquelocal").
  if (/^[\w.:/, -]+$/.test(raw)) return raw;
  problems.push(
    `TRUST_PROXY must be true, false, a hop count, or addresses/subnets as Express's "trust proxy" takes them (got ${JSON.stringify(raw)}).`,
  );
  return undefined;
}

/**
 * The website app (WECHAT_WEB_APP_ID / WECHAT_WEB_APP_SECRET / WECHAT_WEB_CALLBACK_URL): the QR login for desktop
 * browsers. Demo mode uses the emulator's demo website app; production has it only when both are set.
 */
function readWebApp(
  env: Env,
  mode: 'demo' | 'production',
  officialAccountAppId: string | undefined,
  demoWebApp: { appId: string; appSecret: string } | undefined,
  problems: string[],
): SampleEnvConfig['web'] {
  const appId = read(env, 'WECHAT_WEB_APP_ID');
  const appSecret = read(env, 'WECHAT_WEB_APP_SECRET');
  const callbackRaw = read(env, 'WECHAT_WEB_CALLBACK_URL');
  let callbackURL: string | undefined;
  if (callbackRaw !== undefined) {
    const url = parseHttpUrl('WECHAT_WEB_CALLBACK_URL', callbackRaw, problems, `such as https://example.com${WEB_CALLBACK_PATH}`);
    if (url) callbackURL = url.href;
  }
  if (mode === 'demo') {
    for (const name of ['WECHAT_WEB_APP_ID', 'WECHAT_WEB_APP_SECRET']) {
      if (read(env, name) !== undefined) {
        problems.push(
          `${name} is set but WECHAT_APP_ID is not: demo mode uses the emulator's demo website app. ` +
            'Set WECHAT_APP_ID, WECHAT_APP_SECRET and SESSION_SECRET too for real apps.',
        );
      }
    }
    return demoWebApp ? { appId: demoWebApp.appId, appSecret: demoWebApp.appSecret, ...(callbackURL ? { callbackURL } : {}) } : undefined;
  }
  if (appId === undefined) {
    if (appSecret !== undefined || callbackURL !== undefined) {
      problems.push('WECHAT_WEB_APP_SECRET or WECHAT_WEB_CALLBACK_URL is set but WECHAT_WEB_APP_ID is not: set the website app\'s AppID too, or neither.');
    }
    return undefined;
  }
  let ok = true;
  if (!/^wx[0-9a-fA-F]{16}$/.test(appId)) {
    ok = false;
    problems.push(
      'WECHAT_WEB_APP_ID must be the Open Platform website app\'s AppID: "wx" and 16 hex characters ' +
        '(open.weixin.qq.com → 管理中心 → 网站应用 → 查看).',
    );
  } else if (appId === officialAccountAppId) {
    ok = false;
    problems.push(
      'WECHAT_WEB_APP_ID is the Official Account\'s AppID: the QR login needs the separate website app (网站应用) AppID from open.weixin.qq.com.',
    );
  }
  if (appSecret === undefined) {
    ok = false;
    problems.push('WECHAT_WEB_APP_SECRET is required when WECHAT_WEB_APP_ID is set (open.weixin.qq.com → 管理中心 → 网站应用 → 查看 → AppSecret).');
  } else if (!/^[A-Za-z0-9]{32}$/.test(appSecret)) {
    ok = false;
    // Never echo the value: it is a secret even when it is wrong.
    problems.push('WECHAT_WEB_APP_SECRET must be the 32 letters and digits of the website app\'s AppSecret; check for spaces or quotes.');
  }
  return ok ? { appId, appSecret: appSecret!, ...(callbackURL ? { callbackURL } : {}) } : undefined;
}

/**
 * Reads and validates the environment once at startup. Throws {@link SampleConfigError} listing every problem;
 * secrets are never echoed back. `demoApp` supplies the emulator's credentials for demo mode.
 */
export function loadSampleConfig(
  env: Env,
  demoApp: { appId: string; appSecret: string },
  demoWebApp?: { appId: string; appSecret: string },
): SampleEnvConfig {
  const problems: string[] = [];
  const port = parsePort(read(env, 'PORT'), problems);
  const appIdRaw = read(env, 'WECHAT_APP_ID');
  const appSecretRaw = read(env, 'WECHAT_APP_SECRET');
  const mode = appIdRaw === undefined ? 'demo' : 'production';

  let appId = demoApp.appId;
  let appSecret = demoApp.appSecret;
  if (mode === 'production') {
    appId = appIdRaw!;
    if (!/^wx[0-9a-fA-F]{16}$/.test(appId)) {
      problems.push(
        'WECHAT_APP_ID must be the Official Account\'s AppID: "wx" and 16 hex characters ' +
          '(mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者ID(AppID)).',
      );
    }
    if (appSecretRaw === undefined) {
      problems.push(
        'WECHAT_APP_SECRET is required when WECHAT_APP_ID is set (mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者密码(AppSecret)).',
      );
    } else if (!/^[A-Za-z0-9]{32}$/.test(appSecretRaw)) {
      // Never echo the value: it is a secret even when it is wrong.
      problems.push('WECHAT_APP_SECRET must be the 32 letters and digits of the AppSecret; check for spaces or quotes.');
    } else {
      appSecret = appSecretRaw;
    }
  } else {
    if (appSecretRaw !== undefined) {
      problems.push('WECHAT_APP_SECRET is set but WECHAT_APP_ID is not: set both for a real Official Account, or neither for demo mode.');
    }
    for (const name of ['WECHAT_OAUTH_BASE_URL', 'WECHAT_API_BASE_URL']) {
      if (read(env, name) !== undefined) {
        problems.push(
          `${name} is set but WECHAT_APP_ID is not: demo mode always uses the built-in emulator. ` +
            'To use another emulator or proxy, set WECHAT_APP_ID and WECHAT_APP_SECRET too.',
        );
      }
    }
  }

  const web = readWebApp(env, mode, appIdRaw, demoWebApp, problems);

  const scopeRaw = read(env, 'WECHAT_SCOPE') ?? 'snsapi_userinfo';
  let scope: SampleScope = 'snsapi_userinfo';
  if (scopeRaw === 'snsapi_base' || scopeRaw === 'snsapi_userinfo') scope = scopeRaw;
  else problems.push(`WECHAT_SCOPE must be snsapi_base or snsapi_userinfo (got ${JSON.stringify(scopeRaw)}).`);

  const callbackRaw = read(env, 'WECHAT_CALLBACK_URL');
  let callbackURL: string | undefined;
  if (callbackRaw !== undefined) {
    const url = parseHttpUrl('WECHAT_CALLBACK_URL', callbackRaw, problems, 'such as https://example.com/auth/wechat/callback');
    if (url) callbackURL = url.href;
  }

  const oauthBaseURL =
    mode === 'production' ? parseBaseUrl('WECHAT_OAUTH_BASE_URL', read(env, 'WECHAT_OAUTH_BASE_URL'), WECHAT_OAUTH_ORIGIN, problems) : undefined;
  const apiBaseURL =
    mode === 'production' ? parseBaseUrl('WECHAT_API_BASE_URL', read(env, 'WECHAT_API_BASE_URL'), WECHAT_API_ORIGIN, problems) : undefined;

  const redisRaw = read(env, 'REDIS_URL');
  let redisURL: string | undefined;
  if (redisRaw !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(redisRaw).protocol;
    } catch {
      // reported below
    }
    // The URL may carry a password: never echo it.
    if (protocol === 'redis:' || protocol === 'rediss:') redisURL = redisRaw;
    else problems.push('REDIS_URL must be a redis:// or rediss:// URL, such as redis://127.0.0.1:6379.');
  }

  const secretRaw = env.SESSION_SECRET === undefined || env.SESSION_SECRET === '' ? undefined : env.SESSION_SECRET;
  let sessionSecret = '';
  let sessionSecretGenerated = false;
  if (secretRaw === undefined) {
    if (mode === 'demo') {
      sessionSecret = randomBytes(32).toString('base64url');
      sessionSecretGenerated = true;
    } else {
      problems.push(
        `SESSION_SECRET is required when WECHAT_APP_ID is set: at least ${MIN_SESSION_SECRET_LENGTH} random characters, ` +
          'the same on every instance behind one load balancer (generate one with: openssl rand -base64 48).',
      );
    }
  } else if (secretRaw.length < MIN_SESSION_SECRET_LENGTH) {
    problems.push(
      `SESSION_SECRET is too short (${secretRaw.length} characters): use at least ${MIN_SESSION_SECRET_LENGTH} random characters ` +
        '(generate one with: openssl rand -base64 48).',
    );
  } else {
    sessionSecret = secretRaw;
  }

  const timeoutRaw = read(env, 'WECHAT_HTTP_TIMEOUT_MS');
  let httpTimeoutMs: number | undefined;
  if (timeoutRaw !== undefined) {
    if (/^\d{1,6}$/.test(timeoutRaw) && Number(timeoutRaw) >= 100 && Number(timeoutRaw) <= 60_000) httpTimeoutMs = Number(timeoutRaw);
    else problems.push(`WECHAT_HTTP_TIMEOUT_MS must be a whole number of milliseconds from 100 to 60000 (got ${JSON.stringify(timeoutRaw)}).`);
  }

  const resultTtlRaw = read(env, 'WECHAT_RESULT_TTL_MS');
  let resultTtlMs: number | undefined;
  if (resultTtlRaw !== undefined) {
    const { min, max } = RESULT_TTL_MS_RANGE;
    if (/^\d{1,6}$/.test(resultTtlRaw) && Number(resultTtlRaw) >= min && Number(resultTtlRaw) <= max) resultTtlMs = Number(resultTtlRaw);
    else problems.push(`WECHAT_RESULT_TTL_MS must be a whole number of milliseconds from ${min} to ${max} (got ${JSON.stringify(resultTtlRaw)}).`);
  }

  const redisKeyPrefix = read(env, 'REDIS_KEY_PREFIX');
  if (redisKeyPrefix !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(redisKeyPrefix)) {
    problems.push('REDIS_KEY_PREFIX must be 1-64 letters, digits or _ . : - (no braces: Redis Cluster reads them as hash tags).');
  }

  const trustProxy = parseTrustProxy(read(env, 'TRUST_PROXY'), problems);

  if (problems.length > 0) throw new SampleConfigError(problems);
  return {
    mode,
    port,
    appId,
    appSecret,
    scope,
    callbackURL,
    ...(web ? { web } : {}),
    oauthBaseURL,
    apiBaseURL,
    redisURL,
    httpTimeoutMs,
    resultTtlMs,
    redisKeyPrefix,
    sessionSecret,
    sessionSecretGenerated,
    trustProxy,
  };
}

/**
 * Completes the settings once the port is bound: the default callback URL and, in demo mode, the emulator's
 * origins. The browser reaches the emulator through `localhost` (the same site as the app, so the state cookie set by
 * the login route is sent back on the callback); this process reaches it through the loopback address it bound.
 */
export function resolveSampleConfig(config: SampleEnvConfig, bound: { port: number; loopbackHost: string }): SampleConfig {
  const callbackURL = config.callbackURL ?? `http://localhost:${bound.port}/auth/wechat/callback`;
  const callback = new URL(callbackURL);
  const oauthBaseURL = config.mode === 'demo' ? `${callback.origin}${DEMO_EMULATOR_BASE_PATH}` : config.oauthBaseURL!;
  const apiBaseURL =
    config.mode === 'demo' ? `http://${bound.loopbackHost}:${bound.port}${DEMO_EMULATOR_BASE_PATH}` : config.apiBaseURL!;
  // The QR login comes back to the same site as the Official Account's callback, so the session cookie is shared.
  const web = config.web
    ? {
        appId: config.web.appId,
        appSecret: config.web.appSecret,
        callbackURL: config.web.callbackURL ?? `${callback.origin}${WEB_CALLBACK_PATH}`,
      }
    : undefined;
  return {
    mode: config.mode,
    appId: config.appId,
    appSecret: config.appSecret,
    scope: config.scope,
    redisURL: config.redisURL,
    httpTimeoutMs: config.httpTimeoutMs,
    resultTtlMs: config.resultTtlMs,
    redisKeyPrefix: config.redisKeyPrefix,
    sessionSecret: config.sessionSecret,
    sessionSecretGenerated: config.sessionSecretGenerated,
    trustProxy: config.trustProxy,
    port: bound.port,
    callbackURL,
    ...(web ? { web } : {}),
    oauthBaseURL,
    apiBaseURL,
    publicOrigin: callback.origin,
    secureCookies: callback.protocol === 'https:',
  };
}
