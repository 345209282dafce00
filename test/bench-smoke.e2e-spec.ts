/**
 * Smoke test of `npm run bench`: the benchmark runs end to end on a tiny configuration (2 app processes, a few
 * browsers, real Redis, the emulator as WeChat) and writes a well-formed report with every strategy's figures.
 * Timing figures are not asserted (machines are noisy); the library's correctness figures are.
 *
 * The benchmark forks plain-JS processes, so it needs compiled code. Rather than building into the shared dist/
 * (which other suites may be running from), beforeAll compiles the bench and both libraries from their sources into
 * a private directory under node_modules/.cache/ (so the repo's node_modules resolve), where a local node_modules
 * links the package names to the compiled libraries: what runs is exactly the sources under test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { localRedisProcess, readPolicy } from '../bench/src/orchestrator/scheduling.js';
import { STRATEGY_IDS } from '../bench/src/shared/strategies.js';
import { REDIS_URL } from './support/code-exchange.harness.js';
import { canRaiseToRealTime } from './support/real-time.js';
import { compilePrivately, privateBuildDir } from './support/compile-privately.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = privateBuildDir('wxauth-bench-smoke');
const OUT = join(BUILD_DIR, 'out');
const RUN_TIMEOUT_MS = 150_000;

interface Distribution {
  n: number;
  p50: number;
  p99: number;
}

interface StrategyFigures {
  strategy: string;
  label: string;
  kind: string;
  browsers: number;
  success: { count: number; rate: number };
  wrongUserSessions: number;
  exchangesPerCode: { mean: number; max: number; codes: number; codesWithNone: number };
  winnerOverhead: Distribution;
  winnerOverheadUnloaded: Distribution;
  lagInProcess: Distribution;
  lagCrossInstance: Distribution;
  visibleLatency: Distribution;
  memory: Array<{ label: string; heapUsed: number; redisKeys: number; entries: number }>;
  throughput?: { loginsPerSecond: number; ratioToNaive?: number; completed: number };
}

interface BenchReport {
  schema: string;
  run: { instances: number; browsersPerStrategy: number; runId: string; isolation: string; isolated: boolean };
  strategies: StrategyFigures[];
  notIsolated: StrategyFigures[];
  targets: Array<{ strategy: string; target: string; pass: boolean }>;
}

let outDir: string;
let bench: ChildProcess | undefined;
let exit: { code: number | null; output: string };
/** The local Redis server's process and scheduling policy before the run (the run must leave it as it was). */
let redisBefore: { pid: number; policy: { policy: number; priority: number } } | undefined;

async function localRedis(): Promise<{ pid: number } | undefined> {
  const redis = createClient({ url: REDIS_URL });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const found = await localRedisProcess(REDIS_URL, String(await redis.sendCommand(['INFO', 'server'])));
    return 'pid' in found ? found : undefined;
  } finally {
    await redis.close().catch(() => undefined);
  }
}

/** Compiles bench/src and the two libraries' sources into OUT, wired so that the package names resolve to them. */
async function buildPrivately(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  await compilePrivately(BUILD_DIR, {
    compilerOptions: {
      rootDir: ROOT,
      outDir: OUT,
      paths: {
        'nestjs-wechat-auth': [join(ROOT, 'libs', 'wechat-auth', 'src', 'index.ts')],
        'nestjs-wechat-auth-emulator': [join(ROOT, 'libs', 'wechat-emulator', 'src', 'index.ts')],
      },
    },
    include: [join(ROOT, 'bench', 'src', '**', '*.ts'), join(ROOT, 'libs', '*', 'src', '**', '*.ts')],
    exclude: [join(ROOT, '**', '*.spec.ts')],
  });
  await writeFile(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
  await mkdir(join(OUT, 'node_modules'), { recursive: true });
  for (const [name, dir] of [
    ['nestjs-wechat-auth', 'wechat-auth'],
    ['nestjs-wechat-auth-emulator', 'wechat-emulator'],
  ] as const) {
    const compiled = join(OUT, 'libs', dir, 'src');
    await writeFile(join(compiled, 'package.json'), JSON.stringify({ name, type: 'module', exports: { '.': './index.js' } }));
    await symlink(compiled, join(OUT, 'node_modules', name), 'dir');
  }
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'wxauth-bench-smoke-'));
  await buildPrivately();
  const redisProcess = await localRedis();
  if (redisProcess) redisBefore = { pid: redisProcess.pid, policy: await readPolicy(redisProcess.pid) };
  exit = await new Promise((resolve) => {
    const output: string[] = [];
    const child = spawn(process.execPath, [join(OUT, 'bench', 'src', 'run.js'), '--tiny', '--out', outDir], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    bench = child;
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    // The runner stops its own children on SIGTERM; this bound only matters if it hangs.
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      bench = undefined;
      resolve({ code, output: output.join('') });
    });
  });
}, RUN_TIMEOUT_MS + 60_000);

afterAll(async () => {
  if (bench && bench.exitCode === null) {
    bench.kill('SIGTERM');
    await new Promise((resolve) => bench?.once('exit', resolve));
  }
  if (outDir) await rm(outDir, { recursive: true, force: true });
  await rm(BUILD_DIR, { recursive: true, force: true });
});

async function report(): Promise<BenchReport> {
  return JSON.parse(await readFile(join(outDir, 'latest.json'), 'utf8')) as BenchReport;
}

describe('npm run bench -- --tiny', () => {
  it('completes by itself', () => {
    if (exit.code !== 0) throw new Error(`the benchmark exited with ${exit.code}:\n${exit.output.slice(-4000)}`);
    expect(exit.output).toContain('Targets (this library):');
  });

  it('writes a well-formed JSON report with every strategy\'s figures', async () => {
    const json = await report();
    expect(json.schema).toBe('nestjs-wechat-auth-bench/1');
    expect(json.run.instances).toBe(2);
    expect(json.strategies.map((s) => s.strategy)).toEqual([...STRATEGY_IDS]);
    for (const s of json.strategies) {
      expect(s.browsers).toBe(json.run.browsersPerStrategy);
      expect(s.success.rate).toBeGreaterThanOrEqual(0);
      expect(s.success.rate).toBeLessThanOrEqual(1);
      expect(Number.isInteger(s.wrongUserSessions)).toBe(true);
      expect(s.exchangesPerCode.codes).toBe(s.browsers);
      expect(Number.isFinite(s.exchangesPerCode.mean)).toBe(true);
      for (const d of [s.winnerOverhead, s.winnerOverheadUnloaded, s.lagInProcess, s.lagCrossInstance, s.visibleLatency]) {
        expect(Number.isInteger(d.n)).toBe(true);
        if (d.n > 0) expect(Number.isFinite(d.p50) && Number.isFinite(d.p99) && d.p50 <= d.p99).toBe(true);
      }
      expect(s.visibleLatency.n).toBe(s.browsers);
      expect(s.memory.map((m) => m.label)).toEqual(['before', 'right after', 'after TTL']);
      for (const m of s.memory) expect(m.heapUsed).toBeGreaterThan(0);
    }
    const naive = json.strategies.find((s) => s.strategy === 'naive');
    expect(naive?.throughput?.completed).toBeGreaterThan(0);
    expect(json.strategies.find((s) => s.strategy === 'library')?.throughput?.ratioToNaive).toBeGreaterThan(0);
    // Every browser hits its callback at least twice: exchanging on every hit spends codes more than once.
    expect(naive?.exchangesPerCode.mean).toBeGreaterThan(1);
    expect(json.targets.length).toBeGreaterThan(0);
  });

  it('reports the library logging every browser in, as itself, with one upstream exchange per code', async () => {
    const json = await report();
    for (const id of ['library', 'library-fastpath']) {
      const s = json.strategies.find((x) => x.strategy === id);
      expect(s).toBeDefined();
      expect({ id, ok: s!.success.count, wrongUser: s!.wrongUserSessions }).toEqual({ id, ok: s!.browsers, wrongUser: 0 });
      expect({ id, mean: s!.exchangesPerCode.mean, max: s!.exchangesPerCode.max, none: s!.exchangesPerCode.codesWithNone }).toEqual({
        id,
        mean: 1,
        max: 1,
        none: 0,
      });
      const [before, , afterTtl] = s!.memory;
      expect({ id, keys: afterTtl!.redisKeys, entries: afterTtl!.entries }).toEqual({ id, keys: before!.redisKeys, entries: 0 });
    }
  });

  it('runs the library again without scheduling isolation when it isolated, and leaves Redis as it found it', async () => {
    const json = await report();
    expect(typeof json.run.isolation).toBe('string');
    if (canRaiseToRealTime()) {
      expect({ isolated: json.run.isolated, isolation: json.run.isolation }).toEqual({ isolated: true, isolation: expect.stringContaining('SCHED_FIFO 1') });
    }
    const libraryIds = json.strategies.filter((s) => s.kind === 'library').map((s) => s.strategy);
    expect(json.notIsolated.map((s) => s.strategy)).toEqual(json.run.isolated ? libraryIds : []);
    for (const s of json.notIsolated) {
      expect({ id: s.strategy, ok: s.success.count, mean: s.exchangesPerCode.mean }).toEqual({ id: s.strategy, ok: s.browsers, mean: 1 });
    }
    if (redisBefore) expect(await readPolicy(redisBefore.pid)).toEqual(redisBefore.policy);
  });

  it('measures the coordination\'s CPU per exchange against its floor (--coordination-cost --tiny)', async () => {
    const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const output: string[] = [];
      const child = spawn(process.execPath, ['--expose-gc', join(OUT, 'bench', 'src', 'coordination-cost.js'), '--coordination-cost', '--tiny'], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output: output.join('') });
      });
    });
    if (run.code !== 0) throw new Error(`--coordination-cost exited with ${run.code}:\n${run.output.slice(-3000)}`);
    const labels = [
      'upstream only',
      'floor: two round trips',
      'hand-written minimum, outcome in plain JSON',
      'hand-written minimum, outcome sealed to the browser',
      'nestjs-wechat-auth (fast path)',
      'nestjs-wechat-auth (no CacheModule)',
      'nestjs-wechat-auth (CacheModule with @keyv/redis)',
      'nestjs-wechat-auth (in process, no Redis)',
    ];
    for (const label of labels) {
      const row = run.output.split('\n').find((l) => l.startsWith(label));
      expect({ label, measured: /^\S.*?\s(\d+\.\d) \(\d+\.\d–\d+\.\d\)/.test(row ?? '') }).toEqual({ label, measured: true });
    }
  }, 90_000);

  it('writes the Markdown report and the SVG chart', async () => {
    const json = await report();
    const markdown = await readFile(join(outDir, 'latest.md'), 'utf8');
    const svg = await readFile(join(outDir, 'latency.svg'), 'utf8');
    expect(markdown).toContain('![Latency distributions per strategy](latency.svg)');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const s of json.strategies) {
      expect(markdown).toContain(s.label);
      expect(svg).toContain(s.label.replace(/&/g, '&amp;'));
    }
  });
});
