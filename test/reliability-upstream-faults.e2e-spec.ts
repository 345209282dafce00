/**
 * WeChat failing in every way the emulator can fail it, seen by three sample-app PROCESSES sharing Redis: slow
 * (3 s against a 1 s timeout), hanging, `-1`, HTTP 5xx, a reset socket, an HTML page, an empty body. Each callback
 * is hit at once on all three instances (the Android duplicate behind a load balancer). Every duplicate gets the
 * same right status (502/504) in bounded time, WeChat sees exactly one exchange call for the code (never a retry
 * that burns it), and every instance keeps serving: a normal login right after succeeds on each.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WechatEmulator, type EmulatorEndpoint, type EmulatorFault } from 'nestjs-wechat-auth-emulator';
import { REDIS_URL, cleanUpTestRedis, connectTestRedis, uniquePrefix, type TestRedisClient } from './support/code-exchange.harness.js';
import { SampleBrowser, jarAfter, type HttpAnswer } from './support/sample-browser.js';
import { printTable } from './support/figures.js';
import { SampleProcess, sampleProcessEnv } from './support/sample-process.js';

const HTTP_TIMEOUT_MS = 1_000;
/** The longest a callback may take when WeChat fails: the timeout, plus a duplicate's wake-up, plus a noisy CI box. */
const MAX_FAILURE_ANSWER_MS = HTTP_TIMEOUT_MS + 2_500;

let emulator: WechatEmulator;
let redis: TestRedisClient;
let instances: SampleProcess[] = [];
const prefix = uniquePrefix('rel-upstream');

beforeAll(async () => {
  redis = await connectTestRedis();
  emulator = new WechatEmulator();
  const env = sampleProcessEnv({ emulatorOrigin: await emulator.listen(), redisURL: REDIS_URL, redisKeyPrefix: prefix, httpTimeoutMs: HTTP_TIMEOUT_MS });
  instances = await SampleProcess.startAll(['A', 'B', 'C'], () => env);
}, 60_000);

afterAll(async () => {
  await SampleProcess.stopAll(instances);
  await emulator?.close();
  await cleanUpTestRedis(redis, prefix);
}, 60_000);

/** Logs one fresh browser in through instance `loginAt` and hits the callback on every instance at once. */
async function callbackOnEveryInstance(nickname: string, loginAt = instances[0]!) {
  const browser = new SampleBrowser();
  const { state } = await browser.startLogin(loginAt.base);
  const code = emulator.mintCode({ nickname });
  const path = SampleBrowser.callbackPath(code, state);
  const answers = await Promise.all(
    instances.map((instance) => browser.get(instance.base, path, { accept: 'application/json', store: false, timeoutMs: 15_000 })),
  );
  return { browser, code, answers };
}

/** A normal login on each instance, with a duplicate on the next one: each browser signed in as itself. */
async function expectEveryInstanceServes(label: string): Promise<void> {
  await Promise.all(
    instances.map(async (instance, i) => {
      const nickname = `${label} 恢复 ${i}`;
      const browser = new SampleBrowser();
      const { state } = await browser.startLogin(instance.base);
      const code = emulator.mintCode({ nickname });
      const path = SampleBrowser.callbackPath(code, state);
      const other = instances[(i + 1) % instances.length]!;
      const answers = await Promise.all([browser.get(instance.base, path, { store: false }), browser.get(other.base, path, { store: false })]);
      for (const answer of answers) {
        expect({ status: answer.status, location: answer.location }).toEqual({ status: 302, location: '/profile' });
        expect(await browser.me(instance.base, jarAfter(browser.jar, answer))).toMatchObject({ nickname });
      }
      expect(emulator.exchangeCallsForCode(code)).toBe(1);
    }),
  );
}

interface Scenario {
  label: string;
  status: 502 | 504;
  errcode?: number;
  arrange(): void;
  /** Calls of /sns/userinfo expected (the profile read may be retried once; the exchange never). */
  userinfoCalls?: number;
}

const fault = (endpoint: EmulatorEndpoint, f: EmulatorFault) => () => emulator.injectFault(endpoint, f);

const scenarios: Scenario[] = [
  { label: 'slow: 3 s against a 1 s timeout', status: 504, arrange: () => emulator.setLatency('access_token', { fixedMs: 3_000 }) },
  { label: 'hanging', status: 504, arrange: fault('access_token', { kind: 'hang' }) },
  { label: 'answering -1 (system busy)', status: 502, errcode: -1, arrange: fault('access_token', { kind: 'errcode', errcode: -1 }) },
  { label: 'HTTP 500', status: 502, arrange: fault('access_token', { kind: 'http', status: 500 }) },
  { label: 'HTTP 503', status: 502, arrange: fault('access_token', { kind: 'http', status: 503 }) },
  { label: 'resetting the socket', status: 502, arrange: fault('access_token', { kind: 'reset' }) },
  { label: 'returning an HTML page', status: 502, arrange: fault('access_token', { kind: 'html' }) },
  { label: 'returning an empty body', status: 502, arrange: fault('access_token', { kind: 'empty' }) },
  {
    label: 'answering -1 on the profile read',
    status: 502,
    errcode: -1,
    userinfoCalls: 2,
    arrange: fault('userinfo', { kind: 'errcode', errcode: -1 }),
  },
];

const figures: Array<Record<string, unknown>> = [];

describe('WeChat failing, three instances, duplicates on each', () => {
  afterAll(() => {
    printTable(`WeChat failing (3 instances, HTTP timeout ${HTTP_TIMEOUT_MS} ms):`, figures);
  });

  it.each(scenarios)('WeChat $label → $status for every duplicate, one exchange call, every instance keeps serving', async (scenario) => {
    emulator.reset();
    scenario.arrange();
    const { code, answers } = await callbackOnEveryInstance(`故障 ${scenario.label}`);
    // The winner's call is counted by the emulator on arrival; give a retry or a takeover time to show up.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exchangeCalls = emulator.exchangeCallsForCode(code);
    const { userinfoCalls } = emulator.counters();
    emulator.reset(); // before asserting, so a failed assertion cannot leave a hang or latency behind

    for (const answer of answers) expectFailure(answer, scenario);
    const slowest = Math.max(...answers.map((answer) => answer.ms));
    expect(slowest).toBeLessThan(MAX_FAILURE_ANSWER_MS);
    expect(exchangeCalls).toBe(1);
    expect(userinfoCalls).toBe(scenario.userinfoCalls ?? 0);
    figures.push({
      'WeChat fault': scenario.label,
      statuses: answers.map((answer) => answer.status).join('/'),
      'slowest ms': Math.round(slowest),
      'exchange calls': exchangeCalls,
    });

    await expectEveryInstanceServes(scenario.label);
    for (const instance of instances) expect(instance.running).toBe(true);
  });

  it('a slow WeChat within the timeout (500 ms of 1 s) still signs everyone in with one exchange', async () => {
    emulator.reset();
    // Half the timeout: slack for a loaded machine's late timers and sockets, still slow enough to be felt.
    emulator.setLatency('access_token', { fixedMs: 500 });
    try {
      const { browser, code, answers } = await callbackOnEveryInstance('慢但及时');
      for (const answer of answers) {
        expect({ status: answer.status, location: answer.location }).toEqual({ status: 302, location: '/profile' });
        expect(await browser.me(instances[2]!.base, jarAfter(browser.jar, answer))).toMatchObject({ nickname: '慢但及时' });
      }
      expect(emulator.exchangeCallsForCode(code)).toBe(1);
    } finally {
      emulator.reset();
    }
  });
});

function expectFailure(answer: HttpAnswer, scenario: Scenario): void {
  if (answer.status !== scenario.status) {
    throw new Error(`expected ${scenario.status} for "${scenario.label}", got ${answer.status}: ${answer.body.slice(0, 300)}`);
  }
  expect(answer.json()).toEqual({
    statusCode: scenario.status,
    error: scenario.status === 504 ? 'Gateway Timeout' : 'Bad Gateway',
    message: expect.any(String),
    ...(scenario.errcode === undefined ? {} : { errcode: scenario.errcode }),
  });
  expect(answer.headers.get('cache-control')).toBe('no-store');
}
