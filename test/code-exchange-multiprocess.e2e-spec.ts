/**
 * CodeExchangeService across separate Node processes sharing one Redis: what a load-balanced deployment sees.
 *
 * How the workers run the library: Jest compiles TypeScript in memory, but a forked process cannot use that, Node
 * 20 has no type stripping, and the repo has no TS loader. So beforeAll compiles the code-exchange sources (and
 * their imports) with the project's own `tsc` into `node_modules/.cache/…` (inside the repo, so the workers resolve
 * `@nestjs/common`, `redis`, `cache-manager` … from the repo's node_modules), and forks plain-JS workers
 * (test/support/code-exchange.worker.mjs) that import it. The compiled copy is the same source the unit specs test.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  REDIS_URL,
  connectTestRedis,
  deleteKeys,
  eventually,
  noLockHeld,
  scanKeys,
  uniquePrefix,
  type TestRedisClient,
} from './support/code-exchange.harness.js';
import { compilePrivately, privateBuildDir } from './support/compile-privately.js';

const ROOT = process.cwd();
const BUILD_DIR = privateBuildDir('wxauth-code-exchange-e2e');
const LIB_DIR = join(BUILD_DIR, 'lib');
const WORKER = join(ROOT, 'test', 'support', 'code-exchange.worker.mjs');
const KEY_SECRET = 'e2e-key-secret-0123456789abcdef';
const APP_ID = 'wxe2e0123456789ab';
const LOCK_TTL_MS = 1_500;

type Mode = 'fast' | 'portable-keyv';

interface ExchangeReply {
  ok: boolean;
  value?: { openid: string; exchangedBy: number };
  error?: { name: string; kind?: string; errcode?: number };
}

/** One forked process running one CodeExchangeService. */
class Worker {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(message: Record<string, unknown>): void; fail(error: Error): void }>();
  private readonly started = new Set<number>();
  readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: Record<string, unknown>) => {
      if (message.type === 'exchange-started') this.started.add(message.id as number);
      const waiter = this.pending.get(message.id as number);
      if (waiter && message.type !== 'exchange-started') {
        this.pending.delete(message.id as number);
        waiter.resolve(message);
      }
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        for (const waiter of this.pending.values()) waiter.fail(new Error('worker exited'));
        this.pending.clear();
        resolve();
      }),
    );
  }

  static async start(mode: Mode, prefix: string): Promise<Worker> {
    const child = fork(WORKER, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        WXAUTH_WORKER: JSON.stringify({
          libDir: LIB_DIR,
          redisUrl: REDIS_URL,
          prefix,
          mode,
          keySecret: KEY_SECRET,
          appId: APP_ID,
          lockTtlMs: LOCK_TTL_MS,
        }),
      },
    });
    const worker = new Worker(child);
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('worker not ready within 15 s')), 15_000);
      child.once('message', (message: Record<string, unknown>) => {
        clearTimeout(timer);
        resolve(message);
      });
      child.once('exit', (code) => reject(new Error(`worker exited early with code ${code}`)));
    });
    expect(ready).toEqual({ type: 'ready', health: 'up' });
    return worker;
  }

  private call(message: Record<string, unknown>, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${String(message.type)} within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...message, id });
    });
  }

  exchange(message: { code: string; binding: string; behaviour: 'succeed' | 'hang' | 'error'; delayMs?: number; openid?: string; errcode?: number }): {
    id: number;
    reply: Promise<ExchangeReply>;
  } {
    const id = this.nextId + 1;
    const reply = this.call({ type: 'exchange', ...message }).then(({ ok, value, error }) =>
      JSON.parse(JSON.stringify({ ok, value, error })) as ExchangeReply,
    );
    return { id, reply };
  }

  hasStarted(id: number): boolean {
    return this.started.has(id);
  }

  async exchangeCalls(): Promise<number> {
    return (await this.call({ type: 'stats' })).exchangeCalls as number;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      await this.call({ type: 'close' }, 5_000);
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    } finally {
      if (this.child.exitCode === null && this.child.signalCode === null) this.kill();
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

let admin: TestRedisClient;
let workers: Worker[] = [];

beforeAll(async () => {
  admin = await connectTestRedis();
  await compilePrivately(BUILD_DIR, {
    compilerOptions: { rootDir: join(ROOT, 'libs', 'wechat-auth', 'src'), outDir: LIB_DIR, noUnusedLocals: false },
    files: [join(ROOT, 'libs', 'wechat-auth', 'src', 'code-exchange', 'code-exchange.service.ts')],
  });
  await writeFile(join(BUILD_DIR, 'package.json'), JSON.stringify({ type: 'module' }));
}, 120_000);

afterEach(async () => {
  await Promise.all(workers.map((w) => w.close()));
  workers = [];
});

afterAll(async () => {
  await admin?.close();
  await rm(BUILD_DIR, { recursive: true, force: true });
});

const newCode = (): string => randomBytes(16).toString('hex');
const newBinding = (): string => randomBytes(32).toString('base64url');

async function totalCalls(of: Worker[]): Promise<number> {
  const counts = await Promise.all(of.map((w) => w.exchangeCalls()));
  return counts.reduce((a, b) => a + b, 0);
}

describe.each<Mode>(['fast', 'portable-keyv'])('CodeExchangeService across processes (%s)', (mode) => {
  let prefix = '';

  async function spawnWorkers(count: number): Promise<Worker[]> {
    const started = await Promise.all(Array.from({ length: count }, () => Worker.start(mode, prefix)));
    workers.push(...started);
    return started;
  }

  beforeAll(() => {
    prefix = uniquePrefix(`mp-${mode}`);
  });

  afterAll(async () => {
    await deleteKeys(admin, prefix);
  });

  it('runs one exchange for 20 duplicates spread over 4 processes; late and replayed duplicates in a new process', async () => {
    const nodes = await spawnWorkers(4);
    const code = newCode();
    const binding = newBinding();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        nodes[i % 4].exchange({ code, binding, behaviour: 'succeed', delayMs: 200, openid: 'o-multi' }).reply,
      ),
    );
    expect(await totalCalls(nodes)).toBe(1);
    for (const reply of replies) expect(reply).toEqual(replies[0]);
    expect(replies[0]).toMatchObject({ ok: true, value: { openid: 'o-multi' } });
    expect(nodes.map((n) => n.child.pid)).toContain(replies[0].value?.exchangedBy);

    const [late] = await spawnWorkers(1);
    expect(await late.exchange({ code, binding, behaviour: 'succeed', openid: 'o-second' }).reply).toEqual(replies[0]);
    const replay = await late.exchange({ code, binding: newBinding(), behaviour: 'succeed', openid: 'o-attacker' }).reply;
    expect(replay).toMatchObject({ ok: false, error: { kind: 'code-replay' } });
    expect(await late.exchangeCalls()).toBe(0);
    // No lock left held: released, or (separate cache) a completion marker, set a round trip after the waiters woke.
    await eventually(() => noLockHeld(admin, prefix), 5_000, 5);
  });

  it('shares a 40163 across processes after one call', async () => {
    const nodes = await spawnWorkers(3);
    const code = newCode();
    const binding = newBinding();
    const replies = await Promise.all(
      Array.from({ length: 9 }, (_, i) => nodes[i % 3].exchange({ code, binding, behaviour: 'error', errcode: 40163, delayMs: 150 }).reply),
    );
    expect(await totalCalls(nodes)).toBe(1);
    for (const reply of replies) expect(reply).toEqual({ ok: false, error: { name: 'WechatApiError', kind: 'wechat-api', errcode: 40163 } });
  });

  it('takes over when the process holding the lock is killed mid-exchange', async () => {
    const [holder, survivor] = await spawnWorkers(2);
    const code = newCode();
    const binding = newBinding();
    const held = holder.exchange({ code, binding, behaviour: 'hang' });
    held.reply.catch(() => undefined); // the holder dies: this never answers
    await eventually(() => holder.hasStarted(held.id), 10_000, 10);
    // The duplicate arrives while the holder is exchanging, and waits on it.
    const waiting = survivor.exchange({ code, binding, behaviour: 'succeed', delayMs: 20, openid: 'o-rescued' });
    await eventually(async () => (await scanKeys(admin, prefix)).some((k) => k.endsWith(':lock')), 5_000, 10);
    holder.kill();
    await holder.exited;
    const started = Date.now();
    const reply = await waiting.reply;
    expect(reply).toMatchObject({ ok: true, value: { openid: 'o-rescued', exchangedBy: survivor.child.pid } });
    expect(Date.now() - started).toBeLessThan(LOCK_TTL_MS + 3_000); // within the lock TTL plus a generous margin
    expect(await survivor.exchangeCalls()).toBe(1);
  });
});
