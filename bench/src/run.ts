import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DEMO_APP } from 'nestjs-wechat-auth-emulator';
import { keyPrefixFor, routeOf, strategyInfo, type StrategyId } from './shared/strategies.js';
import type { HitRecord, InstanceStats } from './shared/protocol.js';
import {
  analyze,
  analyzeDiagnostic,
  checkTargets,
  sumEntries,
  type DiagnosticFigures,
  type MemorySnapshot,
  type StrategyFigures,
  type StrategyRun,
  type TargetCheck,
} from './orchestrator/analysis.js';
import { parseArgs, USAGE, type BenchConfig } from './orchestrator/config.js';
import {
  bareExchange,
  redisAddress,
  busyShare,
  connectRedis,
  holdLowCpuWakeLatency,
  countKeys,
  deleteKeys,
  exchangeCounters,
  instanceStats,
  machineCpu,
  measureClockOffset,
  redisCpuSeconds,
  resetEmulator,
  setExchangeLatency,
  setProbe,
  setRecording,
  type BenchRedis,
} from './orchestrator/environment.js';
import { getJson, postJson } from './orchestrator/http-client.js';
import {
  planBrowsers,
  runDuplicatePhase,
  runSequential,
  runThroughputSlice,
  type BrowserPlan,
  type Target,
  type ThroughputSlice,
} from './orchestrator/load.js';
import { installExitHooks, startChild, stopAllChildren, type Child } from './orchestrator/processes.js';
import { localRedisProcess, prepareIsolation, type IsolationTarget, type SchedulingIsolation } from './orchestrator/scheduling.js';
import { renderMarkdown, renderTerminal, type RunDescription } from './orchestrator/report.js';
import { Rng } from './orchestrator/rng.js';
import { signalPerf } from './orchestrator/perf-control.js';
import { distribution, ms } from './orchestrator/stats.js';
import { renderLatencySvg } from './orchestrator/svg.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

/** Set once a signal or the deadline stops the run. */
let stopping = false;

const loadedAt = performance.now();

function log(message: string): void {
  process.stdout.write(`[bench +${((performance.now() - loadedAt) / 1000).toFixed(1)}s] ${message}\n`);
}

function sleep(msToWait: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msToWait));
}

/** How long after a phase the result TTL (plus the library's in-process sweep interval) has surely passed. */
function ttlWaitMs(resultTtlMs: number): number {
  const sweep = Math.max(100, Math.min(Math.floor(resultTtlMs / 2), 5000));
  return resultTtlMs + sweep + 250;
}

interface Deployment {
  redis: BenchRedis;
  emulator: Child;
  instances: Child[];
  runId: string;
}

async function memorySnapshot(
  d: Deployment,
  strategy: StrategyId,
  label: MemorySnapshot['label'],
  atMs: number,
): Promise<MemorySnapshot> {
  const stats = await instanceStats(
    d.instances.map((i) => i.origin),
    true,
  );
  return {
    label,
    atMs,
    heapUsed: stats.reduce((acc, s) => acc + s.heapUsed, 0),
    heapPerInstance: stats.map((s) => s.heapUsed),
    redisKeys: await countKeys(d.redis, keyPrefixFor(d.runId, strategy)),
    entries: sumEntries(stats, strategy),
  };
}

async function drainRecords(d: Deployment): Promise<{ records: HitRecord[]; pending: number; dropped: number }> {
  const drained = await Promise.all(
    d.instances.map((i) => getJson<{ records: HitRecord[]; pending: number; dropped: number }>(`${i.origin}/bench/records?waitMs=8000`, 30_000)),
  );
  return {
    records: drained.flatMap((x) => x.records),
    pending: drained.reduce((acc, x) => acc + x.pending, 0),
    dropped: drained.reduce((acc, x) => acc + x.dropped, 0),
  };
}

function cpuMsOf(stats: readonly InstanceStats[]): number {
  return stats.reduce((acc, s) => acc + (s.cpuUserMicros + s.cpuSystemMicros) / 1000, 0);
}

/** CPU time used so far by all app instances (ms). */
async function appCpuMs(origins: readonly string[]): Promise<number> {
  return cpuMsOf(await Promise.all(origins.map((o) => getJson<InstanceStats>(`${o}/bench/stats`))));
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2), process.env, join(ROOT, 'bench', 'results'));
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const config: BenchConfig = parsed;
  const runStarted = performance.now();
  const loadAverageAtStart = loadavg();
  // What else the machine is doing, sampled over 1 s before any child starts: unlike the load average, not inflated
  // by the build that `npm run bench` has just run.
  const idleCheck = machineCpu();
  await sleep(1_000);
  const busyAtStart = busyShare(idleCheck, machineCpu());
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const wakeLatency = config.holdWakeLatency
    ? holdLowCpuWakeLatency()
    : { held: false, reason: 'not requested (--no-latency-hold)', release: () => undefined };
  let redis: BenchRedis | undefined;
  let isolation: SchedulingIsolation | undefined;
  // Whatever ends the run, the machine's Redis must not stay in real-time scheduling.
  process.on('exit', () => isolation?.leaveSync());
  // One cleanup, however many paths ask for it (normal end, error, signal, deadline): every caller awaits the same one.
  let cleanupPromise: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleanupPromise ??= (async () => {
      await isolation?.close();
      await stopAllChildren();
      wakeLatency.release();
      if (redis) {
        const deleted = await deleteKeys(redis, `wxbench:${runId}:`).catch(() => 0);
        if (deleted > 0) log(`removed ${deleted} Redis keys of this run still within their TTL`);
        await redis.close().catch(() => undefined);
      }
    })());
  const stop = (code: number, message: string) => {
    stopping = true;
    process.stderr.write(`\n[bench] ${message}\n`);
    void cleanup().finally(() => process.exit(code));
  };
  installExitHooks((signal) => stop(130, `${signal}: stopping every child process`));
  const deadline = setTimeout(() => stop(2, `the run exceeded its ${config.deadlineMs / 1000} s budget: stopping`), config.deadlineMs);

  try {
    redis = await connectRedis(config.redisUrl);
    if (config.cpuProfileDir) await mkdir(resolve(config.cpuProfileDir), { recursive: true });
    log(`run ${runId} (${config.profile}): starting the emulator and ${config.instances} app instances`);
    log(`CPU idle states: ${wakeLatency.held ? 'held at 0 µs wake-up latency (/dev/cpu_dma_latency)' : `not held (${wakeLatency.reason})`}`);
    const emulator = await startChild('emulator', join(HERE, 'emulator-main.js'), {});
    const instances = await Promise.all(
      Array.from({ length: config.instances }, (_, i) =>
        startChild(
          `app-${i + 1}`,
          join(HERE, 'app', 'main.js'),
          {
            BENCH_INSTANCE: `app-${i + 1}`,
            BENCH_RUN_ID: runId,
            BENCH_EMULATOR_ORIGIN: emulator.origin,
            BENCH_REDIS_URL: config.redisUrl,
            BENCH_APP_ID: DEMO_APP.appId,
            BENCH_APP_SECRET: DEMO_APP.appSecret,
            BENCH_RESULT_TTL_MS: String(config.resultTtlMs),
            BENCH_PROFILE: config.profileSteps ? '1' : '0',
            BENCH_CPU_PROFILE_DIR: config.cpuProfileDir ? resolve(config.cpuProfileDir) : '',
            BENCH_PROFILE_KIND: config.heapProfile ? 'heap' : 'cpu',
          },
          60_000,
          // Diagnostics may add V8 flags that NODE_OPTIONS refuses (--log-deopt, --logfile=...): see bench/README.
          ['--expose-gc', ...(process.env.BENCH_INSTANCE_NODE_FLAGS ?? '').split(' ').filter(Boolean)],
        ),
      ),
    );
    const d: Deployment = { redis, emulator, instances, runId };
    const origins = instances.map((i) => i.origin);

    const isolationTargets: IsolationTarget[] = instances.map((i) => ({ name: i.name, pid: i.process.pid ?? 0 }));
    const redisProcess = await localRedisProcess(config.redisUrl, String(await redis.sendCommand(['INFO', 'server'])));
    if ('pid' in redisProcess) isolationTargets.push(redisProcess);
    isolation = await prepareIsolation(isolationTargets, config.isolate);
    const isolationNote = isolation.available
      ? `${isolation.targets.map((t) => t.name).join(', ')} (main threads) at SCHED_FIFO 1 during the duplicate phase and the unloaded floor` +
        ('reason' in redisProcess ? `; Redis not isolated: ${redisProcess.reason}` : '')
      : `not isolated: ${isolation.reason}`;
    log(`scheduling: ${isolationNote}`);

    const clockOffsets = [];
    for (const instance of instances) clockOffsets.push({ instance: instance.name, ...(await measureClockOffset(instance.origin)) });
    const offsets = new Map(clockOffsets.map((c) => [c.instance, c.offsetMs]));

    const target: Target = {
      instances: origins,
      emulator: emulator.origin,
      loginPath: (s) => routeOf(s, 'login'),
      callbackPath: (s) => routeOf(s, 'callback'),
      nickname: (user) => `bench ${runId} user ${user}`,
    };

    // Warm every strategy up (JIT, connections, scripts); those keys expire while the users are calibrated.
    await setExchangeLatency(emulator.origin, config.exchangeLatency.fixedMs, config.exchangeLatency.jitterMs);
    const warmupPlans = planBrowsers({ ...config, browsers: config.warmupBrowsers }, new Rng(config.seed ^ 0x5eed));
    log(`warming up ${config.strategies.length} strategies`);
    for (const strategy of config.strategies) await runDuplicatePhase(target, strategy, warmupPlans);
    const warmupEnded = performance.now();
    await drainRecords(d);

    // Each browser logs in as its own user; learn the users' openids with bare exchanges (also the reference latency).
    // Concurrent logins of one user are fine: each gets its own code, and the openid is the user's.
    const users = Math.max(config.browsers, config.warmupBrowsers, config.throughputConcurrency);
    log(`calibrating ${users} users with bare exchanges`);
    const openids: string[] = new Array(users);
    const bareLatencies: number[] = [];
    let nextUser = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (nextUser < users) {
          const user = nextUser++;
          const code = (await postJson<{ code: string }>(`${emulator.origin}/__emulator/mint`, { nickname: target.nickname(user), scope: 'snsapi_base' })).code;
          const { openid, ms: took } = await bareExchange(emulator.origin, DEMO_APP.appId, DEMO_APP.appSecret, code);
          openids[user] = openid;
          bareLatencies.push(took);
        }
      }),
    );
    const expectedOpenid = (user: number) => openids[user] ?? '';
    const waitMore = ttlWaitMs(config.resultTtlMs) - (performance.now() - warmupEnded);
    if (waitMore > 0) await sleep(waitMore);

    /** One strategy's duplicate phase with its memory snapshots (the result TTL is waited out before the next). */
    const duplicatePhase = async (strategy: StrategyId, plans: BrowserPlan[], label: string, isolated: boolean): Promise<StrategyRun> => {
      await resetEmulator(emulator.origin);
      await setExchangeLatency(emulator.origin, config.exchangeLatency.fixedMs, config.exchangeLatency.jitterMs);
      const before = await memorySnapshot(d, strategy, 'before', 0);
      await setProbe(origins, true);
      if (isolated) await isolation?.enter();
      const cpuBefore = { machine: machineCpu(), app: await appCpuMs(origins), redis: await redisCpuSeconds(redis as BenchRedis) };
      const started = performance.now();
      const outcomes = await runDuplicatePhase(target, strategy, plans);
      const phaseEnded = performance.now();
      await isolation?.leave();
      const phaseSeconds = (phaseEnded - started) / 1000;
      const probeStats = await instanceStats(origins, false);
      const load = {
        machineBusy: busyShare(cpuBefore.machine, machineCpu()),
        appCpuMs: cpuMsOf(probeStats) - cpuBefore.app,
        redisCpuMs: ((await redisCpuSeconds(redis as BenchRedis)) - cpuBefore.redis) * 1000,
        redisRoundTrips: probeStats.flatMap((s) => s.redisRoundTrips),
        gcPauses: probeStats.flatMap((s) => s.gcPauses),
        instanceSeconds: phaseSeconds * probeStats.length,
      };
      await setProbe(origins, false);
      const drained = await drainRecords(d);
      const calls = await exchangeCounters(emulator.origin);
      if (config.raw && label === 'duplicate') rawCounters.set(strategy, await getJson(`${emulator.origin}/__emulator/counters`));
      const rightAfter = await memorySnapshot(d, strategy, 'right after', performance.now() - phaseEnded);
      const libraryStats = strategyInfo(strategy).kind === 'library' ? probeStats.map((s) => s.library?.[strategy] ?? {}) : undefined;
      const wait = ttlWaitMs(config.resultTtlMs) - (performance.now() - phaseEnded);
      if (wait > 0) await sleep(wait);
      const afterTtl = await memorySnapshot(d, strategy, 'after TTL', performance.now() - phaseEnded);
      const ok = outcomes.filter((o) => {
        const last = o.hits[o.hits.length - 1];
        return last?.status === 200 && last.openid === expectedOpenid(o.user);
      }).length;
      log(
        `${strategy} (${label}, ${plans.length} browsers at ${(plans.length / Math.max(1e-9, (plans[plans.length - 1]?.arriveAtMs ?? 0) / 1000)).toFixed(0)}/s): ` +
          `${ok}/${outcomes.length} visible logins ok, ${[...calls.values()].reduce((a, b) => a + b, 0)} exchanges, ` +
          `${phaseSeconds.toFixed(1)} s, machine CPU ${(load.machineBusy * 100).toFixed(0)}% busy`,
      );
      return {
        strategy,
        outcomes,
        records: drained.records,
        recordsUnsettled: drained.pending,
        recordsDropped: drained.dropped,
        exchangeCalls: calls,
        memory: [before, rightAfter, afterTtl],
        phaseSeconds,
        load,
        unloadedRecords: [],
        ...(libraryStats ? { libraryStats } : {}),
      };
    };

    const plans = planBrowsers(config, new Rng(config.seed));
    const runs: StrategyRun[] = [];
    const rawCounters = new Map<StrategyId, unknown>();
    // The library's rows also run again without isolation, each right after its isolated phase (the same browsers, the
    // machine in the same state): what the co-located stand-ins cost the tails on this machine.
    const sharedRuns: StrategyRun[] = [];
    for (const strategy of config.strategies) {
      runs.push(await duplicatePhase(strategy, plans, 'duplicate', true));
      if (isolation.available && config.notIsolatedStrategies.includes(strategy)) {
        sharedRuns.push(await duplicatePhase(strategy, plans, 'duplicate, not isolated', false));
      }
    }

    // The same browsers at a heavy arrival rate: the latency figures under contention, reported apart.
    const heavyRuns: StrategyRun[] = [];
    if (config.heavyStrategies.length > 0) {
      const heavyPlans = planBrowsers({ ...config, arrivalsPerSecond: config.heavyArrivalsPerSecond }, new Rng(config.seed));
      for (const strategy of config.heavyStrategies) heavyRuns.push(await duplicatePhase(strategy, heavyPlans, 'heavy load', false));
    }

    // Throughput at saturation, fixed latency, strategies interleaved in slices.
    const slices = new Map<StrategyId, Array<ThroughputSlice & { appCpuMs: number; redisCpuMs: number; busy: number }>>();
    const throughputIds = [...config.throughputStrategies, ...config.diagnostics];
    if (config.throughputStrategies.length > 0) {
      await resetEmulator(emulator.origin);
      await setExchangeLatency(emulator.origin, config.throughputLatencyMs, 0);
      await setRecording(origins, false);
      const rng = new Rng(config.seed ^ 0x7470);
      const sliceSeconds = config.throughputSeconds / config.throughputRounds;
      log(
        `throughput: ${throughputIds.join(', ')}; ${config.throughputConcurrency} concurrent browsers, ` +
          `${config.throughputRounds} × ${sliceSeconds.toFixed(2)} s each`,
      );
      // Warm-up, not measured: the first slices after the duplicate phases ran slower whatever the strategy (JIT for
      // this pattern, garbage of the earlier phases), which penalised whichever strategy came first.
      for (const strategy of throughputIds) {
        await runThroughputSlice(target, strategy, config.throughputConcurrency, Math.min(1, sliceSeconds / 2), users, expectedOpenid, rng);
        await sleep(Math.min(250, (sliceSeconds * 1000) / 4));
      }
      for (let round = 0; round < config.throughputRounds; round++) {
        const order = throughputIds.map((_, i, all) => all[(i + round) % all.length] as StrategyId);
        for (const strategy of order) {
          const cpuBefore = { machine: machineCpu(), app: await appCpuMs(origins), redis: await redisCpuSeconds(redis) };
          if (config.cpuProfileDir) await Promise.all(origins.map((o) => getJson(`${o}/bench/cpu-profile/start`)));
          if (config.perfControlDir) signalPerf(config.perfControlDir, strategy, 'enable');
          const slice = await runThroughputSlice(target, strategy, config.throughputConcurrency, sliceSeconds, users, expectedOpenid, rng);
          if (config.perfControlDir) signalPerf(config.perfControlDir, strategy, 'disable');
          if (config.cpuProfileDir) {
            await Promise.all(origins.map((o) => getJson(`${o}/bench/cpu-profile/stop?name=${strategy}-round${round + 1}`)));
          }
          const measured = {
            ...slice,
            busy: busyShare(cpuBefore.machine, machineCpu()),
            appCpuMs: (await appCpuMs(origins)) - cpuBefore.app,
            redisCpuMs: ((await redisCpuSeconds(redis)) - cpuBefore.redis) * 1000,
          };
          slices.set(strategy, [...(slices.get(strategy) ?? []), measured]);
          // Let the previous strategy's in-flight state (and its garbage) settle before the next slice.
          await sleep(Math.min(250, (sliceSeconds * 1000) / 4));
        }
      }
      await setRecording(origins, true);
    }

    const diagnosticRecords = new Map<StrategyId, HitRecord[]>();
    // The unloaded floor: one login at a time, no WeChat latency (only the coordination cost is of interest).
    if (config.unloadedLogins > 0) {
      await resetEmulator(emulator.origin);
      log(`unloaded floor: ${config.unloadedLogins} sequential logins per strategy`);
      await isolation.enter();
      for (const run of runs) {
        await runSequential(target, run.strategy, config.unloadedLogins, users);
        run.unloadedRecords = (await drainRecords(d)).records;
      }
      for (const id of config.diagnostics) {
        await runSequential(target, id, config.unloadedLogins, users);
        diagnosticRecords.set(id, (await drainRecords(d)).records);
      }
      await isolation.leave();
    }

    const figures: StrategyFigures[] = runs.map((run) => analyze(run, expectedOpenid, offsets));
    const diagnostics: DiagnosticFigures[] = config.diagnostics.map((id) => analyzeDiagnostic(id, diagnosticRecords.get(id) ?? []));
    const rateOf = (id: StrategyId): number | undefined => {
      const own = slices.get(id);
      return own ? own.reduce((a, s) => a + s.completed, 0) / own.reduce((a, s) => a + s.seconds, 0) : undefined;
    };
    const naiveRate = rateOf('naive');
    const naiveSlices = slices.get('naive');
    const passportNaiveRate = rateOf('naive-passport');
    const heavyFigures: StrategyFigures[] = heavyRuns.map((run) => analyze(run, expectedOpenid, offsets));
    const sharedFigures: StrategyFigures[] = sharedRuns.map((run) => analyze(run, expectedOpenid, offsets));
    for (const f of [...figures, ...diagnostics]) {
      const own = slices.get(f.strategy);
      if (!own) continue;
      const completed = own.reduce((a, s) => a + s.completed, 0);
      const seconds = own.reduce((a, s) => a + s.seconds, 0);
      const rate = completed / seconds;
      f.throughput = {
        loginsPerSecond: rate,
        ...(naiveRate ? { ratioToNaive: rate / naiveRate } : {}),
        ...(passportNaiveRate ? { ratioToPassportNaive: rate / passportNaiveRate } : {}),
        ...(naiveSlices ? { roundRatiosToNaive: own.map((s, i) => s.completed / s.seconds / ((naiveSlices[i]?.completed ?? Number.NaN) / (naiveSlices[i]?.seconds ?? 1))) } : {}),
        completed,
        failed: own.reduce((a, s) => a + s.failed, 0),
        seconds,
        callbackLatency: distribution(own.flatMap((s) => s.callbackLatencies)),
        appCpuMsPerLogin: own.reduce((a, s) => a + s.appCpuMs, 0) / Math.max(1, completed),
        redisCpuMsPerLogin: own.reduce((a, s) => a + s.redisCpuMs, 0) / Math.max(1, completed),
        machineBusy: own.reduce((a, s) => a + s.busy * s.seconds, 0) / seconds,
      };
    }
    const checks: TargetCheck[] = figures
      .filter((f) => f.kind === 'library')
      .flatMap((f) => checkTargets(f, config.instances, ms, sharedFigures.find((s) => s.strategy === f.strategy)));
    const notes: string[] = [];
    for (const f of figures) {
      const t = f.throughput;
      if (t && t.completed < (t.completed + t.failed) / 2) {
        notes.push(
          `${f.label}: only ${t.completed} of ${t.completed + t.failed} logins of the throughput phase succeeded (concurrent logins, ` +
            'no duplicates), so its logins/s and CPU per login describe failures, not a cost.',
        );
      }
    }
    for (const f of [...figures, ...diagnostics]) {
      if (f.throughput && f.throughput.machineBusy < 0.9) {
        notes.push(
          `${f.label}: the machine was only ${(f.throughput.machineBusy * 100).toFixed(0)}% busy during its throughput slices: ` +
            'not saturated, so its logins/s measure latency as much as cost (raise the concurrency).',
        );
      }
    }
    for (const run of runs) {
      if (run.recordsUnsettled > 0 || run.recordsDropped > 0) {
        notes.push(`${run.strategy}: ${run.recordsUnsettled} hits had not settled when records were collected, ${run.recordsDropped} not recorded.`);
      }
    }
    const description: RunDescription = {
      profile: config.profile,
      generatedAt: new Date().toISOString(),
      durationSeconds: (performance.now() - runStarted) / 1000,
      instances: config.instances,
      browsersPerStrategy: config.browsers,
      arrivalsPerSecond: config.arrivalsPerSecond,
      heavyArrivalsPerSecond: heavyRuns.length > 0 ? config.heavyArrivalsPerSecond : 0,
      androidShare: config.androidShare,
      replayShare: config.replayShare,
      androidGapMs: config.androidGapMs,
      stormMaxHits: config.stormMaxHits,
      stormSpreadMs: config.stormSpreadMs,
      exchangeLatency: `${config.exchangeLatency.fixedMs + config.exchangeLatency.jitterMs / 2} ± ${config.exchangeLatency.jitterMs / 2} ms (uniform)`,
      throughput:
        config.throughputStrategies.length > 0
          ? `Throughput: ${config.throughputConcurrency} concurrent browsers in a closed loop, one callback per login (no duplicates), ` +
            `exchange latency fixed at ${config.throughputLatencyMs} ms (no jitter, which would only add noise to a ratio), ` +
            `${config.throughputSeconds} s per strategy in ${config.throughputRounds} interleaved slices.`
          : 'Throughput not measured in this run.',
      resultTtlMs: config.resultTtlMs,
      ttlWaitMs: ttlWaitMs(config.resultTtlMs),
      seed: config.seed,
      node: process.versions.node,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
      loadAverageAtStart,
      busyAtStart,
      wakeLatency: wakeLatency.held ? 'held at 0 µs (/dev/cpu_dma_latency)' : `not held: ${wakeLatency.reason}`,
      isolation: isolationNote,
      isolated: isolation.available,
      clockOffsets,
      calibration: distribution(bareLatencies),
      notes,
    };

    process.stdout.write(renderTerminal(description, figures, checks, diagnostics, heavyFigures, sharedFigures));
    await mkdir(config.outDir, { recursive: true });
    const json = {
      schema: 'nestjs-wechat-auth-bench/1',
      // Host and port only: a REDIS_URL may carry a password.
      run: { ...description, runId, config: { ...config, redisUrl: redisAddress(config.redisUrl) } },
      strategies: figures,
      heavyLoad: heavyFigures,
      notIsolated: sharedFigures,
      diagnostics,
      targets: checks,
    };
    await writeFile(join(config.outDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    await writeFile(join(config.outDir, 'latest.md'), renderMarkdown(description, figures, checks, diagnostics, heavyFigures, sharedFigures));
    if (config.raw) {
      const raw = runs.map((r) => ({ ...r, exchangeCalls: Object.fromEntries(r.exchangeCalls), rawCounters: rawCounters.get(r.strategy) }));
      await writeFile(join(config.outDir, 'raw.json'), JSON.stringify({ offsets: clockOffsets, runs: raw }));
    }
    const caption =
      `${config.instances} instances, ${config.browsers} browsers/strategy, exchange ${description.exchangeLatency}, ` +
      `Node ${process.versions.node}, ${cpus().length} CPUs, ${description.generatedAt.slice(0, 10)} (${config.profile} run)`;
    await writeFile(join(config.outDir, 'latency.svg'), renderLatencySvg(figures, caption));
    log(`wrote ${join(config.outDir, 'latest.md')}, latest.json and latency.svg in ${description.durationSeconds.toFixed(1)} s`);
    return 0;
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
}

main().then(
  (code) => {
    if (!stopping) process.exit(code);
  },
  (error: unknown) => {
    // After a signal or the deadline, failures of the interrupted work are expected: the stop path exits.
    if (stopping) return;
    process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    void stopAllChildren().finally(() => process.exit(1));
  },
);
