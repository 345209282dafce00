/**
 * Secrets never reach the logs. The sample app runs with every log level on (debug and verbose included) into a
 * recording logger, with Redis coordination on, while a full run of logins goes through it: successes with
 * duplicates, every upstream failure (including a gateway that echoes the request's query string, secret and code
 * included, back in errmsg), unusable codes, replays, malformed and tampered callbacks.
 *
 * WeChat is the emulator behind a recording tap, so the test knows every access and refresh token actually issued;
 * it also knows every code it minted, every state-cookie nonce and session cookie it was given, the app secret and
 * the session secret. None of them may appear in anything logged (nor written to stdout/stderr or the console),
 * nor in an error body sent to a client.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { startSampleApp, type SampleApp } from '../apps/sample/src/bootstrap.js';
import { REDIS_URL, cleanUpTestRedis, connectTestRedis, uniquePrefix, type TestRedisClient } from './support/code-exchange.harness.js';
import { printTable } from './support/figures.js';
import { productionSampleEnv } from './support/sample-app.js';
import { SampleBrowser, SESSION_COOKIE, type HttpAnswer } from './support/sample-browser.js';

const STATE_COOKIE = 'wechat_auth_state_wechat';
const SESSION_SECRET = randomBytes(32).toString('base64url');

/** Every line any logger, console method or stream write produced, with its level. */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; text: string }> = [];
  private record(level: string, message: unknown, params: unknown[]): void {
    const text = [message, ...params].map((part) => (part instanceof Error ? `${part.message}\n${part.stack}` : typeof part === 'string' ? part : JSON.stringify(part))).join(' ');
    this.lines.push({ level, text });
  }
  log(message: unknown, ...params: unknown[]): void {
    this.record('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.record('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.record('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.record('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.record('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.record('fatal', message, params);
  }
}

const secrets = new Map<string, string>(); // value → what it is
function remember(kind: string, value: string | undefined): void {
  if (value && value.length >= 8) secrets.set(value, kind);
}

let emulator: WechatEmulator;
let tap: Server;
let tapOrigin: string;
let sample: SampleApp;
let base: string;
let redis: TestRedisClient;
const prefix = uniquePrefix('secrets');
const logger = new RecordingLogger();
const answers: HttpAnswer[] = [];
const restoreSpies: Array<() => void> = [];

/** The emulator behind a tap that records the tokens in every sns answer it relays. */
function startTap(): Promise<string> {
  tap = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    const end = res.end.bind(res) as (chunk?: unknown, ...rest: unknown[]) => ServerResponse;
    const keep = (chunk: unknown) => {
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) chunks.push(Buffer.from(chunk as string));
    };
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      keep(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      for (const match of text.matchAll(/"(access_token|refresh_token)"\s*:\s*"([^"]+)"/g)) remember(match[1]!, match[2]);
      return end(chunk, ...rest);
    }) as typeof res.end;
    emulator.handle(req, res);
  });
  return new Promise((resolve) => tap.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(tap.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  redis = await connectTestRedis();
  // Anything that bypasses the logger (console, raw stream writes) is captured too.
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const spy = jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logger.lines.push({ level: `console.${method}`, text: args.map(String).join(' ') });
    });
    restoreSpies.push(() => spy.mockRestore());
  }
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      logger.lines.push({ level: 'stream', text: String(chunk) });
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restoreSpies.push(() => {
      stream.write = original;
    });
  }

  emulator = new WechatEmulator();
  tapOrigin = await startTap();
  sample = await startSampleApp({
    env: productionSampleEnv(tapOrigin, { SESSION_SECRET, WECHAT_HTTP_TIMEOUT_MS: '800', REDIS_URL, REDIS_KEY_PREFIX: prefix }),
    host: '127.0.0.1',
    logger,
  });
  base = `http://127.0.0.1:${sample.config.port}`;
  remember('app secret', DEMO_APP.appSecret);
  remember('session secret', SESSION_SECRET);
});

afterAll(async () => {
  await sample?.close();
  await new Promise((resolve) => tap?.close(resolve));
  tap?.closeAllConnections();
  await emulator?.close();
  for (const restore of restoreSpies.reverse()) restore();
  await cleanUpTestRedis(redis, prefix);
});

/** Remembers the secrets a browser was given (state-cookie nonce, session cookie). */
function rememberCookies(answer: HttpAnswer): HttpAnswer {
  answers.push(answer);
  for (const line of answer.setCookies) {
    const [pair = ''] = line.split(';');
    const value = pair.slice(pair.indexOf('=') + 1);
    if (pair.startsWith(`${STATE_COOKIE}=`)) rememberStateCookie(value);
    if (pair.startsWith(`${SESSION_COOKIE}=`)) remember('session cookie', value);
  }
  return answer;
}

/** The state cookie is `v1.<nonce>.<issuedAt>.<flags>.<returnTo>.<mac>`: the nonce is the browser's secret. */
function rememberStateCookie(value: string | undefined): void {
  remember('state cookie', value);
  remember('state-cookie nonce', value?.split('.')[1]);
}

function mint(nickname?: string): string {
  const code = emulator.mintCode(nickname === undefined ? {} : { nickname });
  remember('code', code);
  return code;
}

/** A login up to the callback, then the callback sent `times` at once. */
async function login(code: string, times = 1, browser = new SampleBrowser()) {
  const { state } = await browser.startLogin(base);
  rememberStateCookie(browser.jar.get(STATE_COOKIE));
  const path = SampleBrowser.callbackPath(code, state);
  const results = await Promise.all(Array.from({ length: times }, () => browser.get(base, path, { accept: 'application/json', store: false })));
  return { browser, state, path, results: results.map(rememberCookies) };
}

describe('secrets in logs', () => {
  it('a full run with debug logging writes no secret, token, code, nonce or session anywhere', async () => {
    const statuses: number[] = [];
    const track = (list: HttpAnswer[]) => statuses.push(...list.map((answer) => answer.status));

    // Successes, with duplicates and a late duplicate (shared and local late hits).
    for (let i = 0; i < 3; i++) {
      const { browser, path, results } = await login(mint(`秘密 ${i}`), 3);
      track(results);
      track([rememberCookies(await browser.get(base, path, { accept: 'application/json', store: false }))]);
    }
    // Every upstream failure, including gateways echoing the request (secret and code) in errmsg.
    const echo = 'upstream said: {query}';
    const failures: Array<[string, () => void]> = [
      ['token: invalid appsecret, echoing the query', () => emulator.injectFault('access_token', { kind: 'errcode', errcode: 40125, errmsg: echo })],
      ['token: -1, echoing the query', () => emulator.injectFault('access_token', { kind: 'errcode', errcode: -1, errmsg: `system error, ${echo}, rid: 1-2` })],
      ['userinfo: -1, echoing the token', () => emulator.injectFault('userinfo', { kind: 'errcode', errcode: -1, errmsg: echo })],
      ['token: HTTP 503', () => emulator.injectFault('access_token', { kind: 'http', status: 503 })],
      ['token: HTML', () => emulator.injectFault('access_token', { kind: 'html' })],
      ['token: empty', () => emulator.injectFault('access_token', { kind: 'empty' })],
      ['token: reset', () => emulator.injectFault('access_token', { kind: 'reset' })],
      ['token: hang', () => emulator.injectFault('access_token', { kind: 'hang' })],
    ];
    for (const [, arrange] of failures) {
      arrange();
      track((await login(mint(), 2)).results);
      emulator.reset();
    }
    // Unusable codes: unknown (40029 → one re-authorization); on the re-authorized login, a code another browser used (403).
    const unknown = randomBytes(16).toString('hex');
    remember('code', unknown);
    const first = await login(unknown);
    track(first.results);
    const spent = mint();
    const { results: spentResults } = await login(spent);
    track(spentResults);
    const reauthJar = first.browser.jar.clone();
    reauthJar.store(first.results[0]!.setCookies);
    const reauthState = new URL(first.results[0]!.location!).searchParams.get('state')!;
    track([rememberCookies(await first.browser.get(base, SampleBrowser.callbackPath(spent, reauthState), { jar: reauthJar, accept: 'application/json', store: false }))]);
    // Replays, malformed and tampered callbacks.
    const victim = await login(mint('受害者'));
    track(victim.results);
    track([rememberCookies(await new SampleBrowser().get(base, victim.path, { accept: 'application/json' }))]);
    const thief = new SampleBrowser();
    await thief.startLogin(base);
    rememberStateCookie(thief.jar.get(STATE_COOKIE));
    track([rememberCookies(await thief.get(base, victim.path, { accept: 'application/json' }))]);
    const secretCode = mint();
    track([rememberCookies(await thief.get(base, `/auth/wechat/callback?code=${secretCode}%00&state=x`, { accept: 'application/json' }))]);
    track([rememberCookies(await thief.get(base, `/auth/wechat/callback?code=${secretCode}&code=${secretCode}&state=x`, { accept: 'application/json' }))]);
    thief.jar.set(STATE_COOKIE, `${thief.jar.get(STATE_COOKIE)!.slice(0, -4)}AAAA`);
    track([rememberCookies(await thief.get(base, SampleBrowser.callbackPath(secretCode, victim.state), { accept: 'application/json' }))]);

    // Each kind of secret was really seen (otherwise this test would prove nothing).
    const kinds = new Set(secrets.values());
    for (const kind of ['app secret', 'session secret', 'code', 'access_token', 'refresh_token', 'state-cookie nonce', 'session cookie']) {
      expect(kinds).toContain(kind);
    }
    // Debug logging was really on, and the library really logged.
    const levels = new Set(logger.lines.map((line) => line.level));
    expect(levels).toContain('debug');
    expect(levels).toContain('warn');
    expect(logger.lines.some((line) => /WechatAuthGuard|WeChat login/.test(line.text))).toBe(true);
    expect(statuses.some((status) => status >= 500)).toBe(true);
    expect(statuses.every((status) => status !== 500)).toBe(true);

    const leaks: string[] = [];
    const haystacks = [
      ...logger.lines.map((line) => ({ where: `log (${line.level})`, text: line.text })),
      ...answers.filter((answer) => answer.status >= 400).map((answer) => ({ where: `error body ${answer.status}`, text: answer.body })),
    ];
    for (const { where, text } of haystacks) {
      for (const [secret, kind] of secrets) {
        if (text.includes(secret) || text.includes(encodeURIComponent(secret))) leaks.push(`${kind} in ${where}: ${text.slice(0, 200)}`);
      }
    }
    printTable('Secrets vs. captured logs (debug and verbose on):', [
      {
        'log lines': logger.lines.length,
        'debug lines': logger.lines.filter((line) => line.level === 'debug').length,
        'error bodies': answers.filter((answer) => answer.status >= 400).length,
        'secrets checked': secrets.size,
        kinds: [...kinds].join(', '),
        leaks: leaks.length,
      },
    ]);
    expect(leaks).toEqual([]);
  });
});
