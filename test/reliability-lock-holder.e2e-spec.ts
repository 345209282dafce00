/**
 * The instance holding a code's lock is killed (SIGKILL) in the middle of the exchange, while the duplicates of the
 * callback wait at the other instances: three sample-app PROCESSES sharing Redis, WeChat made slow by the emulator so
 * the exchange is long enough to die in. The holder is the instance that received the first hit (the emulator sees
 * its exchange call arrive, and its lock is in Redis) before the duplicates are sent elsewhere.
 *
 * The duplicates must finish within the lock TTL (plus one exchange) with a session or a clean re-authorization,
 * never a hang or a 5xx, all with the same outcome:
 * - WeChat had already spent the code (the usual case): the survivor that takes over gets 40163, shares it, and
 *   every duplicate is sent to WeChat once more for a fresh code (which then signs the browser in);
 * - the holder died before WeChat saw the code: the takeover's exchange succeeds and every duplicate is signed in.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { consentAtEmulator, pathAndQuery } from './sample-e2e-helpers.js';
import {
  REDIS_URL,
  cleanUpTestRedis,
  connectTestRedis,
  eventually,
  scanKeys,
  uniquePrefix,
  type TestRedisClient,
} from './support/code-exchange.harness.js';
import { printTable, round } from './support/figures.js';
import { SampleBrowser, jarAfter, type HttpAnswer } from './support/sample-browser.js';
import { SampleProcess, sampleProcessEnv } from './support/sample-process.js';

const HTTP_TIMEOUT_MS = 1_000;
/** The library's default lock TTL for this timeout: 2 × httpTimeoutMs + 1000 (token call plus profile read). */
const LOCK_TTL_MS = 2 * HTTP_TIMEOUT_MS + 1_000;
/** WeChat's answer time during these tests: long enough to kill the holder mid-exchange, within the timeout. */
const EXCHANGE_LATENCY_MS = 700;
/** A duplicate must be answered within the lock TTL plus one more (takeover) exchange, plus a noisy-CI margin. */
const MAX_AFTER_KILL_MS = LOCK_TTL_MS + EXCHANGE_LATENCY_MS + 2_000;

let emulator: WechatEmulator;
let redis: TestRedisClient;
let env: NodeJS.ProcessEnv;
const prefix = uniquePrefix('rel-holder');
const instances: SampleProcess[] = [];
const figures: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  redis = await connectTestRedis();
  emulator = new WechatEmulator();
  env = sampleProcessEnv({ emulatorOrigin: await emulator.listen(), redisURL: REDIS_URL, redisKeyPrefix: prefix, httpTimeoutMs: HTTP_TIMEOUT_MS });
  instances.push(...(await SampleProcess.startAll(['A', 'B', 'C'], () => env)));
}, 60_000);

afterAll(async () => {
  printTable(`Lock holder killed mid-exchange (lock TTL ${LOCK_TTL_MS} ms, WeChat answering in ${EXCHANGE_LATENCY_MS} ms):`, figures);
  await SampleProcess.stopAll(instances);
  await emulator?.close();
  await cleanUpTestRedis(redis, prefix);
}, 60_000);

/**
 * Kills the instance holding the lock of a fresh login's code while duplicates wait at the two others; returns the
 * duplicates' answers and how long after the kill they came.
 */
async function killHolderMidExchange(nickname: string) {
  const [holder, ...survivors] = instances as [SampleProcess, SampleProcess, SampleProcess];
  const browser = new SampleBrowser();
  const { state } = await browser.startLogin(holder.base);
  const code = emulator.mintCode({ nickname });
  const path = SampleBrowser.callbackPath(code, state);

  // The first hit goes to the holder; it never answers (its process dies).
  const first = browser.get(holder.base, path, { store: false, timeoutMs: 10_000 }).then(
    () => 'answered',
    () => 'died',
  );
  await eventually(() => emulator.exchangeCallsForCode(code) === 1, 5_000, 5);
  await eventually(async () => (await scanKeys(redis, prefix)).some((key) => key.endsWith(':lock')), 5_000, 5);
  // The duplicates reach the other instances while the holder is exchanging, and wait for it.
  const duplicates = survivors.map((survivor) => browser.get(survivor.base, path, { store: false, timeoutMs: 15_000 }));
  await sleep(150);
  const killedAt = performance.now();
  await holder.kill();
  const answers = await Promise.all(duplicates);
  const afterKillMs = performance.now() - killedAt;
  expect(await first).toBe('died');
  return { browser, code, path, answers, afterKillMs, survivors };
}

/** Replaces the killed holder (instances[0]) by a fresh process, so each test starts with three. */
async function replaceHolder(): Promise<void> {
  const dead = instances.shift()!;
  await dead.exited;
  instances.push(await SampleProcess.start(`${dead.name}'`, env));
}

function expectSameOutcome(answers: HttpAnswer[]): void {
  for (const answer of answers) {
    expect(answer.status).toBeLessThan(500);
    expect({ status: answer.status, kind: outcomeOf(answer) }).toEqual({ status: answers[0]!.status, kind: outcomeOf(answers[0]!) });
  }
}

function outcomeOf(answer: HttpAnswer): string {
  if (answer.status === 302 && answer.location === '/profile') return 'session';
  if (answer.status === 302 && answer.location?.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)) return 're-authorization';
  return `${answer.status}`;
}

/** A row of the figures table printed after the tests: one killed holder's duplicates (WeChat saw 2 exchange calls). */
function recordCase(label: string, answers: HttpAnswer[], afterKillMs: number): void {
  figures.push({
    case: label,
    duplicates: answers.map(outcomeOf).join(', '),
    'answered after kill (ms)': round(afterKillMs, 0),
    'exchange calls': 2,
  });
}

describe('the lock holder killed with SIGKILL mid-exchange', () => {
  afterAll(() => emulator.setLatency('access_token', { fixedMs: 0 }));

  it('after WeChat spent the code: every duplicate gets one clean re-authorization within the lock TTL, which then signs in', async () => {
    emulator.reset();
    emulator.setLatency('access_token', { fixedMs: EXCHANGE_LATENCY_MS });
    const { browser, code, path, answers, afterKillMs, survivors } = await killHolderMidExchange('被杀的持锁者');

    expectSameOutcome(answers);
    for (const answer of answers) expect(outcomeOf(answer)).toBe('re-authorization');
    expect(afterKillMs).toBeLessThan(MAX_AFTER_KILL_MS);
    // The dead holder's call spent the code; exactly one survivor took over and got 40163 for everyone.
    expect(emulator.counters().exchangeByCode[code]).toEqual({ calls: 2, outcomes: [0, 40163] });

    // A late duplicate gets the same shared answer, with no new call.
    const late = await browser.get(survivors[1]!.base, path, { store: false });
    expect(outcomeOf(late)).toBe('re-authorization');
    expect(emulator.exchangeCallsForCode(code)).toBe(2);

    // The re-authorization is real: WeChat gives a fresh code and the browser is signed in as itself.
    const jar = jarAfter(browser.jar, answers[0]!);
    const again = await consentAtEmulator(answers[0]!.location!, { nickname: '被杀的持锁者' });
    const signedIn = await browser.get(survivors[0]!.base, pathAndQuery(again), { jar, store: false });
    expect({ status: signedIn.status, location: signedIn.location }).toEqual({ status: 302, location: '/profile' });
    expect(await browser.me(survivors[1]!.base, jarAfter(jar, signedIn))).toMatchObject({ nickname: '被杀的持锁者' });

    recordCase('WeChat had spent the code', answers, afterKillMs);
    await replaceHolder();
  });

  it('before WeChat saw the code: the takeover exchanges it and every duplicate is signed in, within the lock TTL', async () => {
    emulator.reset();
    emulator.setLatency('access_token', { fixedMs: EXCHANGE_LATENCY_MS });
    // The holder's request never reaches WeChat's code check (lost on the way): it hangs and spends nothing.
    emulator.injectFault('access_token', { kind: 'hang' }, { times: 1, consumeCode: false });
    const { browser, code, answers, afterKillMs } = await killHolderMidExchange('幸运的接管');

    expectSameOutcome(answers);
    for (const answer of answers) {
      expect(outcomeOf(answer)).toBe('session');
      expect(await browser.me(instances[1]!.base, jarAfter(browser.jar, answer))).toMatchObject({ nickname: '幸运的接管' });
    }
    expect(afterKillMs).toBeLessThan(MAX_AFTER_KILL_MS);
    expect(emulator.counters().exchangeByCode[code]).toEqual({ calls: 2, outcomes: ['hang', 0] });
    recordCase('WeChat had not seen the code', answers, afterKillMs);
    await replaceHolder();
  });
});
