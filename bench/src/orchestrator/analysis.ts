import type { HitRecord, InstanceStats } from '../shared/protocol.js';
import { strategyInfo, type StrategyId } from '../shared/strategies.js';
import { REPLAY_HIT, type BrowserOutcome } from './load.js';
import { distribution, type Distribution } from './stats.js';

/** Memory of the whole deployment at one moment, as far as one strategy is concerned. */
export interface MemorySnapshot {
  label: 'before' | 'right after' | 'after TTL';
  /** ms since the end of the strategy's duplicate phase (negative: before it). */
  atMs: number;
  /** Sum of heapUsed over the instances, after a forced GC. */
  heapUsed: number;
  heapPerInstance: number[];
  /** Keys under the strategy's Redis prefix. */
  redisKeys: number;
  /** The strategy's in-process entries, summed over the instances. */
  entries: number;
}

/** Everything measured for one strategy in the duplicate phase. */
export interface StrategyRun {
  strategy: StrategyId;
  outcomes: BrowserOutcome[];
  records: HitRecord[];
  recordsUnsettled: number;
  recordsDropped: number;
  /** Upstream exchange calls per code, from the emulator's counters. */
  exchangeCalls: Map<string, number>;
  memory: MemorySnapshot[];
  phaseSeconds: number;
  libraryStats?: Record<string, unknown>[];
  /** How loaded the machine was during the duplicate phase. */
  load: {
    machineBusy: number;
    appCpuMs: number;
    redisCpuMs: number;
    redisRoundTrips: number[];
    /** GC pauses of all instances during the phase, and the phase's length times the number of instances. */
    gcPauses: number[];
    instanceSeconds: number;
  };
  /** Records of the unloaded phase (one login at a time), when it ran. */
  unloadedRecords: HitRecord[];
}

/** Winners' overhead (coordination step minus own upstream call) and their step profile, from records. */
function winnerCosts(records: readonly HitRecord[]): { overhead: number[]; steps: Record<string, number[]> } {
  const overhead: number[] = [];
  const steps: Record<string, number[]> = {};
  for (const r of records) {
    if (r.role !== 'winner' || r.exchangeStartedAt === undefined || r.exchangeEndedAt === undefined) continue;
    overhead.push(r.exchangeEndedAt - r.exchangeStartedAt - (r.upstreamMs ?? 0));
    for (const [step, value] of Object.entries(r.profile ?? {})) (steps[step] ??= []).push(value);
  }
  return { overhead, steps };
}

export interface ThroughputFigures {
  loginsPerSecond: number;
  /** Against the lean hand-written naive (the target's reference). */
  ratioToNaive?: number;
  /** Against the naive written with passport-oauth2 and @nestjs/passport. */
  ratioToPassportNaive?: number;
  /** Each round's slice against the lean naive's slice of the same round: how much the ratio moves between slices. */
  roundRatiosToNaive?: number[];
  completed: number;
  failed: number;
  seconds: number;
  callbackLatency: Distribution;
  /** CPU of the app instances and of the Redis server per completed login (ms). */
  appCpuMsPerLogin: number;
  redisCpuMsPerLogin: number;
  /** Share of the machine's CPU busy during the slices (0..1). */
  machineBusy: number;
}

export interface StrategyFigures {
  strategy: StrategyId;
  label: string;
  kind: 'library' | 'baseline' | 'diagnostic';
  models: string;
  browsers: number;
  patterns: { android: number; storm: number };
  hits: { total: number; abortedByClient: number; seenAbortedByServer: number };
  /** The hit the user sees: the last hit of each browser. */
  success: { count: number; rate: number; android: number; storm: number };
  /** Why the visible hit failed, by reason. */
  visibleFailures: Record<string, number>;
  wrongUserSessions: number;
  /** Attackers replaying a browser's code with their own login: how many were signed in (as the victim). */
  replays: { attempts: number; signedInAsVictim: number; refused: number };
  exchangesPerCode: { mean: number; max: number; codes: number; codesWithMoreThanOne: number; codesWithNone: number; total: number };
  /** Winner: time in the coordination step minus its own bare upstream exchange (ms). */
  winnerOverhead: Distribution;
  /** The same, from the library's own `winner` events (durationMs - exchangeMs), as a cross-check. */
  winnerOverheadFromEvents?: Distribution;
  /** The winners' bare upstream exchange (ms). */
  bareExchange: Distribution;
  /** Winner overhead with one login at a time (no concurrent load): the floor under the loaded figure. */
  winnerOverheadUnloaded: Distribution;
  /** With --profile: the library's internal steps of the winners, under load and unloaded (ms). */
  stepProfile?: { loaded: Record<string, Distribution>; unloaded: Record<string, Distribution> };
  /** The machine during the duplicate phase. */
  load: {
    machineBusy: number;
    appCpuMsPerBrowser: number;
    redisCpuMsPerBrowser: number;
    redisRoundTrip: Distribution;
    /** The instances' GC pauses: their lengths, and the share of each instance's time spent in them. */
    gcPause: Distribution;
    gcPauseShare: number;
  };
  /** Concurrent duplicates that logged in: completion behind the winner's (ms). */
  lagInProcess: Distribution;
  lagCrossInstance: Distribution;
  /** Duplicates that arrived after the winner finished: their time in the coordination step (ms). */
  lateDuplicateService: Distribution;
  /** Latency of the visible hit, from the browser (ms). */
  visibleLatency: Distribution;
  roles: Record<string, number>;
  libraryEvents: Record<string, number>;
  wokenBy: Record<string, number>;
  memory: MemorySnapshot[];
  records: { recorded: number; unsettled: number; dropped: number };
  throughput?: ThroughputFigures;
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/**
 * Turns one strategy's raw measurements into its figures. `offsets` maps an instance to its clock's offset from the
 * orchestrator's (instance minus orchestrator, ms), used to compare times taken in different processes.
 */
export function analyze(run: StrategyRun, expectedOpenid: (user: number) => string, offsets: ReadonlyMap<string, number>): StrategyFigures {
  const info = strategyInfo(run.strategy);
  const byBrowser = new Map<number, BrowserOutcome>(run.outcomes.map((o) => [o.index, o]));
  const corrected = (record: HitRecord, t: number | undefined): number =>
    t === undefined ? Number.NaN : t - (offsets.get(record.instance) ?? 0);

  // The visible hit of each browser.
  let successes = 0;
  let androidOk = 0;
  let stormOk = 0;
  const visibleFailures: Record<string, number> = {};
  const visibleLatencies: number[] = [];
  const recordOf = new Map<string, HitRecord>();
  for (const record of run.records) recordOf.set(`${record.browser}.${record.hit}`, record);
  let hitsTotal = 0;
  let abortedByClient = 0;
  for (const outcome of run.outcomes) {
    hitsTotal += outcome.hits.length;
    abortedByClient += outcome.hits.filter((h) => h.aborted).length;
    if (outcome.loginError !== undefined) {
      count(visibleFailures, 'login start failed');
      continue;
    }
    const visible = outcome.hits[outcome.hits.length - 1];
    if (!visible) continue;
    if (Number.isFinite(visible.endedAt)) visibleLatencies.push(visible.endedAt - visible.sentAt);
    const ok = visible.status === 200 && visible.openid === expectedOpenid(outcome.user) && visible.setSession;
    if (ok) {
      successes++;
      if (outcome.pattern === 'android') androidOk++;
      else stormOk++;
    } else {
      const server = recordOf.get(`${outcome.index}.${visible.hit}`);
      const reason = server?.failure ?? (visible.error ? 'no answer' : `HTTP ${visible.status ?? '?'}`);
      count(visibleFailures, reason);
    }
  }

  // Wrong-user sessions: any hit, seen by the browser or by the server, signing in someone else.
  const wrong = new Set<string>();
  for (const outcome of run.outcomes) {
    for (const hit of outcome.hits) {
      if (hit.openid !== undefined && hit.openid !== expectedOpenid(outcome.user)) wrong.add(`${outcome.index}.${hit.hit}`);
    }
  }
  let replayAttempts = 0;
  let replaySignedIn = 0;
  for (const outcome of run.outcomes) {
    const replay = outcome.replay;
    if (!replay) continue;
    replayAttempts++;
    // The attacker's own browser holds no code of its own: any sign-in it gets belongs to someone else.
    if (replay.status === 200 && replay.openid !== undefined) {
      replaySignedIn++;
      wrong.add(`${outcome.index}.${REPLAY_HIT}`);
    }
  }
  for (const record of run.records) {
    const outcome = byBrowser.get(record.browser);
    if (!record.ok || !outcome) continue;
    if (record.hit === REPLAY_HIT || record.openid !== expectedOpenid(outcome.user)) wrong.add(`${record.browser}.${record.hit}`);
  }

  // Upstream exchanges per code (emulator counters).
  const codes = run.outcomes.map((o) => o.code).filter((c): c is string => c !== undefined);
  let totalCalls = 0;
  let maxCalls = 0;
  let overOne = 0;
  let none = 0;
  for (const code of codes) {
    const calls = run.exchangeCalls.get(code) ?? 0;
    totalCalls += calls;
    maxCalls = Math.max(maxCalls, calls);
    if (calls > 1) overOne++;
    if (calls === 0) none++;
  }

  // Winners, duplicates and lags, from the servers' records.
  const roles: Record<string, number> = {};
  const libraryEvents: Record<string, number> = {};
  const wokenBy: Record<string, number> = {};
  const byCode = new Map<string, HitRecord[]>();
  for (const record of run.records) {
    count(roles, `${record.role}${record.ok ? '' : ' (failed)'}`);
    if (record.libraryEvent) count(libraryEvents, record.libraryEvent);
    if (record.wokenBy) count(wokenBy, record.wokenBy);
    const list = byCode.get(record.code) ?? [];
    list.push(record);
    byCode.set(record.code, list);
  }
  const overheadEvents: number[] = [];
  const bare: number[] = [];
  const lagLocal: number[] = [];
  const lagRemote: number[] = [];
  const late: number[] = [];
  for (const records of byCode.values()) {
    const winners = records
      .filter((r) => r.role === 'winner' && r.exchangeEndedAt !== undefined && r.exchangeStartedAt !== undefined)
      .sort((a, b) => corrected(a, a.exchangeEndedAt) - corrected(b, b.exchangeEndedAt));
    const winner = winners[0];
    if (!winner) continue;
    bare.push(winner.upstreamMs ?? 0);
    if (winner.libraryDurationMs !== undefined && winner.libraryExchangeMs !== undefined) {
      overheadEvents.push(winner.libraryDurationMs - winner.libraryExchangeMs);
    }
    const winnerEnd = corrected(winner, winner.exchangeEndedAt);
    for (const record of records) {
      if (record === winner || record.hit === REPLAY_HIT || !record.ok || record.exchangeEndedAt === undefined) continue;
      if (corrected(record, record.arrivedAt) < winnerEnd) {
        const lag = corrected(record, record.exchangeEndedAt) - winnerEnd;
        (record.instance === winner.instance ? lagLocal : lagRemote).push(lag);
      } else if (record.exchangeStartedAt !== undefined) {
        late.push(record.exchangeEndedAt - record.exchangeStartedAt);
      }
    }
  }

  const loaded = winnerCosts(run.records);
  const unloaded = winnerCosts(run.unloadedRecords);
  const profiled = Object.keys(loaded.steps).length > 0 || Object.keys(unloaded.steps).length > 0;
  const distributions = (steps: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, distribution(v)]));
  return {
    strategy: run.strategy,
    label: info.label,
    kind: info.kind,
    models: info.models,
    browsers: run.outcomes.length,
    patterns: {
      android: run.outcomes.filter((o) => o.pattern === 'android').length,
      storm: run.outcomes.filter((o) => o.pattern === 'storm').length,
    },
    hits: { total: hitsTotal, abortedByClient, seenAbortedByServer: run.records.filter((r) => r.aborted).length },
    success: {
      count: successes,
      rate: run.outcomes.length ? successes / run.outcomes.length : Number.NaN,
      android: androidOk,
      storm: stormOk,
    },
    visibleFailures,
    wrongUserSessions: wrong.size,
    replays: { attempts: replayAttempts, signedInAsVictim: replaySignedIn, refused: replayAttempts - replaySignedIn },
    exchangesPerCode: {
      mean: codes.length ? totalCalls / codes.length : Number.NaN,
      max: maxCalls,
      codes: codes.length,
      codesWithMoreThanOne: overOne,
      codesWithNone: none,
      total: totalCalls,
    },
    winnerOverhead: distribution(loaded.overhead),
    winnerOverheadUnloaded: distribution(unloaded.overhead),
    ...(profiled ? { stepProfile: { loaded: distributions(loaded.steps), unloaded: distributions(unloaded.steps) } } : {}),
    load: {
      machineBusy: run.load.machineBusy,
      appCpuMsPerBrowser: run.load.appCpuMs / Math.max(1, run.outcomes.length),
      redisCpuMsPerBrowser: run.load.redisCpuMs / Math.max(1, run.outcomes.length),
      redisRoundTrip: distribution(run.load.redisRoundTrips),
      gcPause: distribution(run.load.gcPauses),
      gcPauseShare: run.load.gcPauses.reduce((a, b) => a + b, 0) / 1000 / Math.max(1e-9, run.load.instanceSeconds),
    },
    ...(overheadEvents.length ? { winnerOverheadFromEvents: distribution(overheadEvents) } : {}),
    bareExchange: distribution(bare),
    lagInProcess: distribution(lagLocal),
    lagCrossInstance: distribution(lagRemote),
    lateDuplicateService: distribution(late),
    visibleLatency: distribution(visibleLatencies),
    roles,
    libraryEvents,
    wokenBy,
    memory: run.memory,
    records: { recorded: run.records.length, unsettled: run.recordsUnsettled, dropped: run.recordsDropped },
  };
}

/** Totals an instance-stats list for one strategy. */
export function sumEntries(stats: readonly InstanceStats[], strategy: StrategyId): number {
  return stats.reduce((acc, s) => acc + (s.entries[strategy] ?? 0), 0);
}

export interface TargetCheck {
  strategy: StrategyId;
  target: string;
  measured: string;
  pass: boolean;
}

/** Bytes of heap growth per instance still counted as "back to baseline" (GC and JIT noise; see the report). */
export const HEAP_TOLERANCE_PER_INSTANCE = 2 * 1024 * 1024;

/** The targets for the library rows. */
export function checkTargets(f: StrategyFigures, instances: number, fmt: (n: number) => string, notIsolated?: StrategyFigures): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (target: string, measured: string, pass: boolean) => checks.push({ strategy: f.strategy, target, measured, pass });
  // A latency target states the same figure without isolation beside it: the check is made on the isolated phase.
  const shared = (pick: (g: StrategyFigures) => Distribution, at: 'p50' | 'p99') =>
    notIsolated && pick(notIsolated).n > 0 ? `; without isolation ${fmt(pick(notIsolated)[at])} ms` : '';
  add('login success 100%', `${(f.success.rate * 100).toFixed(2)}%`, f.success.count === f.browsers && f.browsers > 0);
  add('wrong-user sessions 0', String(f.wrongUserSessions), f.wrongUserSessions === 0);
  const e = f.exchangesPerCode;
  add('upstream exchanges per code exactly 1.000', `${e.mean.toFixed(3)} (max ${e.max}, ${e.codesWithNone} codes with none)`, e.codes > 0 && e.max === 1 && e.codesWithNone === 0);
  add('winner overhead p50 <= 1 ms', `${fmt(f.winnerOverhead.p50)} ms${shared((g) => g.winnerOverhead, 'p50')}`, f.winnerOverhead.p50 <= 1);
  add('winner overhead p99 <= 3 ms', `${fmt(f.winnerOverhead.p99)} ms${shared((g) => g.winnerOverhead, 'p99')}`, f.winnerOverhead.p99 <= 3);
  add(
    'cross-instance duplicate lag p50 <= 1 ms',
    `${fmt(f.lagCrossInstance.p50)} ms (n=${f.lagCrossInstance.n}${shared((g) => g.lagCrossInstance, 'p50')})`,
    f.lagCrossInstance.n > 0 && f.lagCrossInstance.p50 <= 1,
  );
  add(
    'cross-instance duplicate lag p99 <= 3 ms',
    `${fmt(f.lagCrossInstance.p99)} ms (n=${f.lagCrossInstance.n}${shared((g) => g.lagCrossInstance, 'p99')})`,
    f.lagCrossInstance.n > 0 && f.lagCrossInstance.p99 <= 3,
  );
  if (f.throughput?.ratioToNaive !== undefined) {
    const rounds = [...(f.throughput.roundRatiosToNaive ?? [])].sort((a, b) => a - b);
    const spread = rounds.length > 1 ? ` (rounds ${rounds[0]!.toFixed(2)}–${rounds[rounds.length - 1]!.toFixed(2)})` : '';
    add('throughput >= 0.9 x naive', `${f.throughput.ratioToNaive.toFixed(3)} x${spread}`, f.throughput.ratioToNaive >= 0.9);
  } else {
    add('throughput >= 0.9 x naive', 'not measured in this run', false);
  }
  const before = f.memory.find((m) => m.label === 'before');
  const after = f.memory.find((m) => m.label === 'after TTL');
  if (before && after) {
    const heapDelta = after.heapUsed - before.heapUsed;
    const ok = after.redisKeys === before.redisKeys && after.entries === 0 && heapDelta <= HEAP_TOLERANCE_PER_INSTANCE * instances;
    add(
      'memory back to baseline after the TTL',
      `Redis keys ${before.redisKeys} → ${after.redisKeys}, in-process entries ${after.entries}, heap ${signedKiB(heapDelta)}`,
      ok,
    );
  }
  return checks;
}

export function signedKiB(bytes: number): string {
  const kib = bytes / 1024;
  return `${kib >= 0 ? '+' : ''}${kib.toFixed(0)} KiB`;
}

/** A diagnostic variant: throughput and the unloaded floor only. */
export interface DiagnosticFigures {
  strategy: StrategyId;
  label: string;
  models: string;
  winnerOverheadUnloaded: Distribution;
  throughput?: ThroughputFigures;
}

export function analyzeDiagnostic(strategy: StrategyId, unloadedRecords: readonly HitRecord[]): DiagnosticFigures {
  const info = strategyInfo(strategy);
  return {
    strategy,
    label: info.label,
    models: info.models,
    winnerOverheadUnloaded: distribution(winnerCosts(unloadedRecords).overhead),
  };
}
