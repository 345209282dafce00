/**
 * Property-based fuzzing (fast-check) of the sample app's login and callback routes over real HTTP, with requests
 * written byte for byte on the socket (test/support/raw-http.ts) so nothing normalizes the attack: random and
 * oversized code/state, repeated and array-style parameters, unicode, control characters, percent-encoding tricks,
 * header-injection and open-redirect attempts in returnTo, junk cookies.
 *
 * Properties: never a 5xx; never an upstream call for malformed input (the emulator's counters); never a redirect
 * off-site (every Location is a same-origin path, or WeChat's authorize page at the configured origin); no injected
 * header or cookie. Runs are bounded for CI; FUZZ_RUNS multiplies them, FUZZ_SEED replays a failure (fast-check
 * prints the seed and the shrunk counterexample when a property fails).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isSafeReturnTo } from 'nestjs-wechat-auth';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { SampleApp } from '../apps/sample/src/bootstrap.js';
import { printTable } from './support/figures.js';
import { rawRequest, type RawAnswer } from './support/raw-http.js';
import { startSampleAgainstEmulator } from './support/sample-app.js';
import { SESSION_COOKIE } from './support/sample-browser.js';

const RUN_SCALE = Math.max(1, Number(process.env.FUZZ_RUNS ?? 1));
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED);
const STATE_COOKIE = 'wechat_auth_state_wechat';
const KNOWN_COOKIES = new Set([STATE_COOKIE, SESSION_COOKIE]);
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

let emulator: WechatEmulator;
let sample: SampleApp;
let origin: string;
const figures: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  ({ emulator, sample, base: origin } = await startSampleAgainstEmulator({ WECHAT_HTTP_TIMEOUT_MS: '1500' }));
  process.stdout.write(`\nsecurity fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), runs x${RUN_SCALE}\n`);
});

afterAll(async () => {
  printTable(`Fuzzing the login and callback routes (seed ${SEED}):`, figures);
  await sample?.close();
  await emulator?.close();
});

beforeEach(() => emulator.reset());

const fuzzOptions = (numRuns: number) => ({ numRuns: numRuns * RUN_SCALE, seed: SEED });

// ---------------------------------------------------------------------------------------------------------------
// Generators

/** Sent exactly as written (not re-encoded): stray and malformed escapes, escaped CRLF, smuggled separators. */
const PERCENT_TRICKS = [
  '%00', '%0d%0a', '%0D%0ASet-Cookie:%20evil=1', '%0d%0aX-Injected:%201', '%', '%2', '%zz', '%25', '%2525', '%c0%af',
  '%ff%fe', '%E4%BB%A3', '%u0041', '%2e%2e%2f', '+', '%20', '%23', '%26code%3Dx', '&', '=', ';', '%3B', '#frag',
];

/** Classic open-redirect and header-injection shapes for returnTo. */
const REDIRECT_TRICKS = [
  '//evil.example', '/\\evil.example', '\\\\evil.example', '\\/evil.example', 'https://evil.example', 'http:evil.example',
  'https:/evil.example', 'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>alert(1)</script>',
  '/%2F%2Fevil.example', '%2F%2Fevil.example', '/%5Cevil.example', '/\t/evil.example', ' //evil.example', '/ /evil.example',
  '/\r\nLocation: https://evil.example', '\r\nSet-Cookie: evil=1', '/%0d%0aSet-Cookie:%20evil=1', '／／evil.example',
  '/.//evil.example', '/..//evil.example', '///evil.example', '/?next=//evil.example', 'evil.example', '/profile',
  '/orders?id=1&x=2', '/%E4%BB%A3', '/代码', '/\u0000evil', '/\u2028evil',
];

const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.stringMatching(TOKEN),
  fc.integer({ min: 129, max: 5_000 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom(...PERCENT_TRICKS),
  fc.constantFrom(...REDIRECT_TRICKS),
);

/** How a value goes on the wire. */
type Wire = 'encoded' | 'raw' | 'bytes';
const wire: fc.Arbitrary<Wire> = fc.constantFrom<Wire>('encoded', 'raw', 'bytes');

/**
 * `encoded`: percent-encoded like a browser form; `raw`: only bytes that cannot go on a request line are escaped,
 * so `%`, `&`, `=`, `#` act as written; `bytes`: the UTF-8 bytes as they are (control characters, non-ASCII), only
 * CR, LF and space escaped so the request line stays one line.
 */
function onWire(text: string, how: Wire): string {
  if (how === 'encoded') return encodeURIComponent(text);
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const escape = how === 'raw' ? byte < 0x21 || byte >= 0x7f : byte === 0x0d || byte === 0x0a || byte === 0x20;
    out += escape ? `%${byte.toString(16).padStart(2, '0').toUpperCase()}` : String.fromCharCode(byte);
  }
  return out;
}

const paramName: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('code', 'state', 'returnTo') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('code[]', 'state[]', 'code[0]', 'state[x]', 'code[__proto__]', '__proto__', 'constructor', 'Code', 'co%64e', 'st%61te', ''),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 8 }) },
);

const queryParts = fc.array(fc.tuple(paramName, hostileText, wire), { maxLength: 8 });

/** Queries that pass validation (a token code and state), so the request reaches the state check. */
const plausibleCallback = fc
  .tuple(fc.stringMatching(TOKEN), fc.stringMatching(TOKEN), queryParts)
  .map(([code, state, extra]): Array<[string, string, Wire]> => [['code', code, 'raw'], ['state', state, 'raw'], ...extra.slice(0, 2)]);

/** Cookie headers an attacker may send, none of them a valid login of this browser. */
const hostileCookie: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.string({ unit: 'binary-ascii', maxLength: 200 }).map((junk) => junk.replace(/[\r\n]/g, '')),
  hostileText.map((junk) => `${STATE_COOKIE}=${onWire(junk, 'raw')}`),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/)).map(
    ([nonce, rest]) => `${STATE_COOKIE}=v1.${nonce}.lz3k2x1a.un.L3Byb2ZpbGU.${rest}`,
  ),
  hostileText.map((junk) => `${SESSION_COOKIE}=${onWire(junk, 'raw')}; ${STATE_COOKIE}=x`),
);

// ---------------------------------------------------------------------------------------------------------------
// Checks

function cookieNamesOf(answer: RawAnswer): string[] {
  return (answer.headers.get('set-cookie') ?? []).map((line) => line.slice(0, line.indexOf('=')));
}

/** Never a 5xx, never an off-site redirect, never a header the attacker wrote. */
function expectSafeAnswer(answer: RawAnswer, what: string): void {
  if (answer.status >= 500) throw new Error(`${what} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  for (const location of answer.headers.get('location') ?? []) expectSafeLocation(location);
  for (const line of answer.headerLines) {
    if (/^(x-injected|location:\s*https:\/\/evil|set-cookie:\s*evil)/i.test(line)) throw new Error(`injected header: ${line}`);
  }
  for (const name of cookieNamesOf(answer)) {
    if (!KNOWN_COOKIES.has(name)) throw new Error(`unexpected cookie ${JSON.stringify(name)} set`);
  }
}

/** Same-origin path, or the authorize page at the configured WeChat origin. Checked as a browser resolves it. */
function expectSafeLocation(location: string): void {
  if (location.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)) return;
  const resolved = new URL(location, 'http://app.test');
  if (resolved.origin !== 'http://app.test' || !location.startsWith('/') || /^\/[/\\]/.test(location) || /[\r\n\t]/.test(location)) {
    throw new Error(`redirect off-site: Location ${JSON.stringify(location)}`);
  }
}

function expectNoUpstreamCall(): void {
  const counters = emulator.counters();
  if (counters.exchangeCalls !== 0 || counters.userinfoCalls !== 0) {
    throw new Error(`malformed input reached WeChat: ${counters.exchangeCalls} exchange, ${counters.userinfoCalls} userinfo calls`);
  }
}

/** Node's HTTP parser refusing the request line itself (raw control bytes): 400 with no body, before the app. */
function refusedByHttpParser(answer: RawAnswer): boolean {
  return answer.status === 400 && answer.body === '' && !answer.headers.has('content-type');
}

/**
 * Starts a real login (raw request): its state and the Set-Cookie pair of its state cookie; undefined when Node's
 * HTTP parser refused the target before the app saw it.
 */
async function realLogin(target = '/auth/wechat'): Promise<{ state: string; cookie: string; answer: RawAnswer } | undefined> {
  const answer = await rawRequest(origin, { target });
  expectSafeAnswer(answer, `GET ${target}`);
  if (refusedByHttpParser(answer)) return undefined;
  expect(answer.status).toBe(302);
  const location = answer.headers.get('location')![0]!;
  expect(location.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)).toBe(true);
  const state = new URL(location).searchParams.get('state')!;
  const cookie = answer.headers.get('set-cookie')!.find((line) => line.startsWith(`${STATE_COOKIE}=`))!.split(';')[0]!;
  return { state, cookie, answer };
}

/** The parameters as the library reads them (URLSearchParams over the raw query, up to any `#`). */
function paramsOf(target: string): URLSearchParams {
  const at = target.indexOf('?');
  if (at === -1) return new URLSearchParams();
  const hash = target.indexOf('#', at);
  return new URLSearchParams(target.slice(at + 1, hash === -1 ? undefined : hash));
}

// ---------------------------------------------------------------------------------------------------------------

describe('fuzzing the login and callback routes', () => {
  it('never answers 5xx, never redirects off-site and never calls WeChat, whatever the query and cookies', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/auth/wechat/callback', '/auth/wechat'),
        fc.oneof({ weight: 3, arbitrary: queryParts }, { weight: 1, arbitrary: plausibleCallback }),
        hostileCookie,
        fc.constantFrom('text/html', 'application/json', '*/*'),
        async (path, parts, cookie, accept) => {
          const query = parts.map(([name, value, how]) => `${onWire(name, how)}=${onWire(value, how)}`).join('&');
          const target = query === '' ? path : `${path}?${query}`;
          const answer = await rawRequest(origin, {
            target,
            headers: [`Accept: ${accept}`, ...(cookie === undefined ? [] : [`Cookie: ${cookie}`])],
          });
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          expectSafeAnswer(answer, `GET ${JSON.stringify(target.slice(0, 200))}`);
          // No state cookie of this browser: nothing may reach WeChat, whatever the shape of the query.
          expectNoUpstreamCall();
        },
      ),
      fuzzOptions(400),
    );
    figures.push({ property: 'any query + hostile cookies → no 5xx, no upstream', runs: 400 * RUN_SCALE, statuses: formatStatuses(statuses) });
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true);
  });

  it('keeps returnTo on this site: hostile returnTo values end in a same-origin path after a real login', async () => {
    const statuses = new Map<number, number>();
    let kept = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...REDIRECT_TRICKS), hostileText), wire, async (returnTo, how) => {
        const loginTarget = `/auth/wechat?returnTo=${onWire(returnTo, how)}`;
        const login = await realLogin(loginTarget);
        if (!login) {
          refused++;
          return;
        }
        const code = emulator.mintCode({ scope: 'snsapi_base' });
        const answer = await rawRequest(origin, {
          target: `/auth/wechat/callback?code=${code}&state=${login.state}`,
          headers: [`Cookie: ${login.cookie}`, 'Accept: text/html'],
        });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expectSafeAnswer(answer, 'callback');
        expect(answer.status).toBe(302);
        const location = answer.headers.get('location')![0]!;
        // Kept only when it was a same-site path as the library reads it; otherwise the app's default.
        const asRead = paramsOf(loginTarget).getAll('returnTo');
        const expected = asRead.length === 1 && isSafeReturnTo(asRead[0]) ? asRead[0]! : '/profile';
        expect(location).toBe(expected);
        if (expected !== '/profile') kept++;
        expect(emulator.exchangeCallsForCode(code)).toBe(1);
      }),
      fuzzOptions(60),
    );
    figures.push({ property: 'hostile returnTo → same-origin Location', runs: 60 * RUN_SCALE, statuses: `${formatStatuses(statuses)} (${kept} kept, ${refused} refused by Node's parser)` });
  });

  it('with a valid state cookie, a malformed code never reaches WeChat; a well-formed unknown one is tried once', async () => {
    let malformed = 0;
    let wellFormed = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileText, wire, queryParts, fc.boolean(), async (code, how, extra, extraFirst) => {
        const login = (await realLogin())!;
        const own = `code=${onWire(code, how)}&state=${login.state}`;
        const more = extra.map(([name, value, w]) => `${onWire(name, w)}=${onWire(value, w)}`).join('&');
        const query = more === '' ? own : extraFirst ? `${more}&${own}` : `${own}&${more}`;
        const target = `/auth/wechat/callback?${query}`;
        const before = emulator.counters().exchangeCalls;
        const answer = await rawRequest(origin, { target, headers: [`Cookie: ${login.cookie}`, 'Accept: application/json'] });
        const calls = emulator.counters().exchangeCalls - before;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expectSafeAnswer(answer, `GET ${JSON.stringify(target.slice(0, 200))}`);

        const params = paramsOf(target);
        const codes = params.getAll('code');
        const states = params.getAll('state');
        const wellFormedQuery = codes.length === 1 && TOKEN.test(codes[0]!) && states.length === 1 && states[0] === login.state;
        if (!wellFormedQuery) {
          malformed++;
          expect(calls).toBe(0);
          expect(cookieNamesOf(answer)).not.toContain(SESSION_COOKIE);
          // Refused, or (no code and no state left once a raw `#` cut the query) the start of a new login.
          if (codes.length > 0 || states.length > 0) expect(answer.status).toBeGreaterThanOrEqual(400);
          else if (answer.status === 302) expect(answer.headers.get('location')![0]!.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)).toBe(true);
          return;
        }
        wellFormed++;
        // An unknown code: WeChat says 40029 once; the browser is sent back to WeChat once, or refused. Never a session.
        expect(calls).toBeLessThanOrEqual(1);
        expect(emulator.exchangeCallsForCode(codes[0]!)).toBeLessThanOrEqual(1);
        expect(cookieNamesOf(answer)).not.toContain(SESSION_COOKIE);
        if (answer.status === 302) expect(answer.headers.get('location')![0]!.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)).toBe(true);
        else expect(answer.status).toBeGreaterThanOrEqual(400);
      }),
      fuzzOptions(200),
    );
    figures.push({
      property: 'valid cookie + hostile code → upstream only when well-formed',
      runs: 200 * RUN_SCALE,
      statuses: `${formatStatuses(statuses)} (${malformed} malformed, ${wellFormed} well-formed)`,
    });
    expect(malformed).toBeGreaterThan(0);
  });

  it('never answers 5xx to junk session cookies on the guarded routes, and redirects only to the login', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/profile', '/api/me', '/profile?x=1'), hostileText, wire, async (path, junk, how) => {
        const answer = await rawRequest(origin, {
          target: path,
          headers: [`Cookie: ${SESSION_COOKIE}=${onWire(junk, how === 'encoded' ? 'encoded' : 'raw')}`, 'Accept: text/html'],
        });
        expectSafeAnswer(answer, `GET ${path}`);
        expect([302, 401]).toContain(answer.status);
        if (answer.status === 302) expect(answer.headers.get('location')![0]).toMatch(/^\/auth\/wechat\?returnTo=/);
      }),
      fuzzOptions(100),
    );
    expectNoUpstreamCall();
  });
});

function formatStatuses(statuses: Map<number, number>): string {
  return [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
}
