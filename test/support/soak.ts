/**
 * The soak: mixed WeChat logins with duplicates against several sample-app PROCESSES sharing one Redis, WeChat
 * played by the emulator (with a realistic 30-100 ms token call) in the load generator's process.
 *
 * Each virtual user loops over fresh browsers, each login one of:
 * - `android`: the Android double hit: the first callback is aborted by the client after ~19 ms (its answer never
 *   reaches the browser) and re-issued at once, possibly to another instance; the second is the one the user sees;
 * - `burst`: 2-4 identical callbacks at once on different instances (client retries behind a load balancer);
 * - `late`: a Back/refresh: the callback again 100-800 ms after it succeeded, on another instance (with returnTo);
 * - `denied`: the user refuses (state without code): a clean 401.
 * Every login that should succeed must end with the right user's session (checked on a random instance).
 *
 * Measured: outcomes and errors, exactly one upstream exchange per code (the emulator's per-code counter), callback
 * latency, the generator's event-loop delay (perf_hooks.monitorEventLoopDelay) and each instance's (over IPC), heap
 * after GC and RSS per instance over time, and the Redis keys under the run's prefix (count, TTLs, leftover locks).
 * The test files decide which figures to assert; this module only measures and reports.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { REDIS_URL, cleanUpTestRedis, connectTestRedis, scanKeys, uniquePrefix, type TestRedisClient } from './code-exchange.harness.js';
import { percentile, round } from './figures.js';
import { SampleBrowser, jarAfter, type HttpAnswer } from './sample-browser.js';
import { SampleProcess, sampleProcessEnv } from './sample-process.js';

/**
 * Sampling interval of the event-loop delay histograms. A sample is the time between two timer runs, so it includes
 * this interval: it is subtracted to report the delay itself.
 */
export const LOOP_RESOLUTION_MS = 10;

function loopDelayMs(nanoseconds: number): number {
  return round(Math.max(0, nanoseconds / 1e6 - LOOP_RESOLUTION_MS), 2);
}

/** The library's default result TTL (the sample app does not make it configurable). */
export const DEFAULT_RESULT_TTL_MS = 60_000;

export interface SoakConfig {
  /** How long the load runs. */
  seconds: number;
  /** Virtual users, each running one login at a time. */
  concurrency: number;
  instances: number;
  /** Warm-up before the memory baseline is taken (JIT, pools, first connections). */
  warmupSeconds: number;
  /** How often the instances' heap (after GC) and RSS are sampled during the load. */
  sampleEverySeconds: number;
  /** After the load, wait for the result TTL to pass and measure Redis keys and heap again. */
  waitForResultTtl: boolean;
  /** The result TTL to wait for. */
  resultTtlMs: number;
}

export type LoginKind = 'android' | 'burst' | 'late' | 'denied';

interface LoginRecord {
  kind: LoginKind;
  code?: string;
  ok: boolean;
  error?: string;
  /** Callback answers the browser sees (not the aborted Android first hit). */
  seen: HttpAnswer[];
  /** Status of the aborted first hit when it completed before the abort (else undefined). */
  abortedFirstStatus?: number;
}

export interface InstanceSample {
  atSeconds: number;
  heapUsedMB: number[];
  rssMB: number[];
}

export interface SoakReport {
  config: SoakConfig;
  startedAt: string;
  durationSeconds: number;
  logins: { total: number; byKind: Record<LoginKind, number>; perSecond: number };
  callbacks: { seen: number; abortedFirstHits: number; perSecond: number };
  errors: { failedLogins: number; http5xx: number; firstErrors: string[] };
  exchange: { codes: number; upstreamCalls: number; codesWithOtherThanOneCall: number };
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  eventLoopDelayMs: {
    generator: { p50: number; p99: number; max: number };
    instances: Array<{ name: string; p50: number; p99: number; max: number }>;
  };
  memory: {
    samples: InstanceSample[];
    baselineHeapMB: number[];
    endHeapMB: number[];
    afterTtlHeapMB?: number[];
    /** Heap retained per login served by an instance between the baseline and the end, in KB. */
    retainedKBPerLogin: number[];
    baselineRssMB: number[];
    endRssMB: number[];
  };
  redis: {
    prefix: string;
    keysBefore: number;
    keysAtEnd: number;
    lockKeysAtEnd: number;
    keysWithoutTtl: number;
    maxTtlMs: number;
    keysAfterTtl?: number;
    msUntilKeysGone?: number;
  };
}

const MB = 1024 * 1024;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function pickKind(): LoginKind {
  const r = Math.random();
  if (r < 0.55) return 'android';
  if (r < 0.8) return 'burst';
  if (r < 0.95) return 'late';
  return 'denied';
}

/** Runs the soak and returns its figures. Starts and stops everything it needs. */
export async function runSoak(config: SoakConfig, log: (line: string) => void = () => undefined): Promise<SoakReport> {
  const prefix = uniquePrefix('soak');
  const redis: TestRedisClient = await connectTestRedis();
  const emulator = new WechatEmulator({ maxEntries: 1_000_000 });
  let instances: SampleProcess[] = [];
  try {
    const origin = await emulator.listen();
    emulator.setLatency('access_token', { fixedMs: 30, jitterMs: 70 });
    emulator.setLatency('userinfo', { fixedMs: 10, jitterMs: 30 });
    const env = sampleProcessEnv({ emulatorOrigin: origin, redisURL: REDIS_URL, redisKeyPrefix: prefix, httpTimeoutMs: 3_000 });
    const names = Array.from({ length: config.instances }, (_, i) => String.fromCharCode(65 + i));
    instances = await SampleProcess.startAll(names, () => env, { instrumented: true });
    const keysBefore = (await scanKeys(redis, prefix)).length;

    const records: LoginRecord[] = [];
    const loginsPerInstance = new Map<string, number>(names.map((name) => [name, 0]));
    let sequence = 0;

    /** One browser's login, per its kind. */
    async function oneLogin(): Promise<LoginRecord> {
      const kind = pickKind();
      const n = ++sequence;
      const nickname = `soak-${n} 🧪`;
      const browser = new SampleBrowser();
      const record: LoginRecord = { kind, ok: false, seen: [] };
      try {
        const loginAt = pick(instances);
        loginsPerInstance.set(loginAt.name, (loginsPerInstance.get(loginAt.name) ?? 0) + 1);
        const returnTo = kind === 'late' ? `/profile?visit=${n}` : undefined;
        const { state } = await browser.startLogin(loginAt.base, returnTo);
        if (kind === 'denied') {
          const answer = await browser.get(pick(instances).base, `/auth/wechat/callback?state=${state}`, { store: false });
          record.seen.push(answer);
          record.ok = answer.status === 401;
          if (!record.ok) record.error = `denied login answered ${answer.status}`;
          return record;
        }
        const code = emulator.mintCode({ nickname });
        record.code = code;
        const path = SampleBrowser.callbackPath(code, state);
        const expectedLocation = returnTo ?? '/profile';

        if (kind === 'android') {
          // The client aborts its first request ~19 ms in and re-issues it; the answer to the first is lost.
          const first = browser.get(pick(instances).base, path, { store: false, timeoutMs: 15 + Math.floor(Math.random() * 10) }).then(
            (answer) => {
              record.abortedFirstStatus = answer.status;
            },
            () => undefined,
          );
          await sleep(15 + Math.floor(Math.random() * 10));
          record.seen.push(await browser.get(pick(instances).base, path, { store: false }));
          await first;
        } else if (kind === 'burst') {
          const hits = 2 + Math.floor(Math.random() * 3);
          const offset = Math.floor(Math.random() * instances.length);
          record.seen.push(
            ...(await Promise.all(
              Array.from({ length: hits }, (_, k) => browser.get(instances[(offset + k) % instances.length]!.base, path, { store: false })),
            )),
          );
        } else {
          record.seen.push(await browser.get(pick(instances).base, path, { store: false }));
          await sleep(100 + Math.floor(Math.random() * 700));
          record.seen.push(await browser.get(pick(instances).base, path, { store: false }));
        }

        for (const answer of record.seen) {
          if (answer.status !== 302 || answer.location !== expectedLocation) {
            record.error = `${kind}: callback answered ${answer.status} ${answer.location ?? answer.body.slice(0, 160)}`;
            return record;
          }
          const me = await browser.me(pick(instances).base, jarAfter(browser.jar, answer));
          if (me?.nickname !== nickname) {
            record.error = `${kind}: session is ${JSON.stringify(me?.nickname)} instead of ${JSON.stringify(nickname)}`;
            return record;
          }
        }
        if (record.abortedFirstStatus !== undefined && record.abortedFirstStatus >= 500) {
          record.error = `android: the aborted first hit answered ${record.abortedFirstStatus}`;
          return record;
        }
        record.ok = true;
      } catch (error) {
        record.error = `${kind}: ${(error as Error).message}`;
      }
      return record;
    }

    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    const samples: InstanceSample[] = [];
    const startedAt = new Date();
    const t0 = performance.now();
    const elapsedSeconds = () => (performance.now() - t0) / 1000;
    const memorySample = async (): Promise<InstanceSample> => {
      const stats = await Promise.all(instances.map((instance) => instance.stats({ gc: true })));
      const rss = await Promise.all(instances.map((instance) => instance.rssBytes()));
      return {
        atSeconds: round(elapsedSeconds(), 1),
        heapUsedMB: stats.map((s) => round(s.memory.heapUsed / MB, 2)),
        rssMB: rss.map((bytes) => round(bytes / MB, 1)),
      };
    };

    let running = true;
    const users = Array.from({ length: config.concurrency }, async () => {
      while (running) records.push(await oneLogin());
    });

    // Warm-up, then the baseline: heap after GC, and fresh event-loop windows everywhere.
    await sleep(config.warmupSeconds * 1000);
    const warmupRecords = records.length;
    const baseline = await memorySample();
    samples.push(baseline);
    const baselineLogins = new Map(loginsPerInstance);
    await Promise.all(instances.map((instance) => instance.stats({ resetLoopDelay: true })));
    loopDelay.enable();
    log(`soak: warm-up done after ${warmupRecords} logins; baseline heap ${baseline.heapUsedMB.join('/')} MB`);

    const loadEnd = t0 + config.seconds * 1000;
    let nextSample = performance.now() + config.sampleEverySeconds * 1000;
    while (performance.now() < loadEnd) {
      await sleep(Math.max(0, Math.min(loadEnd, nextSample) - performance.now()));
      if (performance.now() >= nextSample && performance.now() < loadEnd) {
        const sample = await memorySample();
        samples.push(sample);
        log(`soak: ${sample.atSeconds} s, ${records.length} logins, heap ${sample.heapUsedMB.join('/')} MB, rss ${sample.rssMB.join('/')} MB`);
        nextSample += config.sampleEverySeconds * 1000;
      }
    }
    running = false;
    await Promise.all(users);
    loopDelay.disable();
    const durationSeconds = elapsedSeconds();
    const instanceLoop = await Promise.all(instances.map((instance) => instance.stats()));
    const end = await memorySample();
    samples.push(end);

    // Redis right after the load: one result per code (until its TTL), no lock left, every key expiring.
    const keys = await scanKeys(redis, prefix);
    const ttls = await Promise.all(keys.map((key) => redis.pTTL(key)));
    const redisReport: SoakReport['redis'] = {
      prefix,
      keysBefore,
      keysAtEnd: keys.length,
      lockKeysAtEnd: keys.filter((key) => key.endsWith(':lock')).length,
      // PTTL -1: no expiry (a leak); -2: expired between SCAN and PTTL (fine).
      keysWithoutTtl: ttls.filter((ttl) => ttl === -1).length,
      maxTtlMs: Math.max(0, ...ttls),
    };

    let afterTtlHeapMB: number[] | undefined;
    if (config.waitForResultTtl) {
      const waitStart = performance.now();
      const deadline = waitStart + config.resultTtlMs + 30_000;
      let remaining = keys.length;
      while (performance.now() < deadline) {
        remaining = (await scanKeys(redis, prefix)).length;
        if (remaining === 0) break;
        await sleep(1_000);
      }
      redisReport.keysAfterTtl = remaining;
      redisReport.msUntilKeysGone = remaining === 0 ? Math.round(performance.now() - waitStart) : undefined;
      // The in-process table sweeps expired outcomes every few seconds: let it, then measure.
      await sleep(Math.max(0, config.resultTtlMs + 6_000 - (performance.now() - waitStart)));
      const afterTtl = await memorySample();
      samples.push(afterTtl);
      afterTtlHeapMB = afterTtl.heapUsedMB;
      log(`soak: after the result TTL, ${remaining} keys left; heap ${afterTtl.heapUsedMB.join('/')} MB`);
    }

    // Figures.
    const measured = records.slice(warmupRecords);
    const seen = records.flatMap((record) => record.seen);
    const codes = records.flatMap((record) => (record.code ? [record.code] : []));
    const calls = codes.map((code) => emulator.exchangeCallsForCode(code));
    const byKind: Record<LoginKind, number> = { android: 0, burst: 0, late: 0, denied: 0 };
    for (const record of records) byKind[record.kind]++;
    const failures = records.filter((record) => !record.ok);
    const latencies = measured.flatMap((record) => record.seen.map((answer) => answer.ms));
    const generatorLoop = {
      p50: loopDelayMs(loopDelay.percentile(50)),
      p99: loopDelayMs(loopDelay.percentile(99)),
      max: loopDelayMs(loopDelay.max),
    };
    return {
      config,
      startedAt: startedAt.toISOString(),
      durationSeconds: round(durationSeconds, 1),
      logins: { total: records.length, byKind, perSecond: round(records.length / durationSeconds, 1) },
      callbacks: {
        seen: seen.length,
        abortedFirstHits: records.filter((record) => record.kind === 'android').length,
        perSecond: round((seen.length + byKind.android) / durationSeconds, 1),
      },
      errors: {
        failedLogins: failures.length,
        http5xx: seen.filter((answer) => answer.status >= 500).length +
          records.filter((record) => (record.abortedFirstStatus ?? 0) >= 500).length,
        firstErrors: failures.slice(0, 5).map((record) => record.error ?? 'unknown'),
      },
      exchange: {
        codes: codes.length,
        upstreamCalls: emulator.counters().exchangeCalls,
        codesWithOtherThanOneCall: calls.filter((count) => count !== 1).length,
      },
      latencyMs: {
        p50: round(percentile(latencies, 50), 1),
        p95: round(percentile(latencies, 95), 1),
        p99: round(percentile(latencies, 99), 1),
        max: round(Math.max(0, ...latencies), 1),
      },
      eventLoopDelayMs: {
        generator: generatorLoop,
        instances: instances.map((instance, i) => ({ name: instance.name, ...pickLoop(instanceLoop[i]!.eventLoopDelay) })),
      },
      memory: {
        samples,
        baselineHeapMB: baseline.heapUsedMB,
        endHeapMB: end.heapUsedMB,
        ...(afterTtlHeapMB === undefined ? {} : { afterTtlHeapMB }),
        retainedKBPerLogin: instances.map((instance, i) => {
          const served = (loginsPerInstance.get(instance.name) ?? 0) - (baselineLogins.get(instance.name) ?? 0);
          return served === 0 ? 0 : round(((end.heapUsedMB[i]! - baseline.heapUsedMB[i]!) * 1024) / served, 2);
        }),
        baselineRssMB: baseline.rssMB,
        endRssMB: end.rssMB,
      },
      redis: redisReport,
    };
  } finally {
    for (const instance of instances) {
      const problems = instance.output.join('').split('\n').filter((line) => /\b(WARN|ERROR|FATAL)\b/.test(line));
      if (problems.length > 0) log(`instance ${instance.name} logged ${problems.length} warnings/errors:\n${problems.slice(0, 10).join('\n')}`);
    }
    await SampleProcess.stopAll(instances);
    await emulator.close();
    await cleanUpTestRedis(redis, prefix);
  }
}

function pickLoop(delay: { p50: number; p99: number; max: number }) {
  return { p50: delay.p50, p99: delay.p99, max: delay.max };
}

/** The headline figures as table rows. */
export function soakSummaryRows(report: SoakReport): Array<Record<string, unknown>> {
  const instances = report.eventLoopDelayMs.instances;
  return [
    { figure: 'duration (s) / instances / virtual users', value: `${report.durationSeconds} / ${report.config.instances} / ${report.config.concurrency}` },
    { figure: 'logins (android / burst / late / denied)', value: `${report.logins.total} (${report.logins.byKind.android} / ${report.logins.byKind.burst} / ${report.logins.byKind.late} / ${report.logins.byKind.denied})` },
    { figure: 'logins/s, callbacks/s (incl. aborted first hits)', value: `${report.logins.perSecond}, ${report.callbacks.perSecond}` },
    { figure: 'failed logins / 5xx', value: `${report.errors.failedLogins} / ${report.errors.http5xx}` },
    { figure: 'codes / upstream exchange calls / codes not exchanged exactly once', value: `${report.exchange.codes} / ${report.exchange.upstreamCalls} / ${report.exchange.codesWithOtherThanOneCall}` },
    { figure: 'callback latency p50 / p95 / p99 / max (ms)', value: `${report.latencyMs.p50} / ${report.latencyMs.p95} / ${report.latencyMs.p99} / ${report.latencyMs.max}` },
    { figure: 'event-loop delay, generator p50 / p99 / max (ms)', value: `${report.eventLoopDelayMs.generator.p50} / ${report.eventLoopDelayMs.generator.p99} / ${report.eventLoopDelayMs.generator.max}` },
    ...instances.map((loop) => ({ figure: `event-loop delay, instance ${loop.name} p50 / p99 / max (ms)`, value: `${loop.p50} / ${loop.p99} / ${loop.max}` })),
    { figure: 'heap after GC, baseline → end (MB)', value: report.memory.baselineHeapMB.map((b, i) => `${b} → ${report.memory.endHeapMB[i]}`).join(', ') },
    ...(report.memory.afterTtlHeapMB ? [{ figure: 'heap after GC, after the result TTL (MB)', value: report.memory.afterTtlHeapMB.join(', ') }] : []),
    { figure: 'heap retained per login until the TTL (KB)', value: report.memory.retainedKBPerLogin.join(', ') },
    { figure: 'RSS baseline → end (MB)', value: report.memory.baselineRssMB.map((b, i) => `${b} → ${report.memory.endRssMB[i]}`).join(', ') },
    { figure: 'Redis keys before / at end / locks at end / without TTL', value: `${report.redis.keysBefore} / ${report.redis.keysAtEnd} / ${report.redis.lockKeysAtEnd} / ${report.redis.keysWithoutTtl}` },
    { figure: 'Redis: longest key TTL at end (ms)', value: report.redis.maxTtlMs },
    ...(report.redis.keysAfterTtl === undefined
      ? []
      : [{ figure: 'Redis keys after the result TTL (ms until none)', value: `${report.redis.keysAfterTtl} (${report.redis.msUntilKeysGone ?? 'not gone'})` }]),
  ];
}
