import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  callbackUrl,
  checkAuthorizeFields,
  checkAuthorizeQuery,
  checkQrConnectQuery,
  type AuthorizeRequest,
  type QrConnectRequest,
} from './authorize-request.js';
import { BoundedExpiryMap } from './bounded-expiry-map.js';
import { avatarFor, DEMO_APP, DEMO_USERS, DEMO_WEB_APP } from './demo-data.js';
import {
  CUSTOM_USER_CHOICE,
  renderConsentPage,
  renderDuplicateCallbackPage,
  renderErrorPage,
  renderFakeQrSvg,
  renderIndexPage,
  renderQrConfirmPage,
  renderQrConnectPage,
  renderQrDecisionPage,
  type QrLoginStatus,
} from './pages.js';
import { BadRequestBodyError, readForm, readJson } from './read-body.js';
import type {
  DuplicateCallbackSettings,
  EmulatorApp,
  EmulatorCodeCounter,
  EmulatorCounters,
  EmulatorEndpoint,
  EmulatorExchangeOutcome,
  EmulatorFault,
  EmulatorLatency,
  EmulatorUser,
  InjectFaultOptions,
  MintCodeParams,
  WechatEmulatorOptions,
} from './wechat-emulator.types.js';

type Scope = 'snsapi_base' | 'snsapi_userinfo' | 'snsapi_login';

/** Who a code or token belongs to, frozen at consent time. */
interface Identity {
  appId: string;
  userId: string;
  nickname: string;
  headimgurl: string;
  sex: number;
  openid: string;
  /** The user's unionid; only returned when the scope and the app allow it. */
  unionid: string;
  scope: Scope;
  snapshot: boolean;
}

interface CodeRecord {
  identity: Identity;
  issuedAt: number;
  /** 5 minutes for an Official Account's code, 10 for a website app's (QR login). */
  ttlMs: number;
  usedAt?: number;
}

/** One QR code shown on a QR-login page, and what the "phone" did with it. */
interface QrTicket {
  request: QrConnectRequest;
  expiresAt: number;
  status: 'waiting' | 'scanned' | 'confirmed' | 'denied';
  /** `redirect_uri?code=…&state=…`, once confirmed. */
  target?: string;
  /** Long polls waiting for the next change (bounded by MAX_QR_WAITERS). */
  waiters: Set<() => void>;
}

interface TokenRecord {
  identity: Identity;
  expiresAt: number;
}

interface ActiveFault {
  endpoint: EmulatorEndpoint;
  fault: EmulatorFault;
  remaining: number;
  consumeCode: boolean;
}

/** A JSON answer of an sns endpoint: WeChat's body. */
type SnsAnswer = Record<string, unknown>;

const ENDPOINTS: readonly EmulatorEndpoint[] = ['access_token', 'userinfo', 'refresh_token', 'auth'];
const SNS_ROUTES: Readonly<Record<string, EmulatorEndpoint>> = {
  '/sns/oauth2/access_token': 'access_token',
  '/sns/userinfo': 'userinfo',
  '/sns/oauth2/refresh_token': 'refresh_token',
  '/sns/auth': 'auth',
};

const ERRMSG: Readonly<Record<number, string>> = {
  [-1]: 'system error',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40030: 'invalid refresh_token',
  40125: 'invalid appsecret',
  40163: 'code been used',
  41001: 'access_token missing',
  41002: 'appid missing',
  41003: 'refresh_token missing',
  41004: 'appsecret missing',
  41008: 'missing code',
  41009: 'missing openid',
  42001: 'access_token expired',
  42002: 'refresh_token expired',
  42003: 'code expired',
  48001: 'api unauthorized',
};

const ACCESS_TOKEN_TTL_SECONDS = 7200;
const REFRESH_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;
/** Stable across restarts, so a demo user keeps the same openid: these ids identify nobody real. */
const ID_DERIVATION_KEY = 'nestjs-wechat-auth-emulator/v1';
const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MAX_NICKNAME_LENGTH = 64;
const MAX_ABORT_AFTER_MS = 60_000;
const MAX_LATENCY_MS = 600_000;
/** The longest a QR page's poll is held open waiting for a change. */
const MAX_QR_POLL_WAIT_MS = 25_000;
/** What the QR page asks for: a long poll of 20 s, re-issued until the QR code is used or expires. */
const QR_PAGE_POLL_WAIT_MS = 20_000;
/** Concurrent long polls per QR code (a page polls one at a time; more is a misbehaving client). */
const MAX_QR_WAITERS = 8;
const QR_UUID_PATTERN = /^[A-Za-z0-9_-]{16}$/;

function kindOf(app: EmulatorApp): 'official-account' | 'website' {
  return app.kind === 'website' ? 'website' : 'official-account';
}

/** Website apps live on the Open Platform: bound unless said otherwise. Official Accounts only when configured. */
function isOpenPlatformBound(app: EmulatorApp | undefined): boolean {
  return app !== undefined && (app.openPlatformBound ?? kindOf(app) === 'website');
}

/** Scopes whose token lets `/sns/userinfo` read the profile (and whose answer carries the unionid when bound). */
function grantsUserInfo(scope: Scope): boolean {
  return scope === 'snsapi_userinfo' || scope === 'snsapi_login';
}

function deriveId(...parts: string[]): string {
  return createHmac('sha256', ID_DERIVATION_KEY).update(parts.join('\0')).digest('base64url');
}

function randomCode(): string {
  let code = '';
  for (let i = 0; i < 32; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function normalizeBasePath(basePath: string | undefined): string {
  if (!basePath || basePath === '/') return '';
  if (!basePath.startsWith('/') || /[?#\s]/.test(basePath)) {
    throw new TypeError('basePath must be a path starting with "/", without query or fragment');
  }
  return basePath.replace(/\/+$/, '');
}

function checkDuplicateSettings(d: DuplicateCallbackSettings): DuplicateCallbackSettings {
  if (typeof d !== 'object' || d === null || typeof d.enabled !== 'boolean') {
    throw new TypeError('duplicateCallback.enabled must be a boolean');
  }
  if (!Number.isInteger(d.abortAfterMs) || d.abortAfterMs < 0 || d.abortAfterMs > MAX_ABORT_AFTER_MS) {
    throw new RangeError(`duplicateCallback.abortAfterMs must be an integer in 0..${MAX_ABORT_AFTER_MS}`);
  }
  return { enabled: d.enabled, abortAfterMs: d.abortAfterMs };
}

function checkNickname(nickname: string): string {
  const trimmed = nickname.trim();
  if (trimmed === '' || Array.from(trimmed).length > MAX_NICKNAME_LENGTH || /\p{Cc}/u.test(trimmed)) {
    throw new RangeError(`nickname must be 1..${MAX_NICKNAME_LENGTH} characters, without control characters`);
  }
  return trimmed;
}

function isEndpoint(value: unknown): value is EmulatorEndpoint {
  return typeof value === 'string' && (ENDPOINTS as readonly string[]).includes(value);
}

function checkFault(fault: unknown): EmulatorFault {
  const f = fault as { kind?: unknown; errcode?: unknown; errmsg?: unknown; status?: unknown } | null;
  switch (f?.kind) {
    case 'errcode':
      if (!Number.isInteger(f.errcode) || f.errcode === 0) throw new TypeError('fault.errcode must be a non-zero integer');
      if (f.errmsg !== undefined && (typeof f.errmsg !== 'string' || f.errmsg.length > 1000)) {
        throw new TypeError('fault.errmsg must be a string of at most 1000 characters');
      }
      return { kind: 'errcode', errcode: f.errcode as number, errmsg: f.errmsg as string | undefined };
    case 'http':
      if (!Number.isInteger(f.status) || (f.status as number) < 300 || (f.status as number) > 599) {
        throw new RangeError('fault.status must be an HTTP status in 300..599');
      }
      return { kind: 'http', status: f.status as number };
    case 'hang':
    case 'reset':
    case 'html':
    case 'empty':
      return { kind: f.kind };
    default:
      throw new TypeError('fault.kind must be one of errcode, http, hang, reset, html, empty');
  }
}

/**
 * A WeChat web-authorization emulator: the authorize/consent page and the four sns endpoints, speaking WeChat's
 * wire format, with test controls (latency, faults, counters, code minting) in-process and over HTTP.
 *
 * Plain `node:http`: run it standalone with {@link listen}, or mount {@link handle} in any server or framework.
 */
export class WechatEmulator {
  private readonly apps: ReadonlyMap<string, EmulatorApp>;
  private readonly users: readonly EmulatorUser[];
  private readonly codeTtlMs: number;
  private readonly websiteCodeTtlMs: number;
  private readonly qrTicketTtlMs: number;
  private readonly now: () => number;
  private readonly basePath: string;
  private readonly usedCodeErrcode: 40163 | 40029;
  private readonly snsContentType: string;
  private readonly controlApi: boolean;
  private readonly initialDuplicate: DuplicateCallbackSettings;

  private readonly codes: BoundedExpiryMap<string, CodeRecord>;
  private readonly accessTokens: BoundedExpiryMap<string, TokenRecord>;
  private readonly refreshTokens: BoundedExpiryMap<string, TokenRecord>;
  private readonly exchangeByCode: BoundedExpiryMap<string, EmulatorCodeCounter>;
  private readonly qrTickets: BoundedExpiryMap<string, QrTicket>;

  private duplicate: DuplicateCallbackSettings;
  private latency = new Map<EmulatorEndpoint, Required<EmulatorLatency>>();
  private faults: ActiveFault[] = [];
  private counts = WechatEmulator.zeroCounts();
  /** Answers being delayed or held by a `hang` fault: closed on reset() and close(). */
  private readonly heldResponses = new Set<ServerResponse>();
  private server: Server | undefined;
  private currentOrigin: string | undefined;

  constructor(options: WechatEmulatorOptions = {}) {
    const apps = options.apps ?? [{ ...DEMO_APP }, { ...DEMO_WEB_APP }];
    if (apps.length === 0) throw new TypeError('apps must not be empty');
    const appMap = new Map<string, EmulatorApp>();
    for (const app of apps) {
      if (!/^[\x21-\x7e]{1,64}$/.test(app.appId ?? '') || !/^[\x21-\x7e]{1,128}$/.test(app.appSecret ?? '')) {
        throw new TypeError('each app needs a printable appId and appSecret');
      }
      if (appMap.has(app.appId)) throw new TypeError(`duplicate appId ${app.appId}`);
      if (app.kind !== undefined && app.kind !== 'official-account' && app.kind !== 'website') {
        throw new TypeError('app kind must be "official-account" or "website"');
      }
      appMap.set(app.appId, { ...app });
    }
    this.apps = appMap;

    const users = (options.users ?? DEMO_USERS).map((user) => ({
      ...user,
      nickname: checkNickname(user.nickname),
      headimgurl: user.headimgurl ?? avatarFor(user.nickname),
    }));
    const ids = new Set<string>();
    for (const user of users) {
      if (!user.id || ids.has(user.id) || user.id.startsWith('nickname:')) {
        throw new TypeError(`user ids must be unique, non-empty and not start with "nickname:" (${user.id})`);
      }
      ids.add(user.id);
    }
    this.users = users;

    const ttl = options.codeTtlSeconds ?? 300;
    if (!(ttl > 0)) throw new RangeError('codeTtlSeconds must be positive');
    this.codeTtlMs = ttl * 1000;
    const websiteTtl = options.websiteCodeTtlSeconds ?? 600;
    if (!(websiteTtl > 0)) throw new RangeError('websiteCodeTtlSeconds must be positive');
    this.websiteCodeTtlMs = websiteTtl * 1000;
    const qrTtl = options.qrTicketTtlSeconds ?? 300;
    if (!(qrTtl > 0)) throw new RangeError('qrTicketTtlSeconds must be positive');
    this.qrTicketTtlMs = qrTtl * 1000;
    this.now = options.now ?? Date.now;
    this.basePath = normalizeBasePath(options.basePath);
    this.usedCodeErrcode = options.usedCodeErrcode ?? 40163;
    if (this.usedCodeErrcode !== 40163 && this.usedCodeErrcode !== 40029) {
      throw new TypeError('usedCodeErrcode must be 40163 or 40029');
    }
    this.snsContentType = options.snsContentType ?? 'text/plain';
    this.controlApi = options.controlApi ?? true;
    this.initialDuplicate = checkDuplicateSettings(options.duplicateCallback ?? { enabled: false, abortAfterMs: 15 });
    this.duplicate = { ...this.initialDuplicate };

    const maxEntries = options.maxEntries ?? 100_000;
    this.codes = new BoundedExpiryMap(maxEntries);
    this.accessTokens = new BoundedExpiryMap(maxEntries);
    this.refreshTokens = new BoundedExpiryMap(maxEntries);
    this.exchangeByCode = new BoundedExpiryMap(maxEntries);
    this.qrTickets = new BoundedExpiryMap(maxEntries);

    this.handle = this.handle.bind(this);
  }

  private static zeroCounts() {
    return {
      exchangeCalls: 0,
      userinfoCalls: 0,
      refreshCalls: 0,
      authCalls: 0,
      authorizePageViews: 0,
      allowed: 0,
      denied: 0,
      codesMinted: 0,
      qrPageViews: 0,
      qrScans: 0,
      qrAllowed: 0,
      qrDenied: 0,
    };
  }

  /** The origin the standalone server listens on (e.g. `http://127.0.0.1:41234`), once {@link listen} resolved. */
  get origin(): string | undefined {
    return this.currentOrigin;
  }

  /**
   * The node `http` request handler. Usable as Express/Connect middleware: requests outside `basePath`, and unknown
   * routes, go to `next()` (or get a 404 without it). Bind-free: pass `emulator.handle` directly.
   */
  handle(req: IncomingMessage, res: ServerResponse, next?: () => void): void {
    // Express strips a mount path from req.url; originalUrl keeps it, so basePath matching works either way.
    const rawUrl = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const pathname = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQuery = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);

    const notHere = () => {
      if (next) next();
      else this.sendText(res, 404, 'Not Found');
    };
    if (this.basePath && pathname !== this.basePath && !pathname.startsWith(`${this.basePath}/`)) {
      notHere();
      return;
    }
    const route = pathname.slice(this.basePath.length) || '/';
    const method = req.method ?? 'GET';

    const run = (work: Promise<void>) => {
      work.catch((error: unknown) => {
        if (error instanceof BadRequestBodyError) {
          this.sendText(res, error.status, error.message);
        } else {
          this.sendText(res, 500, 'emulator error');
        }
      });
    };

    const endpoint = SNS_ROUTES[route];
    if (endpoint) {
      if (method !== 'GET' && method !== 'POST') return this.methodNotAllowed(res, 'GET, POST');
      run(this.serveSns(endpoint, new URLSearchParams(rawQuery), req, res));
      return;
    }
    if (route === '/connect/oauth2/authorize') {
      if (method !== 'GET' && method !== 'HEAD') return this.methodNotAllowed(res, 'GET');
      this.serveAuthorizePage(rawQuery, res);
      return;
    }
    if (route === '/connect/oauth2/authorize/confirm') {
      if (method !== 'POST') return this.methodNotAllowed(res, 'POST');
      run(this.serveConfirm(req, res));
      return;
    }
    if (route === '/connect/qrconnect') {
      if (method !== 'GET') return this.methodNotAllowed(res, 'GET');
      this.serveQrConnectPage(rawQuery, res);
      return;
    }
    if (route === '/connect/qrconnect/poll') {
      if (method !== 'GET') return this.methodNotAllowed(res, 'GET');
      run(this.serveQrPoll(new URLSearchParams(rawQuery), res));
      return;
    }
    if (route === '/connect/qrconnect/continue') {
      if (method !== 'GET') return this.methodNotAllowed(res, 'GET');
      this.serveQrContinue(new URLSearchParams(rawQuery), res);
      return;
    }
    if (route === '/connect/confirm') {
      if (method === 'GET') {
        this.serveQrScan(new URLSearchParams(rawQuery), res);
        return;
      }
      if (method !== 'POST') return this.methodNotAllowed(res, 'GET, POST');
      run(this.serveQrDecision(req, res));
      return;
    }
    if (this.controlApi && route.startsWith('/__emulator/')) {
      run(this.serveControl(route.slice('/__emulator/'.length), method, new URLSearchParams(rawQuery), req, res));
      return;
    }
    if (route === '/' && !next && (method === 'GET' || method === 'HEAD')) {
      this.sendHtml(res, 200, renderIndexPage({ basePath: this.basePath, apps: [...this.apps.values()] }));
      return;
    }
    notHere();
  }

  /** Starts a standalone server; resolves to its origin. Port 0 (the default) picks a free port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('the emulator is already listening');
    const server = createServer(this.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      this.server = undefined;
      throw error;
    });
    const address = server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.currentOrigin = `http://${hostPart}:${address.port}`;
    return this.currentOrigin;
  }

  /** Stops the standalone server (if any), dropping held answers and open connections. */
  async close(): Promise<void> {
    this.releaseHeldResponses();
    const server = this.server;
    this.server = undefined;
    this.currentOrigin = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Mints a code as if the user had pressed "Allow", without a browser. */
  mintCode(params: MintCodeParams = {}): string {
    const app = params.appId === undefined ? this.apps.values().next().value : this.apps.get(params.appId);
    if (!app) throw new RangeError('unknown appId');
    const website = kindOf(app) === 'website';
    const scope = params.scope ?? (website ? 'snsapi_login' : 'snsapi_userinfo');
    if (website && scope !== 'snsapi_login') throw new TypeError('a website app\'s scope is snsapi_login');
    if (!website && scope !== 'snsapi_base' && scope !== 'snsapi_userinfo') {
      throw new TypeError('scope must be snsapi_base or snsapi_userinfo (snsapi_login is a website app\'s)');
    }
    let user: EmulatorUser | undefined;
    if (params.nickname !== undefined) {
      const nickname = checkNickname(params.nickname);
      user = { id: `nickname:${nickname}`, nickname, headimgurl: avatarFor(nickname) };
    } else {
      user = params.userId === undefined ? this.users[0] : this.users.find((u) => u.id === params.userId);
      if (!user) throw new RangeError('unknown userId (configure users, or pass a nickname)');
    }
    return this.issueCode(app, user, scope, params.snapshot === true);
  }

  /** Adds latency to an endpoint's answers (or to all four). `{ fixedMs: 0 }` removes it. */
  setLatency(endpoint: EmulatorEndpoint | 'all', latency: EmulatorLatency): void {
    if (endpoint !== 'all' && !isEndpoint(endpoint)) throw new TypeError('unknown endpoint');
    const fixedMs = latency?.fixedMs;
    const jitterMs = latency?.jitterMs ?? 0;
    for (const ms of [fixedMs, jitterMs]) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LATENCY_MS) {
        throw new RangeError(`latency must be a number of milliseconds in 0..${MAX_LATENCY_MS}`);
      }
    }
    for (const target of endpoint === 'all' ? ENDPOINTS : [endpoint]) {
      if (fixedMs === 0 && jitterMs === 0) this.latency.delete(target);
      else this.latency.set(target, { fixedMs, jitterMs });
    }
  }

  /**
   * Makes an endpoint fail. Faults apply in the order injected; each answers `times` calls (default: all calls
   * until {@link clearFaults} or {@link reset}). On `access_token`, a faulty call still spends a valid code unless
   * `consumeCode: false`, as WeChat is reported to.
   */
  injectFault(endpoint: EmulatorEndpoint, fault: EmulatorFault, opts: InjectFaultOptions = {}): void {
    if (!isEndpoint(endpoint)) throw new TypeError('unknown endpoint');
    const checked = checkFault(fault);
    const times = opts.times ?? Number.POSITIVE_INFINITY;
    if (times !== Number.POSITIVE_INFINITY && (!Number.isInteger(times) || times < 1)) {
      throw new RangeError('times must be a positive integer');
    }
    if (this.faults.length >= 1000) throw new RangeError('too many faults injected; clear them first');
    this.faults.push({ endpoint, fault: checked, remaining: times, consumeCode: opts.consumeCode ?? true });
  }

  /** Removes every injected fault (answers already held by a `hang` stay held until reset or close). */
  clearFaults(): void {
    this.faults = [];
  }

  /** A snapshot of what the emulator has served. */
  counters(): EmulatorCounters {
    const now = this.now();
    const byCode: Record<string, EmulatorCodeCounter> = {};
    for (const [code, counter] of this.exchangeByCode.values(now)) {
      byCode[code] = { calls: counter.calls, outcomes: [...counter.outcomes] };
    }
    return {
      exchangeCalls: this.counts.exchangeCalls,
      exchangeByCode: byCode,
      userinfoCalls: this.counts.userinfoCalls,
      refreshCalls: this.counts.refreshCalls,
      authCalls: this.counts.authCalls,
      authorizePageViews: this.counts.authorizePageViews,
      consent: { allowed: this.counts.allowed, denied: this.counts.denied },
      qrLogin: {
        pageViews: this.counts.qrPageViews,
        scans: this.counts.qrScans,
        allowed: this.counts.qrAllowed,
        denied: this.counts.qrDenied,
      },
      codesMinted: this.counts.codesMinted,
    };
  }

  /** How many times `/sns/oauth2/access_token` was called with this code (whatever the outcome). */
  exchangeCallsForCode(code: string): number {
    return this.exchangeByCode.get(code, this.now())?.calls ?? 0;
  }

  /** Turns the Android duplicate-callback simulation on or off (the consent page's checkbox default). */
  setDuplicateCallback(settings: DuplicateCallbackSettings): void {
    this.duplicate = checkDuplicateSettings(settings);
  }

  /** Forgets codes, tokens and counters; removes faults and latency; drops held answers; restores settings. */
  reset(): void {
    this.codes.clear();
    this.accessTokens.clear();
    this.refreshTokens.clear();
    this.exchangeByCode.clear();
    this.qrTickets.clear();
    this.counts = WechatEmulator.zeroCounts();
    this.faults = [];
    this.latency.clear();
    this.duplicate = { ...this.initialDuplicate };
    this.releaseHeldResponses();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Authorize page

  private serveAuthorizePage(rawQuery: string, res: ServerResponse): void {
    const check = checkAuthorizeQuery(rawQuery, this.apps);
    if (!check.ok) {
      this.sendHtml(res, 400, renderErrorPage(check.problem));
      return;
    }
    this.counts.authorizePageViews++;
    this.sendHtml(
      res,
      200,
      renderConsentPage({
        request: check.request,
        users: this.users,
        confirmPath: `${this.basePath}/connect/oauth2/authorize/confirm`,
        duplicate: this.duplicate,
      }),
    );
  }

  private async serveConfirm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const fields = new Map<string, string>();
    for (const [key, value] of form) {
      if (fields.has(key)) {
        this.sendHtml(res, 400, renderErrorPage({ message: `参数重复 / field "${key}" appears more than once` }));
        return;
      }
      fields.set(key, value);
    }
    const check = checkAuthorizeFields(fields, this.apps);
    if (!check.ok) {
      this.sendHtml(res, 400, renderErrorPage(check.problem));
      return;
    }
    const request = check.request;
    const action = fields.get('action');
    if (action === 'deny') {
      this.counts.denied++;
      this.redirect(res, callbackUrl(request.redirectUri, { state: request.state }));
      return;
    }
    if (action !== 'allow') {
      this.sendHtml(res, 400, renderErrorPage({ message: 'action must be allow or deny' }));
      return;
    }
    const decision = this.readConsentChoices(fields);
    if (typeof decision === 'string') {
      this.sendHtml(res, 400, renderErrorPage({ message: decision }));
      return;
    }
    const app = this.apps.get(request.appId) as EmulatorApp;
    const code = this.issueCode(app, decision.user, request.scope, decision.snapshot);
    this.counts.allowed++;
    const target = callbackUrl(request.redirectUri, { code, state: request.state });
    if (!decision.duplicate) {
      this.redirect(res, target);
      return;
    }
    this.sendDuplicatePage(res, request, target, decision.abortAfterMs);
  }

  private readConsentChoices(
    fields: ReadonlyMap<string, string>,
  ): { user: EmulatorUser; snapshot: boolean; duplicate: boolean; abortAfterMs: number } | string {
    const user = this.readUserChoice(fields);
    if (typeof user === 'string') return user;
    const flag = (name: string): boolean | undefined => {
      const value = fields.get(name);
      if (value === undefined || value === '' || value === 'off' || value === 'false') return false;
      if (value === 'on' || value === 'true' || value === '1') return true;
      return undefined;
    };
    const snapshot = flag('snapshot');
    const duplicate = flag('duplicate');
    if (snapshot === undefined || duplicate === undefined) return 'snapshot and duplicate must be checkboxes';
    const rawAbort = fields.get('abortAfterMs');
    const abortAfterMs = rawAbort === undefined || rawAbort === '' ? this.duplicate.abortAfterMs : Number(rawAbort);
    if (!/^\d*$/.test(rawAbort ?? '') || !Number.isInteger(abortAfterMs) || abortAfterMs > MAX_ABORT_AFTER_MS) {
      return `abortAfterMs must be an integer in 0..${MAX_ABORT_AFTER_MS}`;
    }
    return { user, snapshot, duplicate, abortAfterMs };
  }

  /** The user picked on a consent or confirm form, or why the choice is unusable. */
  private readUserChoice(fields: ReadonlyMap<string, string>): EmulatorUser | string {
    // A typed nickname wins over the radio choice: typing one and forgetting to tick its radio is the common slip.
    const typed = fields.get('nickname')?.trim();
    const choice = typed ? CUSTOM_USER_CHOICE : (fields.get('user') ?? this.users[0]?.id);
    let user: EmulatorUser | undefined;
    if (choice === CUSTOM_USER_CHOICE) {
      try {
        const nickname = checkNickname(fields.get('nickname') ?? '');
        user = { id: `nickname:${nickname}`, nickname, headimgurl: avatarFor(nickname) };
      } catch (error) {
        return `昵称无效 / ${(error as Error).message}`;
      }
    } else {
      user = this.users.find((u) => u.id === choice);
      if (!user) return '用户不存在 / unknown user';
    }
    return user;
  }

  private sendDuplicatePage(res: ServerResponse, request: AuthorizeRequest, target: string, abortAfterMs: number): void {
    const nonce = randomBytes(16).toString('base64');
    const callbackOrigin = new URL(request.redirectUri).origin;
    const body = renderDuplicateCallbackPage({ callbackUrl: target, abortAfterMs, nonce });
    this.sendHtml(res, 200, body, {
      'Content-Security-Policy':
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; ` +
        `connect-src ${callbackOrigin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    });
  }

  private issueCode(app: EmulatorApp, user: EmulatorUser, scope: Scope, snapshotRequested: boolean): string {
    const now = this.now();
    const snapshot = snapshotRequested || user.snapshot === true;
    const identity: Identity = {
      appId: app.appId,
      userId: user.id,
      nickname: user.nickname,
      headimgurl: user.headimgurl ?? avatarFor(user.nickname),
      sex: user.sex ?? 0,
      // A snapshot-page user gets a virtual openid/unionid, unrelated to the real user's.
      openid: `o${deriveId(snapshot ? 'snapshot-openid' : 'openid', app.appId, user.id).slice(0, 27)}`,
      unionid: snapshot
        ? `o${deriveId('snapshot-unionid', user.id).slice(0, 28)}`
        : (user.unionid ?? `o${deriveId('unionid', user.id).slice(0, 28)}`),
      scope,
      snapshot,
    };
    let code = randomCode();
    while (this.codes.get(code, now)) code = randomCode();
    const ttlMs = kindOf(app) === 'website' ? this.websiteCodeTtlMs : this.codeTtlMs;
    // Kept past expiry so a late or repeated exchange still gets 42003 / 40163 rather than "unknown code". (Codes of
    // two lifetimes share the store: a shorter-lived one behind a longer-lived one is pruned a little later, never
    // served after its retention, and the store stays bounded by maxEntries.)
    const retainMs = Math.max(ttlMs * 2, ttlMs + 60_000);
    this.codes.set(code, { identity, issuedAt: now, ttlMs }, now + retainMs, now);
    this.counts.codesMinted++;
    return code;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Website QR login (网站应用微信登录)

  /** A QR code's status now: a waiting or scanned one turns `expired` once its time is up. */
  private qrStatusOf(ticket: QrTicket, now: number): QrLoginStatus {
    if ((ticket.status === 'waiting' || ticket.status === 'scanned') && now >= ticket.expiresAt) return 'expired';
    return ticket.status;
  }

  /** The ticket a `uuid` parameter names, if it is well-formed and still remembered. */
  private qrTicketOf(query: URLSearchParams | ReadonlyMap<string, string>): { uuid: string; ticket: QrTicket } | undefined {
    const uuid = query.get('uuid');
    if (typeof uuid !== 'string' || !QR_UUID_PATTERN.test(uuid)) return undefined;
    const ticket = this.qrTickets.get(uuid, this.now());
    return ticket ? { uuid, ticket } : undefined;
  }

  private setQrStatus(ticket: QrTicket, status: QrTicket['status']): void {
    ticket.status = status;
    for (const wake of [...ticket.waiters]) wake();
  }

  private serveQrConnectPage(rawQuery: string, res: ServerResponse): void {
    const check = checkQrConnectQuery(rawQuery, this.apps);
    if (!check.ok) {
      this.sendHtml(res, 400, renderErrorPage(check.problem));
      return;
    }
    const now = this.now();
    const seed = randomBytes(48);
    const uuid = seed.subarray(0, 12).toString('base64url');
    const ticket: QrTicket = { request: check.request, expiresAt: now + this.qrTicketTtlMs, status: 'waiting', waiters: new Set() };
    // Remembered as long as a code it yields may live, so a confirmed login can still be collected.
    this.qrTickets.set(uuid, ticket, ticket.expiresAt + this.websiteCodeTtlMs, now);
    this.counts.qrPageViews++;

    const base = this.basePath;
    const id = encodeURIComponent(uuid);
    const scanUrl = `${base}/connect/confirm?uuid=${id}`;
    const nonce = randomBytes(16).toString('base64');
    const body = renderQrConnectPage({
      appId: check.request.appId,
      redirectUri: check.request.redirectUri,
      qrSvg: renderFakeQrSvg(seed.subarray(12)),
      scanUrl,
      pollUrl: `${base}/connect/qrconnect/poll?uuid=${id}`,
      continueUrl: `${base}/connect/qrconnect/continue?uuid=${id}`,
      reloadUrl: `${base}/connect/qrconnect?${rawQuery}`,
      maxPolls: Math.ceil(this.qrTicketTtlMs / QR_PAGE_POLL_WAIT_MS) + 5,
      pollWaitMs: QR_PAGE_POLL_WAIT_MS,
      nonce,
    });
    this.sendHtml(res, 200, body, {
      'Content-Security-Policy':
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; ` +
        `connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    });
  }

  /**
   * The QR page's long poll: `{ status, redirect? }`, answered at once when the status differs from `last` (or
   * `wait` is 0), else when it changes or after `wait` ms (at most 25 s). `redirect` is the app's callback with the
   * code, once the phone confirmed.
   */
  private async serveQrPoll(query: URLSearchParams, res: ServerResponse): Promise<void> {
    const found = this.qrTicketOf(query);
    if (!found) {
      this.sendJson(res, 404, { error: 'unknown or forgotten uuid' });
      return;
    }
    const { ticket } = found;
    const rawWait = query.get('wait') ?? '0';
    const wait = /^\d{1,6}$/.test(rawWait) ? Math.min(Number(rawWait), MAX_QR_POLL_WAIT_MS) : 0;
    const last = query.get('last');
    if (wait > 0 && last === this.qrStatusOf(ticket, this.now()) && ticket.waiters.size < MAX_QR_WAITERS) {
      const remaining = Math.max(0, ticket.expiresAt - this.now());
      // Also wake when the QR code expires, so the page learns it without waiting out the poll.
      const still = await this.waitForQrChange(ticket, res, ticket.status === 'confirmed' || ticket.status === 'denied' ? wait : Math.min(wait, remaining + 50));
      if (!still) return;
    }
    const status = this.qrStatusOf(ticket, this.now());
    this.sendJson(res, 200, status === 'confirmed' && ticket.target ? { status, redirect: ticket.target } : { status });
  }

  /** Holds a poll until the ticket changes or `ms` pass; false when the client left or the emulator let it go. */
  private waitForQrChange(ticket: QrTicket, res: ServerResponse, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (answer: boolean) => {
        clearTimeout(timer);
        ticket.waiters.delete(wake);
        res.off('close', gone);
        this.heldResponses.delete(res);
        resolve(answer);
      };
      const wake = () => finish(true);
      const gone = () => finish(false);
      const timer = setTimeout(wake, ms);
      ticket.waiters.add(wake);
      res.once('close', gone);
      this.heldResponses.add(res);
    });
  }

  /** Without scripts: the QR page's "continue" link, 302 to the callback once the phone confirmed. */
  private serveQrContinue(query: URLSearchParams, res: ServerResponse): void {
    const found = this.qrTicketOf(query);
    if (!found) {
      this.sendHtml(res, 404, renderErrorPage({ message: '二维码不存在或已失效 / unknown or forgotten QR code' }));
      return;
    }
    const status = this.qrStatusOf(found.ticket, this.now());
    if (status === 'confirmed' && found.ticket.target) {
      this.redirect(res, found.ticket.target);
      return;
    }
    this.sendHtml(res, 409, renderQrDecisionPage({ status, message: `尚未确认 / not confirmed on the phone yet (${status})` }));
  }

  /** The "phone" scans: the confirm page (and the QR page learns it was scanned). */
  private serveQrScan(query: URLSearchParams, res: ServerResponse): void {
    const found = this.qrTicketOf(query);
    if (!found) {
      this.sendHtml(res, 404, renderErrorPage({ message: '二维码不存在或已失效 / unknown or forgotten QR code' }));
      return;
    }
    const { uuid, ticket } = found;
    const status = this.qrStatusOf(ticket, this.now());
    if (status !== 'waiting' && status !== 'scanned') {
      this.sendHtml(res, status === 'expired' ? 410 : 409, renderQrDecisionPage({ status }));
      return;
    }
    this.counts.qrScans++;
    if (status === 'waiting') this.setQrStatus(ticket, 'scanned');
    this.sendHtml(
      res,
      200,
      renderQrConfirmPage({ uuid, appId: ticket.request.appId, users: this.users, confirmPath: `${this.basePath}/connect/confirm` }),
    );
  }

  /** The "phone" decides: Allow mints a snsapi_login code for the QR page to collect; Deny cancels this QR code. */
  private async serveQrDecision(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const fields = new Map<string, string>();
    for (const [key, value] of form) {
      if (fields.has(key)) {
        this.sendHtml(res, 400, renderErrorPage({ message: `参数重复 / field "${key}" appears more than once` }));
        return;
      }
      fields.set(key, value);
    }
    const found = this.qrTicketOf(fields);
    if (!found) {
      this.sendHtml(res, 404, renderErrorPage({ message: '二维码不存在或已失效 / unknown or forgotten QR code' }));
      return;
    }
    const { ticket } = found;
    const status = this.qrStatusOf(ticket, this.now());
    if (status !== 'waiting' && status !== 'scanned') {
      this.sendHtml(res, status === 'expired' ? 410 : 409, renderQrDecisionPage({ status }));
      return;
    }
    const action = fields.get('action');
    if (action === 'deny') {
      this.counts.qrDenied++;
      this.setQrStatus(ticket, 'denied');
      this.sendHtml(res, 200, renderQrDecisionPage({ status: 'denied' }));
      return;
    }
    if (action !== 'allow') {
      this.sendHtml(res, 400, renderErrorPage({ message: 'action must be allow or deny' }));
      return;
    }
    const user = this.readUserChoice(fields);
    if (typeof user === 'string') {
      this.sendHtml(res, 400, renderErrorPage({ message: user }));
      return;
    }
    const app = this.apps.get(ticket.request.appId) as EmulatorApp;
    const code = this.issueCode(app, user, 'snsapi_login', false);
    this.counts.qrAllowed++;
    ticket.target = callbackUrl(ticket.request.redirectUri, { code, state: ticket.request.state });
    this.setQrStatus(ticket, 'confirmed');
    this.sendHtml(res, 200, renderQrDecisionPage({ status: 'confirmed' }));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // sns endpoints

  private async serveSns(
    endpoint: EmulatorEndpoint,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const fault = this.takeFault(endpoint);
    let answer: SnsAnswer;
    switch (endpoint) {
      case 'access_token': {
        this.counts.exchangeCalls++;
        // WeChat processes (and spends) the code on arrival; latency and faults only delay or spoil the answer,
        // which is what makes a concurrent duplicate see 40163 and a retried exchange fail.
        const spend = !fault || fault.consumeCode;
        answer = spend ? this.exchange(query) : {};
        const code = query.get('code');
        if (code) {
          const outcome: EmulatorExchangeOutcome = fault ? this.faultOutcome(fault.fault) : this.errcodeOf(answer);
          this.recordExchange(code, outcome);
        }
        break;
      }
      case 'userinfo':
        this.counts.userinfoCalls++;
        answer = this.userinfo(query);
        break;
      case 'refresh_token':
        this.counts.refreshCalls++;
        answer = this.refresh(query);
        break;
      case 'auth':
        this.counts.authCalls++;
        answer = this.auth(query);
        break;
    }

    const latency = this.latency.get(endpoint);
    if (latency) {
      const ms = latency.fixedMs + (latency.jitterMs > 0 ? Math.random() * latency.jitterMs : 0);
      if (!(await this.hold(res, ms))) return;
    }
    if (res.destroyed) return;

    if (!fault) {
      this.sendSns(res, answer);
      return;
    }
    const f = fault.fault;
    switch (f.kind) {
      case 'errcode':
        this.sendSns(
          res,
          f.errmsg === undefined
            ? this.error(f.errcode)
            : { errcode: f.errcode, errmsg: f.errmsg.replace(/\{query\}/g, () => query.toString()) },
        );
        return;
      case 'http':
        this.sendHtml(
          res,
          f.status,
          `<html><head><title>${f.status}</title></head><body><center><h1>${f.status}</h1></center><hr><center>nginx</center></body></html>`,
        );
        return;
      case 'hang':
        await this.hold(res, Number.POSITIVE_INFINITY);
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'html':
        this.sendHtml(res, 200, '<!DOCTYPE html><html><body><p>系统繁忙，请稍后再试 / system busy</p></body></html>');
        return;
      case 'empty':
        res.writeHead(200, { 'Content-Type': this.snsContentType, 'Content-Length': '0' });
        res.end();
        return;
    }
  }

  private exchange(q: URLSearchParams): SnsAnswer {
    const appId = q.get('appid');
    if (!appId) return this.error(41002);
    const app = this.apps.get(appId);
    if (!app) return this.error(40013);
    const secret = q.get('secret');
    if (!secret) return this.error(41004);
    if (!sameSecret(secret, app.appSecret)) return this.error(40125);
    const code = q.get('code');
    if (!code) return this.error(41008);
    if (q.get('grant_type') !== 'authorization_code') return this.error(40002);

    const now = this.now();
    const record = this.codes.get(code, now);
    // A code of another app is as unknown as a made-up one.
    if (!record || record.identity.appId !== appId) return this.error(40029);
    if (record.usedAt !== undefined) return this.error(this.usedCodeErrcode);
    if (now >= record.issuedAt + record.ttlMs) return this.error(42003);
    record.usedAt = now;

    const { identity } = record;
    const tokens = this.issueTokens(identity, now);
    const answer: SnsAnswer = {
      access_token: tokens.accessToken,
      expires_in: ACCESS_TOKEN_TTL_SECONDS,
      refresh_token: tokens.refreshToken,
      openid: identity.openid,
      scope: identity.scope,
    };
    if (grantsUserInfo(identity.scope) && isOpenPlatformBound(app)) answer.unionid = identity.unionid;
    if (identity.snapshot) answer.is_snapshotuser = 1;
    return answer;
  }

  private issueTokens(identity: Identity, now: number, refreshToken?: string): { accessToken: string; refreshToken: string } {
    const accessToken = randomBytes(48).toString('base64url');
    const accessExpiresAt = now + ACCESS_TOKEN_TTL_SECONDS * 1000;
    // Kept for another lifetime past expiry so an expired token answers 42001 rather than "invalid".
    this.accessTokens.set(accessToken, { identity, expiresAt: accessExpiresAt }, accessExpiresAt + ACCESS_TOKEN_TTL_SECONDS * 1000, now);
    if (refreshToken === undefined) {
      refreshToken = randomBytes(48).toString('base64url');
      const refreshExpiresAt = now + REFRESH_TOKEN_TTL_MS;
      this.refreshTokens.set(refreshToken, { identity, expiresAt: refreshExpiresAt }, refreshExpiresAt + 24 * 3600 * 1000, now);
    }
    return { accessToken, refreshToken };
  }

  /** Checks an access token + openid pair as userinfo and auth do. */
  private checkToken(q: URLSearchParams): TokenRecord | SnsAnswer {
    const token = q.get('access_token');
    if (!token) return this.error(41001);
    const openid = q.get('openid');
    if (!openid) return this.error(41009);
    const now = this.now();
    const record = this.accessTokens.get(token, now);
    if (!record) return this.error(40014);
    if (now >= record.expiresAt) return this.error(42001);
    if (record.identity.openid !== openid) return this.error(40003);
    return record;
  }

  private userinfo(q: URLSearchParams): SnsAnswer {
    const checked = this.checkToken(q);
    if (!('identity' in checked)) return checked;
    const { identity } = checked as TokenRecord;
    if (!grantsUserInfo(identity.scope) || identity.snapshot) return this.error(48001);
    const answer: SnsAnswer = {
      openid: identity.openid,
      nickname: identity.nickname,
      sex: identity.sex,
      // WeChat stopped returning the sex and region in late 2021.
      province: '',
      city: '',
      country: '',
      headimgurl: identity.headimgurl,
      privilege: [],
    };
    if (isOpenPlatformBound(this.apps.get(identity.appId))) answer.unionid = identity.unionid;
    return answer;
  }

  private auth(q: URLSearchParams): SnsAnswer {
    const checked = this.checkToken(q);
    if (!('identity' in checked)) return checked;
    return { errcode: 0, errmsg: 'ok' };
  }

  private refresh(q: URLSearchParams): SnsAnswer {
    const appId = q.get('appid');
    if (!appId) return this.error(41002);
    if (!this.apps.has(appId)) return this.error(40013);
    if (q.get('grant_type') !== 'refresh_token') return this.error(40002);
    const refreshToken = q.get('refresh_token');
    if (!refreshToken) return this.error(41003);
    const now = this.now();
    const record = this.refreshTokens.get(refreshToken, now);
    if (!record || record.identity.appId !== appId) return this.error(40030);
    if (now >= record.expiresAt) return this.error(42002);
    const tokens = this.issueTokens(record.identity, now, refreshToken);
    return {
      access_token: tokens.accessToken,
      expires_in: ACCESS_TOKEN_TTL_SECONDS,
      refresh_token: tokens.refreshToken,
      openid: record.identity.openid,
      scope: record.identity.scope,
    };
  }

  /** WeChat's error body, with a trace id in the errmsg as WeChat writes it. */
  private error(errcode: number): SnsAnswer {
    const seconds = Math.floor(this.now() / 1000) >>> 0;
    const rid = `${seconds.toString(16).padStart(8, '0')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
    return { errcode, errmsg: `${ERRMSG[errcode] ?? 'system error'}, rid: ${rid}` };
  }

  private errcodeOf(answer: SnsAnswer): number {
    return typeof answer.errcode === 'number' ? answer.errcode : 0;
  }

  private faultOutcome(fault: EmulatorFault): EmulatorExchangeOutcome {
    switch (fault.kind) {
      case 'errcode':
        return fault.errcode;
      case 'http':
        return `http:${fault.status}`;
      default:
        return fault.kind;
    }
  }

  private recordExchange(code: string, outcome: EmulatorExchangeOutcome): void {
    const now = this.now();
    const counter = this.exchangeByCode.get(code, now);
    if (counter) {
      counter.calls++;
      if (counter.outcomes.length < 100) counter.outcomes.push(outcome);
      return;
    }
    this.exchangeByCode.set(code, { calls: 1, outcomes: [outcome] }, now + 24 * 3600 * 1000, now);
  }

  private takeFault(endpoint: EmulatorEndpoint): ActiveFault | undefined {
    const index = this.faults.findIndex((f) => f.endpoint === endpoint);
    if (index === -1) return undefined;
    const active = this.faults[index] as ActiveFault;
    active.remaining--;
    if (active.remaining <= 0) this.faults.splice(index, 1);
    return active;
  }

  /** Waits `ms` (forever for Infinity); resolves false when the client went away or the answer was released. */
  private hold(res: ServerResponse, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.heldResponses.add(res);
      let timer: NodeJS.Timeout | undefined;
      const onClose = () => {
        if (timer) clearTimeout(timer);
        this.heldResponses.delete(res);
        resolve(false);
      };
      res.once('close', onClose);
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          res.off('close', onClose);
          this.heldResponses.delete(res);
          resolve(true);
        }, ms);
      }
    });
  }

  private releaseHeldResponses(): void {
    for (const res of this.heldResponses) res.destroy();
    this.heldResponses.clear();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Control API

  private async serveControl(
    action: string,
    method: string,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const notAllowed = (allow: string) => {
      res.setHeader('Allow', allow);
      this.sendJson(res, 405, { error: `use ${allow}` });
    };
    const expectPost = () => {
      if (method === 'POST') return true;
      notAllowed('POST');
      return false;
    };
    try {
      switch (action) {
        case 'counters':
          if (method !== 'GET') return notAllowed('GET');
          return this.sendJson(res, 200, this.counters());
        case 'exchange-calls': {
          if (method !== 'GET') return notAllowed('GET');
          const code = query.get('code');
          if (!code) throw new TypeError('code is required');
          return this.sendJson(res, 200, { code, calls: this.exchangeCallsForCode(code) });
        }
        case 'latency': {
          if (!expectPost()) return;
          const body = asObject(await readJson(req));
          this.setLatency(body.endpoint as EmulatorEndpoint | 'all', {
            fixedMs: body.fixedMs as number,
            jitterMs: body.jitterMs as number | undefined,
          });
          return this.sendJson(res, 200, { ok: true });
        }
        case 'faults': {
          if (!expectPost()) return;
          const body = asObject(await readJson(req));
          this.injectFault(body.endpoint as EmulatorEndpoint, body.fault as EmulatorFault, {
            times: body.times as number | undefined,
            consumeCode: body.consumeCode as boolean | undefined,
          });
          return this.sendJson(res, 200, { ok: true });
        }
        case 'faults/clear':
          if (!expectPost()) return;
          this.clearFaults();
          return this.sendJson(res, 200, { ok: true });
        case 'mint': {
          if (!expectPost()) return;
          const body = asObject(await readJson(req));
          for (const key of ['appId', 'userId', 'nickname', 'scope'] as const) {
            if (body[key] !== undefined && typeof body[key] !== 'string') throw new TypeError(`${key} must be a string`);
          }
          if (body.snapshot !== undefined && typeof body.snapshot !== 'boolean') {
            throw new TypeError('snapshot must be a boolean');
          }
          const code = this.mintCode(body as MintCodeParams);
          return this.sendJson(res, 200, { code });
        }
        case 'duplicate': {
          if (!expectPost()) return;
          const body = asObject(await readJson(req));
          this.setDuplicateCallback(body as unknown as DuplicateCallbackSettings);
          return this.sendJson(res, 200, { ok: true, ...this.duplicate });
        }
        case 'reset':
          if (!expectPost()) return;
          this.reset();
          return this.sendJson(res, 200, { ok: true });
        default:
          return this.sendJson(res, 404, { error: 'unknown control route' });
      }
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError || error instanceof BadRequestBodyError) {
        const status = error instanceof BadRequestBodyError ? error.status : 400;
        return this.sendJson(res, status, { error: error.message });
      }
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Responses

  /** WeChat's sns wire format: HTTP 200, UTF-8 JSON bytes, `Content-Type: text/plain` with no charset. */
  private sendSns(res: ServerResponse, body: SnsAnswer): void {
    if (res.headersSent || res.destroyed) return;
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(200, { 'Content-Type': this.snsContentType, 'Content-Length': String(bytes.length) });
    res.end(bytes);
  }

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(bytes.length),
      'Cache-Control': 'no-store',
    });
    res.end(bytes);
  }

  private sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const bytes = Buffer.from(html, 'utf8');
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': String(bytes.length),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    });
    res.end(bytes);
  }

  private sendText(res: ServerResponse, status: number, text: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private redirect(res: ServerResponse, location: string): void {
    res.writeHead(302, { Location: location, 'Content-Length': '0', 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    res.end();
  }

  private methodNotAllowed(res: ServerResponse, allow: string): void {
    res.writeHead(405, { Allow: allow, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed');
  }
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
