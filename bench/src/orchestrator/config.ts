import { ALL_STRATEGY_IDS, isStrategyId, STRATEGY_IDS, strategyInfo, type StrategyId } from '../shared/strategies.js';

/** Everything a run does, derived from the command line. */
export interface BenchConfig {
  profile: 'full' | 'quick' | 'tiny';
  instances: number;
  strategies: StrategyId[];
  /** Browsers of the duplicate phase, per strategy, and how fast they arrive (a load that does not saturate the machine). */
  browsers: number;
  arrivalsPerSecond: number;
  /**
   * The same browsers again at a heavy arrival rate, for these strategies only (0 or none: skipped): the latency
   * figures under contention, reported apart from the targets.
   */
  heavyArrivalsPerSecond: number;
  heavyStrategies: StrategyId[];
  /** Share of browsers showing the Android double hit; the rest produce a storm. */
  androidShare: number;
  /** Second Android hit 0..androidGapMs after the first (the first is then aborted). */
  androidGapMs: number;
  /**
   * Share of browsers whose code is also replayed by an attacker (another browser, its own login) 50-250 ms after the
   * first hit, while the result is still cached: a code leaked through a Referer, a log or a shared link.
   */
  replayShare: number;
  /** Storms: 2..stormMaxHits hits spread over 0..stormSpreadMs. */
  stormMaxHits: number;
  stormSpreadMs: number;
  /** WeChat exchange latency: `fixedMs + uniform(0, jitterMs)` (80 ± 40 ms is fixed 40, jitter 80). */
  exchangeLatency: { fixedMs: number; jitterMs: number };
  /** Fixed latency of the throughput phase (jitter would only add noise to a ratio). */
  throughputLatencyMs: number;
  /** Closed-loop browsers of the throughput phase: enough to saturate the machine (its busy share is reported). */
  throughputConcurrency: number;
  /** Per strategy, split in `throughputRounds` interleaved slices so that drift hits every strategy alike. */
  throughputSeconds: number;
  throughputRounds: number;
  throughputStrategies: StrategyId[];
  /** Diagnostic variants measured in the throughput and unloaded phases only. */
  diagnostics: StrategyId[];
  /** Result TTL of the library and of the Redis baselines (short, so that memory can be seen to return). */
  resultTtlMs: number;
  /** Browsers used to warm every strategy up before measuring (not counted). */
  warmupBrowsers: number;
  /** Sequential logins per strategy for the unloaded floor (0: skip). */
  unloadedLogins: number;
  seed: number;
  outDir: string;
  redisUrl: string;
  /** Hard stop of the whole run. */
  deadlineMs: number;
  /** Also write every raw record and browser outcome to raw.json (for profiling). */
  raw: boolean;
  /** Time the library's internal steps per hit (implies raw). */
  profileSteps: boolean;
  /** Keep the CPUs out of deep idle states during the run (see holdLowCpuWakeLatency). */
  holdWakeLatency: boolean;
  /**
   * Raise the app instances and a local Redis to real-time scheduling during the duplicate phase and the unloaded
   * floor, so the co-located load generator and emulator (other machines in production) do not delay them (see
   * scheduling.ts). The library's duplicate phase then runs again without it, reported apart.
   */
  isolate: boolean;
  /** With isolation: the strategies whose duplicate phase runs again without it. */
  notIsolatedStrategies: StrategyId[];
  /** Write a V8 CPU profile of every app instance into this directory (diagnostics). */
  cpuProfileDir?: string;
  /** With cpuProfileDir: write sampled heap-allocation profiles instead of CPU profiles (diagnostics). */
  heapProfile?: boolean;
  /** Where `perf record` control FIFOs (`<strategy>.ctl`) wait for each strategy's throughput slices (diagnostics). */
  perfControlDir?: string;
}

export const USAGE = `Usage: npm run bench -- [--quick | --tiny] [options]

  --quick              a short run (under a minute)
  --tiny               a very small run (the smoke test: 2 instances, a few browsers)
  --instances N        app instances (separate processes); default 3 (tiny: 2)
  --strategies a,b     only these strategies (default: ${STRATEGY_IDS.join(', ')};
                       also: ${ALL_STRATEGY_IDS.filter((id) => !STRATEGY_IDS.includes(id)).join(', ')})
  --browsers N         browsers per strategy in the duplicate phase
  --rate N             browsers arriving per second in the duplicate phase (default 50; tiny 40)
  --heavy-rate N       arrival rate of the extra heavy-load phase (default 150; 0 skips it; tiny skips it)
  --seed N             load seed (same seed, same load)
  --out DIR            where to write latest.json, latest.md, latency.svg (default bench/results)
  --raw                also write raw.json: every hit record and browser outcome, emulator counters
  --profile            time the library's internal steps per hit (diagnostics; implies --raw, adds overhead)
  --cpu-prof DIR       write a V8 CPU profile of each app instance to DIR (diagnostics)
  --heap-prof DIR      write a V8 sampling heap profile (what each function allocates) of each instance to DIR
  --perf-control DIR   around each measured throughput slice, write enable/disable to DIR/<strategy>.ctl, a FIFO
                       of a waiting \`perf record --control fifo:... -D -1\` (a CPU-time profile; see bench/README)
  --no-latency-hold    let idle CPUs sleep deeply (by default the run holds /dev/cpu_dma_latency at 0 when it may)
  --no-isolation       leave the instances and Redis at normal scheduling in every phase (by default their main
                       threads run at SCHED_FIFO 1 during the latency phases, when the machine allows it)
  --coordination-cost  instead of the benchmark: the library's CPU per exchange in one process, against the floor
                       of two bare Redis round trips, in interleaved rounds (with --quick: 3 rounds, not 7;
                       --upstream-ms N and --concurrency N change the stand-in exchange's time and concurrency)
  --help

Environment: REDIS_URL (default redis://127.0.0.1:6379).`;

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, defaultOut: string): BenchConfig | 'help' {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new TypeError(`unexpected argument ${arg}\n\n${USAGE}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (['quick', 'tiny', 'help', 'raw', 'profile', 'no-latency-hold', 'no-isolation'].includes(name)) {
      flags.set(name, true);
      continue;
    }
    if (!['instances', 'strategies', 'browsers', 'rate', 'heavy-rate', 'seed', 'out', 'cpu-prof', 'heap-prof', 'perf-control'].includes(name)) {
      throw new TypeError(`unknown option --${name}\n\n${USAGE}`);
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new TypeError(`--${name} needs a value`);
    flags.set(name, value);
  }
  if (flags.has('help')) return 'help';
  if (flags.has('cpu-prof') && flags.has('heap-prof')) throw new TypeError('--cpu-prof and --heap-prof exclude each other: one profiler per run');
  const profile: BenchConfig['profile'] = flags.has('tiny') ? 'tiny' : flags.has('quick') ? 'quick' : 'full';
  const profileReplayShare = profile === 'tiny' ? 0.25 : 0.1;

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || value < min || value > max) {
      throw new TypeError(`--${name} must be an integer in ${min}..${max}`);
    }
    return value;
  };

  let strategies = [...STRATEGY_IDS];
  const only = flags.get('strategies');
  if (typeof only === 'string') {
    const picked = only.split(',').map((s) => s.trim());
    for (const id of picked) if (!isStrategyId(id)) throw new TypeError(`unknown strategy ${id} (known: ${ALL_STRATEGY_IDS.join(', ')})`);
    strategies = ALL_STRATEGY_IDS.filter((id) => picked.includes(id));
  }

  const base = {
    androidShare: 0.6,
    replayShare: profileReplayShare,
    androidGapMs: 60,
    stormMaxHits: 5,
    stormSpreadMs: 300,
    exchangeLatency: { fixedMs: 40, jitterMs: 80 },
    throughputLatencyMs: 80,
    seed: int('seed', 20_240_611, 0, 2 ** 31),
    outDir: typeof flags.get('out') === 'string' ? (flags.get('out') as string) : defaultOut,
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    strategies,
    raw: flags.has('raw') || flags.has('profile'),
    profileSteps: flags.has('profile'),
    holdWakeLatency: !flags.has('no-latency-hold'),
    isolate: !flags.has('no-isolation'),
    ...(typeof flags.get('cpu-prof') === 'string' ? { cpuProfileDir: flags.get('cpu-prof') as string } : {}),
    ...(typeof flags.get('heap-prof') === 'string' ? { cpuProfileDir: flags.get('heap-prof') as string, heapProfile: true } : {}),
    ...(typeof flags.get('perf-control') === 'string' ? { perfControlDir: flags.get('perf-control') as string } : {}),
  };
  const diagnosticsFor = (on: boolean): StrategyId[] => (on && strategies.includes('library') ? ['library-uncoordinated'] : []);
  // Heavy load: the library's rows, and the lean naive as the reference for what the contention alone costs.
  const heavyFor = (rate: number, full = true): Pick<BenchConfig, 'heavyArrivalsPerSecond' | 'heavyStrategies'> => {
    const heavyArrivalsPerSecond = int('heavy-rate', rate, 0, 10_000);
    const ids: StrategyId[] = full ? ['library', 'library-nocache', 'library-fastpath', 'library-fastpath-client', 'naive'] : ['library'];
    const picked = heavyArrivalsPerSecond > 0 ? strategies.filter((id) => ids.includes(id)) : [];
    return { heavyArrivalsPerSecond, heavyStrategies: picked };
  };
  // Throughput is reported as a ratio to naive, so naive always runs there when any strategy does.
  const throughputFor = (ids: StrategyId[]) => {
    const picked = strategies.filter((id) => ids.includes(id));
    return picked.length > 0 && !picked.includes('naive') ? ['naive' as StrategyId, ...picked] : picked;
  };
  // Without isolation, again: the library's rows (quick: only the README's configuration, to stay under a minute).
  const notIsolatedFor = (full: boolean): StrategyId[] =>
    base.isolate ? strategies.filter((id) => strategyInfo(id).kind === 'library' && (full || id === 'library')) : [];
  switch (profile) {
    case 'tiny':
      return {
        ...base,
        profile,
        instances: int('instances', 2, 1, 8),
        browsers: int('browsers', 8, 1, 100_000),
        arrivalsPerSecond: int('rate', 40, 1, 10_000),
        ...heavyFor(0),
        notIsolatedStrategies: notIsolatedFor(true),
        throughputConcurrency: 8,
        throughputSeconds: 0.6,
        throughputRounds: 1,
        throughputStrategies: throughputFor(['naive', 'library']),
        diagnostics: diagnosticsFor(false),
        resultTtlMs: 1_000,
        warmupBrowsers: 2,
        unloadedLogins: 5,
        deadlineMs: 120_000,
      };
    case 'quick':
      return {
        ...base,
        profile,
        instances: int('instances', 3, 1, 8),
        browsers: int('browsers', 48, 1, 100_000),
        arrivalsPerSecond: int('rate', 50, 1, 10_000),
        // The README's configuration only: quick stays under a minute.
        ...heavyFor(150, false),
        notIsolatedStrategies: notIsolatedFor(false),
        throughputConcurrency: 160,
        throughputSeconds: 0.8,
        throughputRounds: 1,
        throughputStrategies: throughputFor(['naive', 'naive-passport', 'library', 'library-fastpath', 'library-fastpath-client']),
        // The cost split is the full run's business.
        diagnostics: diagnosticsFor(false),
        resultTtlMs: 1_000,
        warmupBrowsers: 8,
        unloadedLogins: 40,
        deadlineMs: 120_000,
      };
    case 'full':
      return {
        ...base,
        profile,
        instances: int('instances', 3, 1, 8),
        browsers: int('browsers', 800, 1, 100_000),
        arrivalsPerSecond: int('rate', 50, 1, 10_000),
        ...heavyFor(150),
        notIsolatedStrategies: notIsolatedFor(true),
        throughputConcurrency: 192,
        throughputSeconds: 12,
        throughputRounds: 8,
        throughputStrategies: throughputFor([...ALL_STRATEGY_IDS]),
        diagnostics: diagnosticsFor(true),
        resultTtlMs: 3_000,
        warmupBrowsers: 60,
        unloadedLogins: 300,
        deadlineMs: 10 * 60_000,
      };
  }
}
