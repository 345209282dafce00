import { signedKiB, type DiagnosticFigures, type StrategyFigures, type TargetCheck } from './analysis.js';
import { ms, type Distribution } from './stats.js';

/** What the report says about the run itself. */
export interface RunDescription {
  profile: string;
  generatedAt: string;
  durationSeconds: number;
  instances: number;
  browsersPerStrategy: number;
  arrivalsPerSecond: number;
  /** Arrival rate of the heavy-load phase (0: not run). */
  heavyArrivalsPerSecond: number;
  androidShare: number;
  replayShare: number;
  androidGapMs: number;
  stormMaxHits: number;
  stormSpreadMs: number;
  exchangeLatency: string;
  throughput: string;
  resultTtlMs: number;
  ttlWaitMs: number;
  seed: number;
  node: string;
  cpus: number;
  cpuModel: string;
  /** os.loadavg() (1, 5, 15 min) just before the run started its processes: other work on the machine. */
  loadAverageAtStart: number[];
  /** Share of the machine's CPU busy during 1 s before the run started its processes (0..1): other work. */
  busyAtStart: number;
  /** Whether idle CPUs were kept out of deep idle states (their wake-up time is in every round trip otherwise). */
  wakeLatency: string;
  /** Which processes ran at real-time priority during the latency phases, or why none did. */
  isolation: string;
  /** Whether the latency phases were isolated (the library's rows then also ran without isolation). */
  isolated: boolean;
  clockOffsets: Array<{ instance: string; offsetMs: number; rttMs: number }>;
  calibration: Distribution;
  notes: string[];
}

type Table = { head: string[]; rows: string[][] };

function pct(rate: number): string {
  return Number.isFinite(rate) ? `${(rate * 100).toFixed(1)}%` : '–';
}

function pair(d: Distribution): string {
  return d.n === 0 ? '–' : `${ms(d.p50)} / ${ms(d.p99)}`;
}

function withN(d: Distribution): string {
  return d.n === 0 ? '– (n=0)' : `${ms(d.p50)} / ${ms(d.p99)} (n=${d.n})`;
}

export function correctnessTable(figures: readonly StrategyFigures[]): Table {
  return {
    head: [
      'strategy',
      'login ok (visible hit)',
      'wrong-user (replays signed in)',
      'exchanges/code (max, codes >1)',
      'winner overhead p50/p99 ms',
      'dup lag in-process p50/p99 ms',
      'dup lag cross-instance p50/p99 ms',
      'visible hit latency p50/p99 ms',
    ],
    rows: figures.map((f) => [
      f.label,
      `${pct(f.success.rate)} (${f.success.count}/${f.browsers})`,
      `${f.wrongUserSessions} (${f.replays.signedInAsVictim}/${f.replays.attempts})`,
      `${f.exchangesPerCode.mean.toFixed(3)} (${f.exchangesPerCode.max}, ${f.exchangesPerCode.codesWithMoreThanOne})`,
      pair(f.winnerOverhead),
      withN(f.lagInProcess),
      withN(f.lagCrossInstance),
      pair(f.visibleLatency),
    ]),
  };
}

/** " (a–b)": the smallest and largest of the per-round ratios, when there are several. */
function roundSpread(ratios: readonly number[] | undefined): string {
  const finite = (ratios ?? []).filter((r) => Number.isFinite(r));
  if (finite.length < 2) return '';
  return ` (${Math.min(...finite).toFixed(2)}–${Math.max(...finite).toFixed(2)})`;
}

export function capacityTable(figures: readonly StrategyFigures[]): Table {
  return {
    head: [
      'strategy',
      'logins/s at saturation',
      'x naive (rounds min–max)',
      'x naive (passport)',
      'machine CPU busy (throughput)',
      'Redis keys before → after → after TTL',
      'in-process entries after → after TTL',
      'heap after / after TTL (vs before)',
    ],
    rows: figures.map((f) => {
      const [before, after, ttl] = ['before', 'right after', 'after TTL'].map((label) => f.memory.find((m) => m.label === label));
      return [
        f.label,
        f.throughput ? f.throughput.loginsPerSecond.toFixed(1) : 'not run',
        f.throughput?.ratioToNaive !== undefined ? `${f.throughput.ratioToNaive.toFixed(3)}${roundSpread(f.throughput.roundRatiosToNaive)}` : '–',
        f.throughput?.ratioToPassportNaive !== undefined ? f.throughput.ratioToPassportNaive.toFixed(3) : '–',
        f.throughput ? pct(f.throughput.machineBusy) : '–',
        before && after && ttl ? `${before.redisKeys} → ${after.redisKeys} → ${ttl.redisKeys}` : '–',
        after && ttl ? `${after.entries} → ${ttl.entries}` : '–',
        before && after && ttl ? `${signedKiB(after.heapUsed - before.heapUsed)} / ${signedKiB(ttl.heapUsed - before.heapUsed)}` : '–',
      ];
    }),
  };
}

export function costTable(figures: readonly StrategyFigures[]): Table {
  return {
    head: [
      'strategy',
      'winner overhead p50/p99 ms: loaded',
      'unloaded',
      'Redis RT in-instance p50/p99 ms',
      'GC pauses in instances: p50/max ms, time share',
      'machine CPU busy (dup phase)',
      'CPU ms per login: apps',
      'Redis',
    ],
    rows: figures.map((f) => [
      f.label,
      pair(f.winnerOverhead),
      pair(f.winnerOverheadUnloaded),
      pair(f.load.redisRoundTrip),
      f.load.gcPause.n > 0 ? `${ms(f.load.gcPause.p50)} / ${ms(f.load.gcPause.max)} (n=${f.load.gcPause.n}), ${pct(f.load.gcPauseShare)}` : '–',
      pct(f.load.machineBusy),
      f.throughput ? f.throughput.appCpuMsPerLogin.toFixed(2) : '–',
      f.throughput ? f.throughput.redisCpuMsPerLogin.toFixed(3) : '–',
    ]),
  };
}

/**
 * The duplicate phase again, at a heavy arrival rate or without isolation: latency under contention (not what the
 * targets are checked on).
 */
export function contentionTable(heavy: readonly StrategyFigures[], rate: number): Table {
  return {
    head: [
      'strategy',
      'arrivals/s',
      'machine CPU busy',
      'login ok',
      'exchanges/code (max)',
      'winner overhead p50/p99 ms',
      'dup lag in-process p50/p99 ms',
      'dup lag cross-instance p50/p99 ms',
      'Redis RT in-instance p50/p99 ms',
      'visible hit latency p50/p99 ms',
    ],
    rows: heavy.map((f) => [
      f.label,
      String(rate),
      pct(f.load.machineBusy),
      `${pct(f.success.rate)} (${f.success.count}/${f.browsers})`,
      `${f.exchangesPerCode.mean.toFixed(3)} (${f.exchangesPerCode.max})`,
      pair(f.winnerOverhead),
      withN(f.lagInProcess),
      withN(f.lagCrossInstance),
      pair(f.load.redisRoundTrip),
      pair(f.visibleLatency),
    ]),
  };
}

/** The machine's busy share over the duplicate phases, as "a–b%". */
function busyRange(figures: readonly StrategyFigures[]): string {
  const shares = figures.map((f) => f.load.machineBusy).filter((x) => Number.isFinite(x));
  if (shares.length === 0) return '–';
  return `${(Math.min(...shares) * 100).toFixed(0)}–${(Math.max(...shares) * 100).toFixed(0)}%`;
}

export function diagnosticsTable(diagnostics: readonly DiagnosticFigures[], figures: readonly StrategyFigures[]): Table {
  const library = figures.find((f) => f.strategy === 'library');
  return {
    head: ['diagnostic', 'logins/s', 'x naive', 'library / this', 'CPU ms per login: apps', 'winner overhead unloaded p50/p99 ms'],
    rows: diagnostics.map((d) => [
      d.label,
      d.throughput ? d.throughput.loginsPerSecond.toFixed(1) : '–',
      d.throughput?.ratioToNaive !== undefined ? d.throughput.ratioToNaive.toFixed(3) : '–',
      d.throughput && library?.throughput ? (library.throughput.loginsPerSecond / d.throughput.loginsPerSecond).toFixed(3) : '–',
      d.throughput ? d.throughput.appCpuMsPerLogin.toFixed(2) : '–',
      pair(d.winnerOverheadUnloaded),
    ]),
  };
}

export function textTable(table: Table): string {
  const widths = table.head.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(table.head), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

function markdownTable(table: Table): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${table.head.map(esc).join(' | ')} |`,
    `| ${table.head.map(() => '---').join(' | ')} |`,
    ...table.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function failureSummary(f: StrategyFigures): string {
  const entries = Object.entries(f.visibleFailures).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([reason, n]) => `${reason} ×${n}`).join(', ');
}

export function targetLines(checks: readonly TargetCheck[], labelOf: (id: string) => string): string[] {
  return checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${labelOf(c.strategy)}: ${c.target} — measured ${c.measured}`);
}

export function renderTerminal(
  run: RunDescription,
  figures: readonly StrategyFigures[],
  checks: readonly TargetCheck[],
  diagnostics: readonly DiagnosticFigures[] = [],
  heavy: readonly StrategyFigures[] = [],
  notIsolated: readonly StrategyFigures[] = [],
): string {
  const labelOf = (id: string) => figures.find((f) => f.strategy === id)?.label ?? id;
  return [
    '',
    `Benchmark (${run.profile}) on ${run.cpus} CPUs (${pct(run.busyAtStart)} busy before it started; idle states ${run.wakeLatency}; scheduling: ${run.isolation}): ${run.instances} instances, ${run.browsersPerStrategy} browsers per strategy at ${run.arrivalsPerSecond}/s (machine ${busyRange(figures)} busy), exchange latency ${run.exchangeLatency}, ` +
      `result TTL ${run.resultTtlMs} ms; bare exchange from the load generator p50 ${ms(run.calibration.p50)} ms / p99 ${ms(run.calibration.p99)} ms`,
    '',
    textTable(correctnessTable(figures)),
    '',
    textTable(capacityTable(figures)),
    '',
    textTable(costTable(figures)),
    '',
    ...(diagnostics.length > 0 ? [textTable(diagnosticsTable(diagnostics, figures)), ''] : []),
    ...(notIsolated.length > 0
      ? [`The same phase without isolation (${run.arrivalsPerSecond} browsers/s; not the targets):`, textTable(contentionTable(notIsolated, run.arrivalsPerSecond)), '']
      : []),
    ...(heavy.length > 0
      ? [`Under heavy load (${run.heavyArrivalsPerSecond} browsers/s; not the targets):`, textTable(contentionTable(heavy, run.heavyArrivalsPerSecond)), '']
      : []),
    'Why the visible hit failed:',
    ...figures.map((f) => `  ${f.label}: ${failureSummary(f)}`),
    '',
    'Targets (this library):',
    ...targetLines(checks, labelOf).map((l) => `  ${l}`),
    '',
  ].join('\n');
}

export function renderMarkdown(
  run: RunDescription,
  figures: readonly StrategyFigures[],
  checks: readonly TargetCheck[],
  diagnostics: readonly DiagnosticFigures[] = [],
  heavy: readonly StrategyFigures[] = [],
  notIsolated: readonly StrategyFigures[] = [],
): string {
  const labelOf = (id: string) => figures.find((f) => f.strategy === id)?.label ?? id;
  const out: string[] = [];
  out.push('# Benchmark: duplicate-callback storms', '');
  out.push(
    `Generated ${run.generatedAt} by \`npm run bench${run.profile === 'full' ? '' : ` -- --${run.profile}`}\` in ${run.durationSeconds.toFixed(0)} s ` +
      `(Node ${run.node}, ${run.cpus} × ${run.cpuModel}). Every figure below comes from this one run.`,
    '',
  );
  if (run.busyAtStart > 0.2) {
    out.push(
      `> The machine was already busy when the run started (${pct(run.busyAtStart)} of its CPU during the second before it, ` +
        `load average ${run.loadAverageAtStart.map((l) => l.toFixed(2)).join(', ')} on ${run.cpus} CPUs): latency tails and ` +
        'throughput include that contention.',
      '',
    );
  }
  out.push('![Latency distributions per strategy](latency.svg)', '');
  out.push('## Set-up', '');
  out.push(
    `- WeChat: the emulator in its own process; \`/sns/oauth2/access_token\` answers after ${run.exchangeLatency}. ` +
      `A bare exchange straight from the load generator took p50 ${ms(run.calibration.p50)} ms, p99 ${ms(run.calibration.p99)} ms (n=${run.calibration.n}).`,
    `- ${run.instances} app instances, each a separate Node process running the same Nest app, sharing one Redis; every request goes to a random instance.`,
    `- CPU idle states: ${run.wakeLatency}. Without the hold, an idle virtual CPU halts between requests and waking it adds up to a few ms to any round trip, whatever the strategy (\`--no-latency-hold\` measures that way).`,
    `- Scheduling: ${run.isolation}. The load generator (the browsers) and the emulator (WeChat) stand for other machines but share ` +
      'the cores here; a reply for an instance that arrives while they hold every core waits for one, whatever the strategy. ' +
      'Real-time priority for the main threads of the system under test lets them take a core at once, as if the stand-ins ' +
      'ran elsewhere; every strategy gets it alike. It is not used at saturation (throughput, heavy load), where it would starve ' +
      'the load generator.' +
      (run.isolated ? ' The library\'s rows also ran without it: see "Without isolation" below (`--no-isolation` runs every phase that way).' : ''),
    `- ${run.browsersPerStrategy} browsers per strategy, arriving at ${run.arrivalsPerSecond}/s, each with its own cookie jar: login route (state cookie + state), ` +
      `consent (the emulator mints the code for that browser's own user), then the callback hits. At that rate the machine's CPU was ` +
      `${busyRange(figures)} busy (all processes): loaded, not saturated. The latency targets are checked on this phase` +
      (heavy.length > 0 ? `; the same browsers at ${run.heavyArrivalsPerSecond}/s are reported apart, under "Under heavy load".` : '.'),
    `- ${(run.androidShare * 100).toFixed(0)}% show the Android double hit (second hit 0-${run.androidGapMs} ms after the first, the first aborted by the client); ` +
      `the others a storm of 2-${run.stormMaxHits} hits spread over 0-${run.stormSpreadMs} ms. In both, a new hit aborts the previous one if it has not answered ` +
      '(a navigation replacing another); an answer that did arrive updates the cookie jar. The last hit is the one the user sees.',
    `- ${(run.replayShare * 100).toFixed(0)}% of the codes are also replayed by an attacker: another browser that starts its own login ` +
      '(so its state checks out) and sends the victim\'s code 50-250 ms after the first hit, while a result is still shared ' +
      '(a code leaked through a Referer, a log or a shared link). Any login it gets is a wrong-user session.',
    `- Same seed, same load for every strategy (seed ${run.seed}). ${run.throughput}`,
    `- Result TTL ${run.resultTtlMs} ms (short on purpose, so memory can be seen to return); "after TTL" is measured ${run.ttlWaitMs} ms after the phase.`,
    `- Clock offsets of the instances (used for cross-process lags): ${run.clockOffsets
      .map((c) => `${c.instance} ${c.offsetMs >= 0 ? '+' : ''}${c.offsetMs.toFixed(3)} ms (rtt ${c.rttMs.toFixed(2)})`)
      .join(', ')}.`,
    '',
  );
  out.push('## Results', '');
  out.push(markdownTable(correctnessTable(figures)), '');
  out.push(markdownTable(capacityTable(figures)), '');
  out.push(
    'Where the time goes: the winner\'s overhead under the load above and with one login at a time, a Redis round trip ' +
      'measured from inside the instances during the duplicate phase, the instances\' garbage-collection pauses during ' +
      'that phase (the same for every strategy: the Nest and HTTP stack allocate most of what is collected; a pause that ' +
      'falls inside a winner\'s coordination step is in its overhead), and CPU per login in the throughput phase.',
    '',
  );
  out.push(markdownTable(costTable(figures)), '');
  if (notIsolated.length > 0) {
    out.push(
      '### Without isolation (not the targets)',
      '',
      `The library's duplicate phase again, right after each isolated one, the same browsers at ${run.arrivalsPerSecond}/s, with the instances and Redis at normal ` +
        'scheduling, sharing the two cores with the load generator and WeChat\'s stand-in. The difference from the rows above is ' +
        'the time a woken instance or Redis waited for a core (compare the in-instance Redis round trip).',
      '',
      markdownTable(contentionTable(notIsolated, run.arrivalsPerSecond)),
      '',
    );
  }
  if (heavy.length > 0) {
    out.push(
      `### Under heavy load (not the targets)`,
      '',
      `The same browsers arriving at ${run.heavyArrivalsPerSecond}/s instead of ${run.arrivalsPerSecond}/s, for this library and the lean naive ` +
        '(whose figures show what the contention alone costs: it has no coordination step). On a small machine the load ' +
        'generator, WeChat, Redis and the instances share the cores; latency tails then follow the Redis round trip measured ' +
        'inside the instances, which is the event loop waiting for a core.',
      '',
      markdownTable(contentionTable(heavy, run.heavyArrivalsPerSecond)),
      '',
    );
  }
  if (diagnostics.length > 0) {
    out.push(
      'Diagnostic (not a strategy): the library\'s own stack with the coordination bypassed, to split its cost between the ' +
        'coordination and the rest (guard, strategy, state cookie, query validation).',
      '',
      markdownTable(diagnosticsTable(diagnostics, figures)),
      '',
    );
  }
  out.push('## Targets (this library)', '');
  out.push(...targetLines(checks, labelOf).map((l) => `- ${l}`), '');
  out.push('## Why the visible hit failed', '');
  out.push(...figures.map((f) => `- **${f.label}**: ${failureSummary(f)}`), '');
  out.push('## What each strategy is', '');
  out.push(...figures.map((f) => `- **${f.label}** (${f.kind}): ${f.models}`));
  out.push(...diagnostics.map((d) => `- **${d.label}** (diagnostic): ${d.models}`), '');
  out.push('## How the figures are measured', '');
  out.push(
    '- *Login ok*: the last hit of each browser answered 200 with that browser\'s own openid and a session cookie.',
    '- *Wrong-user*: any hit, seen by the browser or recorded by the server, that signed in another user; in brackets, the ' +
      'attackers\' replays that were signed in (as their victim) out of those attempted.',
    '- *Exchanges/code*: calls of `/sns/oauth2/access_token` per code, from the emulator\'s counters.',
    '- *Winner overhead*: on the instance that ran the exchange, time spent in the coordination step (from entering it, after the ' +
      'state check, until the login result is known) minus that request\'s own upstream call. The library is measured by the harness ' +
      'around `CodeExchangeService.exchange()` and around the upstream callback it runs, like every baseline; the library\'s own `winner` ' +
      'events give a close cross-check that stops before the result is opened (JSON: `winnerOverheadFromEvents`). "Unloaded": ' +
      'the same with one login at a time and no WeChat latency.',
    '- *Duplicate lag*: for each duplicate that arrived while the winner was still exchanging and then logged in, its completion ' +
      'minus the winner\'s, split by same instance / other instance. Times from different processes are compared on a common clock ' +
      '(`performance.timeOrigin + performance.now()`, offsets above).',
    '- *Throughput*: complete logins (login route, consent, one callback) per second by a closed loop at saturation (enough ' +
      'concurrent browsers that the machine\'s CPU is busy, see its column: a closed loop below saturation would measure latency, ' +
      'not cost), without duplicates, the strategies interleaved in slices. The ratio is to the lean naive (the target\'s ' +
      'reference) and, for comparison, to the naive written with passport-oauth2 and @nestjs/passport.',
    '- *Memory*: heap summed over the instances after a forced GC, keys under the strategy\'s Redis prefix, and the strategy\'s ' +
      'in-process entries. Back to baseline means the same Redis keys, no in-process entry, and heap within 2 MiB per instance ' +
      '(heap after a forced GC moves by about ±0.5 MiB per instance between identical phases; repeating a phase does not grow it).',
    '- *Cost columns*: a Redis PING every 20 ms from inside each instance during the duplicate phase; the machine\'s CPU ' +
      'busy share during that phase (all processes, including anything else running on the machine); CPU time of the instances ' +
      'and of Redis per completed login in the throughput phase.',
    '',
  );
  if (run.notes.length > 0) out.push('## Notes', '', ...run.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
