/**
 * Test support for the CodeExchangeService specs: real Redis (REDIS_URL), counting fake exchanges, a private
 * redis-server that tests can kill and restart, and key scans. Shared by the unit specs and the e2e tests (every
 * test that needs Redis connects, checks and cleans up through here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { COMPLETED_LOCK_VALUE } from '../../libs/wechat-auth/src/code-exchange/redis-scripts.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export type TestRedisClient = ReturnType<typeof createClient>;

/** Connects to REDIS_URL or fails with a message that says what to do (tests never skip silently). */
export async function connectTestRedis(url = REDIS_URL): Promise<TestRedisClient> {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.destroy();
    throw new Error(
      `These tests need a real Redis at ${url} (set REDIS_URL). Connecting failed: ${(error as Error).message}`,
    );
  }
  return client;
}

/** Fails with a clear message when Redis is unreachable (tests never skip silently). */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  (await connectTestRedis(url)).destroy();
}

/** A key prefix unique to this run and label, so parallel test files never collide. */
export function uniquePrefix(label: string): string {
  return `wxt-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Every key containing `prefix` (SCAN, never KEYS). */
export async function scanKeys(client: TestRedisClient, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of client.scanIterator({ MATCH: `*${prefix}*`, COUNT: 1_000 })) keys.push(...batch);
  return keys.sort();
}

/**
 * Whether no lock key under `prefix` is still held by a claimer's token: each is gone (released or expired) or is a
 * completion marker, which a holder with a separate cache leaves instead of deleting its lock.
 */
export async function noLockHeld(client: TestRedisClient, prefix: string): Promise<boolean> {
  const locks = (await scanKeys(client, prefix)).filter((k) => k.endsWith(':lock'));
  const values = await Promise.all(locks.map((k) => client.get(k)));
  return values.every((value) => value === null || value === COMPLETED_LOCK_VALUE);
}

export async function deleteKeys(client: TestRedisClient, prefix: string): Promise<void> {
  const keys = await scanKeys(client, prefix);
  if (keys.length > 0) await client.del(keys);
}

/** Deletes every key containing `prefix` and closes `client`; does nothing when it never connected (a failed beforeAll). */
export async function cleanUpTestRedis(client: TestRedisClient | undefined, prefix: string): Promise<void> {
  if (!client) return;
  await deleteKeys(client, prefix);
  await client.close();
}

/** Deletes every key containing `prefix` over a connection of its own (cleanup once the apps under test are closed). */
export async function deleteRedisKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const client = await connectTestRedis(url);
  try {
    await deleteKeys(client, prefix);
  } finally {
    await client.close();
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An exchange callback that counts its calls and behaves as told (delay, value, error, hang). */
export interface FakeExchange<T> {
  (signal: AbortSignal): Promise<T>;
  calls: number;
  signals: AbortSignal[];
}

export function fakeExchange<T>(behaviour: (signal: AbortSignal, call: number) => Promise<T>): FakeExchange<T> {
  const fn = (async (signal: AbortSignal) => {
    fn.calls++;
    fn.signals.push(signal);
    return behaviour(signal, fn.calls);
  }) as FakeExchange<T>;
  fn.calls = 0;
  fn.signals = [];
  return fn;
}

/** Resolves `value` after `ms`. */
export function succeedAfter<T>(ms: number, value: T): FakeExchange<T> {
  return fakeExchange(async () => {
    await sleep(ms);
    return value;
  });
}

/** Rejects with `make()` after `ms`. */
export function failAfter(ms: number, make: () => Error): FakeExchange<never> {
  return fakeExchange(async () => {
    await sleep(ms);
    throw make();
  });
}

/** Never settles and ignores its abort signal: a hung or dead holder. */
export function hang(): FakeExchange<never> {
  return fakeExchange(() => new Promise<never>(() => undefined));
}

/** Waits until `check()` is true, polling every `everyMs`, failing after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A redis-server of our own on a free port, that a test may kill and restart (on the same port). */
export class DisposableRedisServer {
  private process?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<DisposableRedisServer> {
    const server = new DisposableRedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.process) throw new Error('already running');
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      { stdio: 'ignore' },
    );
    this.process = child;
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`Cannot start redis-server (is it installed?): ${error.message}`))),
    );
    await Promise.race([
      eventually(async () => {
        const probe = createClient({ url: this.url, socket: { connectTimeout: 500, reconnectStrategy: false } });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          await probe.ping();
          return true;
        } catch {
          return false;
        } finally {
          if (probe.isOpen) probe.destroy();
        }
      }, 10_000, 50),
      spawnError,
    ]);
  }

  /** SIGKILL: the server vanishes the way a crashed or partitioned Redis does. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
