/**
 * The built sample app as separate Node processes, the way a deployment runs it (`node dist/apps/sample/main.js`
 * behind a load balancer): start with an environment, wait for "Listening on port N", stop gracefully (SIGTERM) or
 * crash it (SIGKILL). Optionally instrumented (test/support/sample-instance.mjs) to report heap after GC and the
 * app's own event-loop delay over IPC. Used by the multi-instance, reliability and soak tests.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_APP } from 'nestjs-wechat-auth-emulator';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SAMPLE_MAIN = join(REPO_ROOT, 'dist', 'apps', 'sample', 'main.js');
const INSTRUMENTED_ENTRY = join(REPO_ROOT, 'test', 'support', 'sample-instance.mjs');
const DEFAULT_START_TIMEOUT_MS = 30_000;

/** Fails with a clear message when the sample app has not been built (`npm test` builds first). */
export function requireBuiltSampleApp(): void {
  if (!existsSync(SAMPLE_MAIN)) {
    throw new Error(`${SAMPLE_MAIN} is missing: build first with "npm run build" ("npm test" builds before running the tests).`);
  }
}

/** What a production-mode sample process needs: WeChat played by the emulator at `emulatorOrigin`. */
export interface SampleProcessSettings {
  emulatorOrigin: string;
  /** Default: the demo Official Account (DEMO_APP), which the emulator knows by default. */
  appId?: string;
  appSecret?: string;
  /** SESSION_SECRET; default: a fresh random one (instances given one environment share it). */
  sessionSecret?: string;
  /** WECHAT_CALLBACK_URL; default: the app's own http://localhost:PORT/auth/wechat/callback. */
  callbackURL?: string;
  redisURL?: string;
  redisKeyPrefix?: string;
  httpTimeoutMs?: number;
  /** Any other variables (e.g. WECHAT_SCOPE). */
  extra?: Record<string, string>;
}

/**
 * The process environment for one sample instance: the test's own environment minus every variable the sample app
 * reads (so a developer's shell cannot leak into the test), plus `settings`.
 */
export function sampleProcessEnv(settings: SampleProcessSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (
      key.startsWith('WECHAT_') ||
      key.startsWith('REDIS_') ||
      ['PORT', 'SESSION_SECRET', 'TRUST_PROXY', 'NODE_OPTIONS'].includes(key)
    ) {
      delete env[key];
    }
  }
  Object.assign(env, {
    NO_COLOR: '1',
    PORT: '0',
    WECHAT_APP_ID: settings.appId ?? DEMO_APP.appId,
    WECHAT_APP_SECRET: settings.appSecret ?? DEMO_APP.appSecret,
    WECHAT_OAUTH_BASE_URL: settings.emulatorOrigin,
    WECHAT_API_BASE_URL: settings.emulatorOrigin,
    SESSION_SECRET: settings.sessionSecret ?? randomBytes(32).toString('base64url'),
    ...(settings.callbackURL === undefined ? {} : { WECHAT_CALLBACK_URL: settings.callbackURL }),
    ...(settings.redisURL === undefined ? {} : { REDIS_URL: settings.redisURL }),
    ...(settings.redisKeyPrefix === undefined ? {} : { REDIS_KEY_PREFIX: settings.redisKeyPrefix }),
    ...(settings.httpTimeoutMs === undefined ? {} : { WECHAT_HTTP_TIMEOUT_MS: String(settings.httpTimeoutMs) }),
    ...settings.extra,
  });
  return env;
}

/** Heap and event-loop figures reported by an instrumented instance. */
export interface SampleProcessStats {
  memory: NodeJS.MemoryUsage;
  /** The app's event-loop delay since the last reset, in ms. */
  eventLoopDelay: { p50: number; p99: number; max: number };
}

export interface SampleProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running sample app process. */
export class SampleProcess {
  /** Everything it wrote to stdout and stderr. */
  readonly output: string[] = [];
  readonly exited: Promise<SampleProcessExit>;
  private nextStatsId = 0;
  private readonly pendingStats = new Map<number, (stats: SampleProcessStats) => void>();

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly instrumented: boolean,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdout!.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    child.on('message', (message: { type?: string; id?: number } & SampleProcessStats) => {
      if (message?.type !== 'stats' || message.id === undefined) return;
      const resolve = this.pendingStats.get(message.id);
      this.pendingStats.delete(message.id);
      resolve?.({ memory: message.memory, eventLoopDelay: message.eventLoopDelay });
    });
  }

  /** `http://127.0.0.1:<port>`, once started. */
  base = '';

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts `node dist/apps/sample/main.js` (or the instrumented wrapper around it) and resolves once it listens.
   * Rejects with the process output when it exits or does not listen within `startTimeoutMs`.
   */
  static async start(
    name: string,
    env: NodeJS.ProcessEnv,
    options: { instrumented?: boolean; startTimeoutMs?: number } = {},
  ): Promise<SampleProcess> {
    requireBuiltSampleApp();
    const instrumented = options.instrumented === true;
    const child = instrumented
      ? fork(INSTRUMENTED_ENTRY, [], {
          cwd: REPO_ROOT,
          env: { ...env, SAMPLE_MAIN },
          execArgv: ['--expose-gc'],
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        })
      : spawn(process.execPath, [SAMPLE_MAIN], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const instance = new SampleProcess(name, child, instrumented);
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`instance ${name} did not start within ${timeoutMs} ms:\n${instance.output.join('')}`));
      }, timeoutMs);
      const onData = (): void => {
        const match = /Listening on port (\d+)/.exec(instance.output.join(''));
        if (!match) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        instance.base = `http://127.0.0.1:${match[1]}`;
        resolve();
      };
      child.stdout!.on('data', onData);
      void instance.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`instance ${name} exited (${code ?? signal}) before listening:\n${instance.output.join('')}`));
      });
    });
    return instance;
  }

  /** Starts several instances at once; if one fails, stops the others and rethrows. */
  static async startAll(
    names: string[],
    env: (name: string) => NodeJS.ProcessEnv,
    options: { instrumented?: boolean; startTimeoutMs?: number } = {},
  ): Promise<SampleProcess[]> {
    const started = await Promise.allSettled(names.map((name) => SampleProcess.start(name, env(name), options)));
    const instances = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      await SampleProcess.stopAll(instances);
      throw failed.reason;
    }
    return instances;
  }

  /** Stops every instance at once (see {@link SampleProcess.stop}); returns how each exited. */
  static stopAll(instances: readonly SampleProcess[]): Promise<SampleProcessExit[]> {
    return Promise.all(instances.map((instance) => instance.stop()));
  }

  /** SIGTERM (a container stop: drain, close Redis, exit), then SIGKILL if it has not exited in `graceMs`. */
  async stop(graceMs = 15_000): Promise<SampleProcessExit> {
    if (!this.running) return this.exited;
    const killer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    this.child.kill('SIGTERM');
    const exit = await this.exited;
    clearTimeout(killer);
    return exit;
  }

  /** SIGKILL: the process vanishes mid-request, the way a crashed or OOM-killed instance does. */
  async kill(): Promise<SampleProcessExit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Resident set size from /proc/<pid>/status, in bytes (Linux). */
  async rssBytes(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]) * 1024;
  }

  /**
   * Heap (after a forced GC when `gc`) and event-loop delay, from an instrumented instance. `resetLoopDelay` starts a
   * new event-loop measurement window after this reading.
   */
  stats(options: { gc?: boolean; resetLoopDelay?: boolean } = {}, timeoutMs = 10_000): Promise<SampleProcessStats> {
    if (!this.instrumented) throw new Error(`instance ${this.name} was not started with instrumented: true`);
    const id = ++this.nextStatsId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingStats.delete(id);
        reject(new Error(`instance ${this.name} did not report its stats within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingStats.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      this.child.send({ type: 'stats', id, gc: options.gc === true, resetLoopDelay: options.resetLoopDelay === true });
    });
  }
}
