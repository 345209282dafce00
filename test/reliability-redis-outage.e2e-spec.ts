/**
 * Redis stopped mid-run and restarted, under three sample-app PROCESSES and a steady stream of logins. A private
 * redis-server (killed with SIGKILL while callbacks are in flight, then restarted on the same port) so the outage
 * is real and touches nobody else. Asserts: no 5xx and no hang at any point; duplicates reaching one instance are
 * still coalesced during the outage (exactly one exchange per code); every browser ends signed in as itself; a
 * session issued before the outage stays valid; /health reports redis "down" within 15 s on every instance (also
 * one that serves no login meanwhile) and "up" again within 15 s of the restart; afterwards duplicates across
 * instances are coalesced through Redis again.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { CookieJar } from './sample-e2e-helpers.js';
import { DisposableRedisServer } from './support/code-exchange.harness.js';
import { printTable, round } from './support/figures.js';
import { SampleBrowser, jarAfter, type HttpAnswer } from './support/sample-browser.js';
import { SampleProcess, sampleProcessEnv } from './support/sample-process.js';

const HEALTH_DEADLINE_MS = 15_000;
/** No callback may take longer than this, outage or not (timeouts are 1.5 s upstream and 0.5 s per Redis command). */
const MAX_CALLBACK_MS = 5_000;

let emulator: WechatEmulator;
let redisServer: DisposableRedisServer;
let instances: SampleProcess[] = [];

beforeAll(async () => {
  redisServer = await DisposableRedisServer.start();
  emulator = new WechatEmulator();
  const env = sampleProcessEnv({ emulatorOrigin: await emulator.listen(), redisURL: redisServer.url, redisKeyPrefix: 'rel-outage', httpTimeoutMs: 1_500 });
  instances = await SampleProcess.startAll(['A', 'B', 'C'], () => env);
}, 60_000);

afterAll(async () => {
  await SampleProcess.stopAll(instances);
  await emulator?.close();
  await redisServer?.kill();
}, 60_000);

/** One login: its duplicates' answers, the code, and whether each answer's session is the right user. */
interface LoginRecord {
  phase: string;
  code: string;
  nickname: string;
  answers: HttpAnswer[];
  sessionsRight: boolean;
  /** Answers that sent the browser back to WeChat for a fresh code (allowed only where the phase says so). */
  reauthorizations: number;
  error?: string;
}

let sequence = 0;

/**
 * Logs a fresh browser in at `loginAt` and sends the callback to each of `targets` at once. Every answer must be a
 * session of this browser's user, or (with `allowReauthorization`) a clean redirect back to WeChat for a new code.
 */
async function login(
  phase: string,
  loginAt: SampleProcess,
  targets: SampleProcess[],
  allowReauthorization = false,
): Promise<LoginRecord> {
  const n = ++sequence;
  const nickname = `${phase}-${n}`;
  const browser = new SampleBrowser();
  const record: LoginRecord = { phase, code: '', nickname, answers: [], sessionsRight: false, reauthorizations: 0 };
  try {
    const { state } = await browser.startLogin(loginAt.base);
    record.code = emulator.mintCode({ nickname });
    const path = SampleBrowser.callbackPath(record.code, state);
    record.answers = await Promise.all(targets.map((target) => browser.get(target.base, path, { store: false, timeoutMs: 10_000 })));
    let right = true;
    for (const answer of record.answers) {
      if (answer.status === 302 && answer.location?.startsWith(`${emulator.origin}/connect/oauth2/authorize?`)) {
        record.reauthorizations++;
        if (!allowReauthorization) right = false;
        continue;
      }
      if (answer.status !== 302 || answer.location !== '/profile') {
        right = false;
        continue;
      }
      // Checked on any instance: sessions are stateless and shared.
      const me = await browser.me(instances[n % instances.length]!.base, jarAfter(browser.jar, answer));
      if (me?.nickname !== nickname) right = false;
    }
    record.sessionsRight = right;
  } catch (error) {
    record.error = (error as Error).message;
  }
  return record;
}

/** Runs `concurrency` login loops until `stop()` is called. */
function loginLoops(phase: string, concurrency: number, pick: (i: number) => { loginAt: SampleProcess; targets: SampleProcess[] }) {
  const records: LoginRecord[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async (_, worker) => {
    for (let i = 0; running; i++) {
      const { loginAt, targets } = pick(worker + i * concurrency);
      records.push(await login(phase, loginAt, targets));
    }
  });
  return {
    records,
    async stop(): Promise<LoginRecord[]> {
      running = false;
      await Promise.all(loops);
      return records;
    },
  };
}

async function healthOf(instance: SampleProcess): Promise<string> {
  const answer = await new SampleBrowser().get(instance.base, '/health', { accept: 'application/json', timeoutMs: 5_000 });
  if (answer.status !== 200) throw new Error(`/health on ${instance.name} answered ${answer.status}`);
  return answer.json<{ redis: string }>().redis;
}

/** Polls /health on every instance until each reports `wanted`; returns ms until each did (from `since`). */
async function untilHealth(wanted: 'up' | 'down', since: number): Promise<Record<string, number>> {
  const reached: Record<string, number> = {};
  while (Object.keys(reached).length < instances.length) {
    if (Date.now() - since > HEALTH_DEADLINE_MS + 5_000) break;
    for (const instance of instances) {
      if (reached[instance.name] === undefined && (await healthOf(instance)) === wanted) reached[instance.name] = Date.now() - since;
    }
    await sleep(100);
  }
  return reached;
}

/** The per-instance figures in instance order, with a dash for an instance that never got there. */
function byInstance(figures: Record<string, number>): Record<string, number | string> {
  return Object.fromEntries(instances.map((instance) => [instance.name, figures[instance.name] ?? '-']));
}

function summarize(records: LoginRecord[]) {
  const answers = records.flatMap((record) => record.answers);
  return {
    logins: records.length,
    callbacks: answers.length,
    '5xx': answers.filter((answer) => answer.status >= 500).length,
    errors: records.filter((record) => record.error !== undefined).length,
    'wrong/lost sessions': records.filter((record) => !record.sessionsRight).length,
    're-authorizations': records.reduce((sum, record) => sum + record.reauthorizations, 0),
    'exchange calls': records.reduce((sum, record) => sum + (record.code ? emulator.exchangeCallsForCode(record.code) : 0), 0),
    'slowest ms': round(Math.max(0, ...answers.map((answer) => answer.ms)), 0),
  };
}

function expectClean(records: LoginRecord[], exchangesPerCode: 'one' | 'one per instance hit' = 'one'): void {
  const failures = records.filter((record) => record.error !== undefined || !record.sessionsRight);
  if (failures.length > 0) {
    const first = failures[0]!;
    throw new Error(
      `${failures.length} of ${records.length} logins failed in phase "${first.phase}"; first: ${first.error ?? first.answers.map((a) => `${a.status} ${a.location ?? a.body.slice(0, 120)}`).join(', ')}`,
    );
  }
  for (const record of records) {
    for (const answer of record.answers) expect(answer.ms).toBeLessThan(MAX_CALLBACK_MS);
    const calls = emulator.exchangeCallsForCode(record.code);
    if (exchangesPerCode === 'one') {
      // Exactly one upstream exchange per code, however many duplicates.
      expect({ code: record.code, calls }).toEqual({ code: record.code, calls: 1 });
    } else {
      // Degraded: each instance coordinates its own duplicates, so at most one exchange per instance reached.
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(calls).toBeLessThanOrEqual(record.answers.length);
    }
  }
}

describe('Redis stopped mid-run and restarted', () => {
  it('keeps serving, coalesces single-instance duplicates, reports health down and up within 15 s, loses no session', async () => {
    const [a, b, c] = instances as [SampleProcess, SampleProcess, SampleProcess];
    for (const instance of instances) expect(await healthOf(instance)).toBe('up');

    // Before: duplicates spread over all three instances meet in Redis.
    const before = await Promise.all(Array.from({ length: 6 }, (_, i) => login('before', instances[i % 3]!, [a, b, c])));
    expectClean(before);
    const survivor = new SampleBrowser();
    const { state } = await survivor.startLogin(a.base);
    const survivorAnswer = await survivor.get(b.base, SampleBrowser.callbackPath(emulator.mintCode({ nickname: '幸存者' }), state));
    expect(survivorAnswer.status).toBe(302);
    const survivorJar: CookieJar = survivor.jar;

    // During: logins keep coming (duplicates on one instance: A or B; C serves no login, only /health).
    const during = loginLoops('outage', 4, (i) => {
      const instance = i % 2 === 0 ? a : b;
      return { loginAt: instance, targets: i % 4 < 2 ? [instance, instance] : [instance, instance, instance] };
    });
    await sleep(700);
    const killedAt = Date.now();
    await redisServer.kill();
    const down = await untilHealth('down', killedAt);
    // While degraded, duplicates reaching different instances are not coordinated: each may exchange the code, the
    // later one then gets "code used" and sends the browser back to WeChat. Never someone else's session, never 5xx.
    const crossDuringOutage = await Promise.all(Array.from({ length: 4 }, (_, i) => login('outage-cross', i % 2 ? a : b, [a, b], true)));
    // Sessions are the app's own signed cookies: an outage of the exchange's Redis cannot touch them.
    for (const instance of instances) expect(await survivor.me(instance.base, survivorJar)).toMatchObject({ nickname: '幸存者' });
    await sleep(1_500);
    const restartedAt = Date.now();
    await redisServer.restart();
    const up = await untilHealth('up', restartedAt);
    await sleep(500);
    const outage = await during.stop();

    // After: coordination through Redis again, across instances.
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => login('after', instances[i % 3]!, [a, b, c])));

    printTable('Redis outage (3 instances; A and B serve logins during the outage, C only /health):', [
      { phase: 'before (cross-instance duplicates)', ...summarize(before) },
      { phase: 'kill → restart (same-instance duplicates)', ...summarize(outage) },
      { phase: 'degraded (duplicates on A and B)', ...summarize(crossDuringOutage) },
      { phase: 'after (cross-instance duplicates)', ...summarize(after) },
    ]);
    printTable('/health after the kill and after the restart (ms):', [
      { event: 'redis "down" after SIGKILL', ...byInstance(down) },
      { event: 'redis "up" after restart', ...byInstance(up) },
    ]);

    expect(Object.keys(down).sort()).toEqual(['A', 'B', 'C']);
    expect(Object.keys(up).sort()).toEqual(['A', 'B', 'C']);
    for (const ms of [...Object.values(down), ...Object.values(up)]) expect(ms).toBeLessThanOrEqual(HEALTH_DEADLINE_MS);
    expect(outage.length).toBeGreaterThanOrEqual(8);
    expectClean(outage);
    expectClean(crossDuringOutage, 'one per instance hit');
    expectClean(after);
    for (const instance of instances) {
      expect(instance.running).toBe(true);
      expect(await survivor.me(instance.base, survivorJar)).toMatchObject({ nickname: '幸存者' });
    }
  }, 90_000);
});
