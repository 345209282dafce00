/**
 * A simulated browser for the sample app's routes, over real HTTP with a bounded wait on every request: a cookie
 * jar (test/sample-e2e-helpers.ts), the login route, the callback, and the session check. Requests never follow
 * redirects; each answer records how long it took. Several instances behind a load balancer are just several
 * `base` URLs: the browser keeps one jar for the site, as a real one does.
 */
import { CookieJar } from '../sample-e2e-helpers.js';

/** The Accept header of a top-level navigation. */
export const ACCEPT_HTML = 'text/html,application/xhtml+xml,*/*;q=0.8';
export const SESSION_COOKIE = 'wechat_sample_session';

/** One HTTP answer, or the transport failure that replaced it (a killed instance, a timeout). */
export interface HttpAnswer {
  status: number;
  location?: string;
  setCookies: string[];
  headers: Headers;
  body: string;
  /** Wall time of the request, in ms. */
  ms: number;
  json<T = Record<string, unknown>>(): T;
}

export interface GetOptions {
  accept?: string;
  /** Give up after this long (the test then fails with a clear "hang" message). Default 15 s. */
  timeoutMs?: number;
  /** Store the answer's Set-Cookie in the jar. Default true. */
  store?: boolean;
  /** Send these cookies instead of the jar's (e.g. a clone holding one duplicate's session). */
  jar?: CookieJar;
}

export class RequestHangError extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`GET ${url} did not answer within ${timeoutMs} ms`);
    this.name = 'RequestHangError';
  }
}

/** GET with a cookie jar, manual redirects and a deadline. */
export async function httpGet(url: string, options: GetOptions & { jar: CookieJar }): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const started = performance.now();
  const cookie = options.jar.header();
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'manual',
      headers: { accept: options.accept ?? ACCEPT_HTML, ...(cookie === '' ? {} : { cookie }) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new RequestHangError(url, timeoutMs);
    throw error;
  }
  const body = await response.text();
  const setCookies = response.headers.getSetCookie();
  if (options.store !== false) options.jar.store(setCookies);
  const location = response.headers.get('location') ?? undefined;
  return {
    status: response.status,
    ...(location === undefined ? {} : { location }),
    setCookies,
    headers: response.headers,
    body,
    ms: performance.now() - started,
    json: <T>() => JSON.parse(body) as T,
  };
}

/** A login started at the sample app: the authorize URL (WeChat's, i.e. the emulator's) and its state. */
export interface StartedLogin {
  authorizeUrl: URL;
  state: string;
}

export class SampleBrowser {
  readonly jar = new CookieJar();

  get(base: string, path: string, options: GetOptions = {}): Promise<HttpAnswer> {
    return httpGet(`${base}${path}`, { ...options, jar: options.jar ?? this.jar });
  }

  /** `GET /auth/wechat[?returnTo=…]`: the jar keeps the state cookie. */
  async startLogin(base: string, returnTo?: string): Promise<StartedLogin> {
    const answer = await this.get(base, `/auth/wechat${returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`}`);
    if (answer.status !== 302 || !answer.location) {
      throw new Error(`login route answered ${answer.status} instead of a redirect to WeChat: ${answer.body.slice(0, 200)}`);
    }
    const authorizeUrl = new URL(answer.location);
    const state = authorizeUrl.searchParams.get('state');
    if (!state) throw new Error(`no state in ${answer.location}`);
    return { authorizeUrl, state };
  }

  /** The callback WeChat sends the browser to. */
  static callbackPath(code: string, state: string): string {
    return `/auth/wechat/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`;
  }

  /**
   * `GET /api/me` with the jar (or the given one): the signed-in user, or undefined without a valid session.
   * Any status but 200 and 401 is an error.
   */
  async me(base: string, jar: CookieJar = this.jar): Promise<Record<string, unknown> | undefined> {
    const answer = await this.get(base, '/api/me', { accept: 'application/json', jar, store: false });
    if (answer.status === 401) return undefined;
    if (answer.status !== 200) throw new Error(`/api/me answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    return answer.json();
  }
}

/** The jar a browser would hold after keeping `answer` (e.g. one of several duplicates' responses). */
export function jarAfter(jar: CookieJar, answer: HttpAnswer): CookieJar {
  const copy = jar.clone();
  copy.store(answer.setCookies);
  return copy;
}
