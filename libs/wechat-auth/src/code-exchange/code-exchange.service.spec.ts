import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import KeyvRedis from '@keyv/redis';
import { KeyvAdapter, createCache } from 'cache-manager';
import { redisStore } from 'cache-manager-redis-yet';
import { Keyv } from 'keyv';
import { createClient, createCluster } from 'redis';
import {
  REDIS_URL,
  DisposableRedisServer,
  connectTestRedis,
  deleteKeys,
  eventually,
  failAfter,
  fakeExchange,
  hang,
  noLockHeld,
  scanKeys,
  succeedAfter,
  uniquePrefix,
  type FakeExchange,
  type TestRedisClient,
} from '../../../../test/support/code-exchange.harness.js';
import {
  CodeExchangeTimeoutError,
  CodeReplayError,
  WechatApiError,
  WechatAuthOptionsError,
  WechatTransportError,
} from '../errors/wechat-auth.errors.js';
import type { CodeExchangeEvent } from './code-exchange.events.js';
import type { CodeExchangeSettings } from './code-exchange.options.js';
import { CodeExchangeService } from './code-exchange.service.js';
import type { CodeExchangeRequest } from './code-exchange.types.js';
import { COMPLETED_LOCK_VALUE } from './redis-scripts.js';

const KEY_SECRET = 'spec-key-secret-0123456789abcdef';
const APP_ID = 'wx0123456789abcdef';

interface Identity {
  openid: string;
  accessToken: string;
}

/** Records log lines by level, so tests can count warnings (and check that nothing secret is logged). */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string }> = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message: String(message) });
  }
  warn(message: unknown): void {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message: String(message) });
  }
  debug(message: unknown): void {
    this.lines.push({ level: 'debug', message: String(message) });
  }
  count(level: string): number {
    return this.lines.filter((line) => line.level === level).length;
  }
}

interface Instance {
  service: CodeExchangeService;
  logger: RecordingLogger;
  events: CodeExchangeEvent[];
  close(): Promise<void>;
}

interface Mode {
  name: string;
  shared: boolean;
  create(prefix: string, extra?: Partial<CodeExchangeSettings>): Promise<Instance>;
}

async function instance(
  settings: CodeExchangeSettings,
  cache?: ConstructorParameters<typeof CodeExchangeService>[1],
  cleanup: () => Promise<void> = async () => undefined,
): Promise<Instance> {
  const logger = new RecordingLogger();
  const service = new CodeExchangeService(settings, cache, logger);
  const events: CodeExchangeEvent[] = [];
  service.on((event) => events.push(event));
  await service.onModuleInit();
  return {
    service,
    logger,
    events,
    close: async () => {
      await service.onModuleDestroy();
      await cleanup();
    },
  };
}

const base = (prefix: string, extra?: Partial<CodeExchangeSettings>): CodeExchangeSettings => ({
  keySecret: KEY_SECRET,
  keyPrefix: prefix,
  lockTtlMs: 3_000,
  resultTtlMs: 60_000,
  pollIntervalMs: 250,
  ...extra,
});

/** The coordination setups every behavioural test runs against; each instance has its own connections. */
const SHARED_MODES: Mode[] = [
  {
    name: 'fast path (Redis Lua)',
    shared: true,
    create: (prefix, extra) => instance({ ...base(prefix, extra), redis: REDIS_URL, redisFastPath: true }),
  },
  {
    name: 'portable: cache-manager + @keyv/redis, Redis lock',
    shared: true,
    create: async (prefix, extra) => {
      const cache = createCache({ stores: [new Keyv({ store: new KeyvRedis(REDIS_URL) })] });
      return instance({ ...base(prefix, extra), redis: REDIS_URL }, cache, async () => {
        await cache.disconnect();
      });
    },
  },
  {
    name: 'portable: cache-manager-redis-yet via KeyvAdapter, caller-owned node-redis client',
    shared: true,
    create: async (prefix, extra) => {
      const store = await redisStore({ url: REDIS_URL });
      const cache = createCache({ stores: [new Keyv({ store: new KeyvAdapter(store) })] });
      const client = createClient({ url: REDIS_URL });
      client.on('error', () => undefined);
      await client.connect();
      return instance({ ...base(prefix, extra), redis: client }, cache, async () => {
        // The service must not have closed a client it did not create.
        expect(client.isOpen).toBe(true);
        await client.close();
        await store.client.quit();
      });
    },
  },
  {
    name: 'portable: no cache injected (outcomes in Redis), Redis lock',
    shared: true,
    create: (prefix, extra) => instance({ ...base(prefix, extra), redis: REDIS_URL }),
  },
];

const newCode = (): string => randomBytes(16).toString('hex');
const newBinding = (): string => randomBytes(32).toString('base64url');
const identity = (label: string): Identity => ({ openid: `o-${label}`, accessToken: `at-${randomBytes(8).toString('hex')}` });

function request<T>(code: string, binding: string, exchange: FakeExchange<T>): CodeExchangeRequest<T> {
  return { appId: APP_ID, code, binding, exchange };
}

function sum(instances: Instance[], counter: 'winners' | 'localJoins' | 'remoteWaits' | 'lateHits' | 'takeovers' | 'replaysRejected'): number {
  return instances.reduce((total, i) => total + i.service.stats()[counter], 0);
}

let redis: TestRedisClient;

/**
 * The winner is answered before its outcome is stored (the store completes in the background): waits until the
 * outcomes under `prefix` are stored and their locks released (or, with a separate store, made completion markers).
 */
async function outcomesStored(prefix: string, client: TestRedisClient = redis): Promise<void> {
  await eventually(async () => {
    const keys = await scanKeys(client, prefix);
    if (!keys.some((k) => k.endsWith(':result'))) return false;
    const locks = await Promise.all(keys.filter((k) => k.endsWith(':lock')).map((k) => client.get(k)));
    return locks.every((value) => value === COMPLETED_LOCK_VALUE);
  }, 5_000, 5);
}

beforeAll(async () => {
  redis = await connectTestRedis();
});

afterAll(async () => {
  await redis.close();
});

describe.each(SHARED_MODES)('CodeExchangeService, $name', (mode) => {
  let prefix = '';
  let instances: Instance[] = [];

  beforeEach(() => {
    prefix = uniquePrefix('svc');
  });

  async function cluster(count: number, extra?: Partial<CodeExchangeSettings>): Promise<Instance[]> {
    const created = await Promise.all(Array.from({ length: count }, () => mode.create(prefix, extra)));
    instances.push(...created);
    return created;
  }

  afterEach(async () => {
    await Promise.all(instances.map((i) => i.close()));
    instances = [];
    await deleteKeys(redis, prefix);
  });

  it('runs one exchange for 20 concurrent duplicates spread over 4 instances and gives all the same identity', async () => {
    // A poll interval far beyond the exchange: a late loop cannot let a waiter's poll race the wake-up it checks for.
    const nodes = await cluster(4, { pollIntervalMs: 2_000 });
    for (const node of nodes) expect(node.service.health()).toBe('up');
    const code = newCode();
    const binding = newBinding();
    const exchange = succeedAfter(150, identity('concurrent'));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => nodes[i % 4].service.exchange(request(code, binding, exchange))),
    );
    expect(exchange.calls).toBe(1);
    for (const result of results) expect(result).toEqual(results[0]);
    expect(results[0].openid).toBe('o-concurrent');
    expect(sum(nodes, 'winners')).toBe(1);
    // Each instance coordinates once with the others; its other four callbacks join in process.
    expect(sum(nodes, 'localJoins')).toBe(16);
    expect(sum(nodes, 'remoteWaits') + sum(nodes, 'lateHits')).toBe(3);
    // As soon as the outcome is stored, no lock is held any more (waiters may have been woken by the outcome a round
    // trip before that): released, or with a separate cache turned into its completion marker.
    await eventually(() => noLockHeld(redis, prefix), 5_000, 5);
    // Waiters were woken by the publish (or found the outcome at once), not by their fallback poll.
    const waits = nodes.flatMap((n) => n.events).filter((e) => e.type === 'remote-wait');
    for (const wait of waits) expect(wait.type === 'remote-wait' && wait.wokenBy).not.toBe('poll');
  });

  it('does not take an event-loop stall longer than the command timeout for a Redis failure (no second exchange)', async () => {
    // A CPU-starved container or a long GC blocks the process while Redis has already answered: the answer is in
    // the socket, and the command's timer is overdue. Found by the soak (test/reliability-soak.e2e-spec.ts).
    const [holder, waiter] = await cluster(2, { redisCommandTimeoutMs: 100 });
    // Warm (a cache store may connect lazily on its first command: that round trip is not the point here).
    for (const node of [holder, waiter]) await node.service.exchange(request(newCode(), newBinding(), succeedAfter(1, identity('warm'))));
    for (let round = 0; round < 3; round++) {
      const code = newCode();
      const binding = newBinding();
      const exchange = succeedAfter(300, identity(`stall-${round}`));
      const first = holder.service.exchange(request(code, binding, exchange));
      await sleep(50);
      const second = waiter.service.exchange(request(code, binding, exchange));
      // Let the duplicate send its claim (one turn of the event loop), then block this process past the timeout.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await new Promise((resolve) => setImmediate(resolve));
      const until = Date.now() + 400;
      while (Date.now() < until) {
        // busy: the event loop is blocked
      }
      const results = await Promise.all([first, second]);
      expect(results[1]).toEqual(results[0]);
      expect({ round, calls: exchange.calls }).toEqual({ round, calls: 1 });
    }
    expect(waiter.service.stats().coordinationFailures).toBe(0);
  });

  it('serves late duplicates from the stored outcome, on any instance, with no new exchange', async () => {
    const [a, b] = await cluster(2);
    const code = newCode();
    const binding = newBinding();
    const exchange = succeedAfter(20, identity('late'));
    const first = await a.service.exchange(request(code, binding, exchange));
    const again = await a.service.exchange(request(code, binding, exchange));
    await outcomesStored(prefix);
    const elsewhere = await b.service.exchange(request(code, binding, exchange));
    // A brand-new instance has nothing in process: it must find the outcome in the shared store.
    const [fresh] = await cluster(1);
    const fromStore = await fresh.service.exchange(request(code, binding, exchange));
    expect(exchange.calls).toBe(1);
    expect([again, elsewhere, fromStore]).toEqual([first, first, first]);
    expect(a.events.some((e) => e.type === 'late-hit' && e.source === 'local')).toBe(true);
    expect(b.events.some((e) => e.type === 'late-hit' && e.source === 'shared')).toBe(true);
    expect(fresh.service.stats().lateHits).toBe(1);
  });

  it.each([
    ['40163 code been used', () => new WechatApiError(40163, 'code been used', '/sns/oauth2/access_token')],
    ['-1 system busy', () => new WechatApiError(-1, 'system error', '/sns/oauth2/access_token')],
    ['a transport timeout', () => new WechatTransportError('timeout', '/sns/oauth2/access_token')],
  ])('still shares a stored outcome whose lock is gone (its holder died before giving it up): after WeChat answers %s at most', async (_label, answer) => {
    const [a] = await cluster(1);
    const code = newCode();
    const binding = newBinding();
    const first = await a.service.exchange(request(code, binding, succeedAfter(5, identity('stored'))));
    await outcomesStored(prefix);
    // As if the holder had died between storing the outcome and giving up its lock, and the lock had expired since
    // (or the lock's Redis had lost its keys).
    for (const lock of (await scanKeys(redis, prefix)).filter((k) => k.endsWith(':lock'))) await redis.del(lock);
    const [fresh] = await cluster(1);
    const spent = failAfter(5, answer);
    await expect(fresh.service.exchange(request(code, binding, spent))).resolves.toEqual(first);
    // A claim that reads with its lock attempt finds the outcome at once; one that reads only under a completion
    // marker (a separate cache) exchanges, and keeps the stored outcome when WeChat answers with an error.
    expect(spent.calls).toBeLessThanOrEqual(1);
    // Either way the lock ends as it does after any completion, so the next duplicate is not sent to WeChat.
    await outcomesStored(prefix);
    await expect(fresh.service.exchange(request(code, binding, spent))).resolves.toEqual(first);
    const [another] = await cluster(1);
    await expect(another.service.exchange(request(code, binding, spent))).resolves.toEqual(first);
    expect(spent.calls).toBeLessThanOrEqual(1);
  });

  it.each([
    ['40163 code been used', () => new WechatApiError(40163, 'code been used', '/sns/oauth2/access_token', 'rid-1')],
    ['-1 system busy (outcome unknown)', () => new WechatApiError(-1, 'system error', '/sns/oauth2/access_token')],
    ['40029 invalid code', () => new WechatApiError(40029, 'invalid code', '/sns/oauth2/access_token')],
  ])('shares WechatApiError %s with every duplicate after one call', async (_label, make) => {
    const nodes = await cluster(3);
    const code = newCode();
    const binding = newBinding();
    const exchange = failAfter(100, make);
    const expected = make();
    const settled = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => nodes[i % 3].service.exchange(request(code, binding, exchange))),
    );
    const late = await nodes[1].service.exchange(request(code, binding, exchange)).catch((error: unknown) => error);
    expect(exchange.calls).toBe(1);
    for (const outcome of [...settled.map((s) => (s.status === 'rejected' ? s.reason : s)), late]) {
      expect(outcome).toBeInstanceOf(WechatApiError);
      const error = outcome as WechatApiError;
      expect(error.errcode).toBe(expected.errcode);
      expect(error.category).toBe(expected.category);
      expect(error.rid).toBe(expected.rid);
    }
    const errorEvents = nodes.flatMap((n) => n.events).filter((e) => e.type === 'upstream-error');
    expect(errorEvents).toEqual([expect.objectContaining({ errcode: expected.errcode, category: expected.category })]);
    const winner = nodes.find((n) => n.service.stats().winners === 1);
    expect(winner?.service.stats().upstreamErrorsByErrcode).toEqual({ [String(expected.errcode)]: 1 });
  });

  it('shares a transport timeout (outcome unknown) instead of exchanging the code again', async () => {
    const [a, b] = await cluster(2);
    const code = newCode();
    const binding = newBinding();
    const exchange = failAfter(100, () => new WechatTransportError('timeout', '/sns/oauth2/access_token'));
    const settled = await Promise.allSettled([
      a.service.exchange(request(code, binding, exchange)),
      b.service.exchange(request(code, binding, exchange)),
      b.service.exchange(request(code, binding, exchange)),
    ]);
    expect(exchange.calls).toBe(1);
    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as WechatTransportError;
      expect(reason).toBeInstanceOf(WechatTransportError);
      expect(reason.failure).toBe('timeout');
      expect(reason.category).toBe('outcome-unknown');
    }
  });

  it('does not share a bug: the error reaches the flight, the lock is released and the next duplicate exchanges', async () => {
    const [a, b] = await cluster(2);
    const code = newCode();
    const binding = newBinding();
    const exchange = fakeExchange(async (_signal, call) => {
      await sleep(100);
      if (call === 1) throw new TypeError('a bug in the exchange callback');
      return identity('after-bug');
    });
    const [fromWinner, fromJoiner, fromWaiter] = await Promise.allSettled([
      a.service.exchange(request(code, binding, exchange)),
      a.service.exchange(request(code, binding, exchange)),
      b.service.exchange(request(code, binding, exchange)),
    ]);
    expect(fromWinner).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) });
    expect(fromJoiner).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) });
    // The waiter at B was told to retry, took over and exchanged (well before the 3 s lock would have expired).
    expect(fromWaiter).toMatchObject({ status: 'fulfilled', value: { openid: 'o-after-bug' } });
    expect(exchange.calls).toBe(2);
    expect(b.service.stats().takeovers).toBe(1);
  });

  it('refuses the outcome to another browser: local joiner, remote waiter, local and shared late hits', async () => {
    const [a, b] = await cluster(2);
    const code = newCode();
    const owner = newBinding();
    const exchange = succeedAfter(150, identity('victim'));
    const [ownerResult, localIntruder, remoteIntruder, ownerElsewhere] = await Promise.allSettled([
      a.service.exchange(request(code, owner, exchange)),
      a.service.exchange(request(code, newBinding(), exchange)),
      b.service.exchange(request(code, newBinding(), exchange)),
      b.service.exchange(request(code, owner, exchange)),
    ]);
    expect(ownerResult).toMatchObject({ status: 'fulfilled', value: { openid: 'o-victim' } });
    expect(ownerElsewhere).toMatchObject({ status: 'fulfilled', value: { openid: 'o-victim' } });
    expect(localIntruder).toMatchObject({ status: 'rejected', reason: expect.any(CodeReplayError) });
    expect(remoteIntruder).toMatchObject({ status: 'rejected', reason: expect.any(CodeReplayError) });
    // The winner and the waiters are answered before the outcome is stored (a separate cache's waiters by the wake-up
    // message): the late hits below must come after it is, or a busy machine turns the shared one into a wait.
    await eventually(() => noLockHeld(redis, prefix), 5_000, 5);
    const [fresh] = await cluster(1);
    await expect(a.service.exchange(request(code, newBinding(), exchange))).rejects.toBeInstanceOf(CodeReplayError);
    await expect(fresh.service.exchange(request(code, newBinding(), exchange))).rejects.toBeInstanceOf(CodeReplayError);
    await expect(fresh.service.exchange(request(code, owner, exchange))).resolves.toMatchObject({ openid: 'o-victim' });
    expect(exchange.calls).toBe(1);
    const layers = [a, b, fresh].flatMap((n) => n.events).filter((e) => e.type === 'replay-rejected').map((e) => e.type === 'replay-rejected' && e.layer).sort();
    expect(layers).toEqual(['late-hit', 'late-hit', 'local-join', 'remote-wait'].sort());
    expect(sum([a, b, fresh], 'replaysRejected')).toBe(4);
  });

  it('takes over from a holder that hangs past its lock, and the abort signal fired before the lock ended', async () => {
    const [holder, waiter] = await cluster(2, { lockTtlMs: 1_500 });
    const code = newCode();
    const binding = newBinding();
    const hung = hang();
    const holderDone = holder.service.exchange(request(code, binding, hung)).catch((error: unknown) => error);
    await eventually(() => hung.calls === 1);
    const rescue = succeedAfter(20, identity('rescued'));
    const started = Date.now();
    const result = await waiter.service.exchange(request(code, binding, rescue));
    expect(result.openid).toBe('o-rescued');
    expect(Date.now() - started).toBeLessThan(1_500 + 2_500); // lock TTL plus a generous margin, never a hang
    expect(rescue.calls).toBe(1);
    expect(hung.signals[0].aborted).toBe(true);
    expect(await holderDone).toBeInstanceOf(CodeExchangeTimeoutError);
    expect(holder.service.stats().abandoned).toBe(1);
    expect(waiter.service.stats().takeovers).toBe(1);
    expect(waiter.events.some((e) => e.type === 'winner' && e.takeover)).toBe(true);
    // The holder's own later duplicate is served the taker's outcome.
    await expect(holder.service.exchange(request(code, binding, hung))).resolves.toEqual(result);
    expect(hung.calls).toBe(1);
  });

  it('shares the timeout of an exchange that honours its abort signal, without a second exchange', async () => {
    const [a, b] = await cluster(2, { lockTtlMs: 1_200 });
    const code = newCode();
    const binding = newBinding();
    const exchange = fakeExchange(
      (signal) =>
        new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(new WechatTransportError('timeout', '/sns/oauth2/access_token')));
        }),
    );
    const settled = await Promise.allSettled([
      a.service.exchange(request(code, binding, exchange)),
      sleep(50).then(() => b.service.exchange(request(code, binding, exchange))),
    ]);
    expect(exchange.calls).toBe(1);
    for (const outcome of settled) {
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(WechatTransportError);
    }
  });

  it('expires outcomes after the result TTL: no Redis keys, no in-process entries left', async () => {
    const [a, b] = await cluster(2, { resultTtlMs: 1_000 });
    const code = newCode();
    const binding = newBinding();
    const exchange = succeedAfter(20, identity('ttl'));
    await Promise.all([a.service.exchange(request(code, binding, exchange)), b.service.exchange(request(code, binding, exchange))]);
    // No lock held once stored, well within the lock's TTL (waiters may be woken by the outcome just before).
    await eventually(() => noLockHeld(redis, prefix), 500, 10);
    const keys = await scanKeys(redis, prefix);
    expect(keys.some((k) => k.includes(':result'))).toBe(true);
    expect(a.service.stats().localEntries).toBeGreaterThan(0);
    await eventually(async () => (await scanKeys(redis, prefix)).length === 0, 5_000, 100);
    await eventually(() => a.service.stats().localEntries === 0 && b.service.stats().localEntries === 0, 5_000, 100);
    // After expiry the code is simply new again (WeChat itself would then answer 40163).
    await a.service.exchange(request(code, binding, exchange));
    expect(exchange.calls).toBe(2);
  });

  it('never stores the raw code, the binding or the result in clear', async () => {
    const [a] = await cluster(1);
    const code = newCode();
    const binding = newBinding();
    const secretValue = identity('sealed');
    await a.service.exchange(request(code, binding, succeedAfter(5, secretValue)));
    await outcomesStored(prefix);
    const keys = await scanKeys(redis, prefix);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(code);
      const value = (await redis.get(key)) ?? '';
      expect(value).not.toContain(code);
      expect(value).not.toContain(binding);
      expect(value).not.toContain(secretValue.accessToken);
      expect(value).not.toContain(secretValue.openid);
      // Hash tag: lock and result of one code share a Redis Cluster slot. What remains is the outcome and, with a
      // separate store, the lock turned into a completion marker.
      expect(key).toMatch(new RegExp(`${prefix}:\\{[A-Za-z0-9_-]{43}\\}:(result|lock)$`));
      if (key.endsWith(':lock')) expect(value).toBe(COMPLETED_LOCK_VALUE);
    }
    const logged = a.logger.lines.map((l) => l.message).join('\n');
    expect(logged).not.toContain(code);
    expect(logged).not.toContain(binding);
  });
});

describe('CodeExchangeService with cache-manager-redis-yet through KeyvAdapter', () => {
  it('really stores outcomes in Redis (not in a silent in-memory fallback)', async () => {
    const prefix = uniquePrefix('yet');
    const store = await redisStore({ url: REDIS_URL });
    const cache = createCache({ stores: [new Keyv({ store: new KeyvAdapter(store) })] });
    const node = await instance(base(prefix), cache, async () => {
      await store.client.quit();
    });
    try {
      await node.service.exchange(request(newCode(), newBinding(), succeedAfter(5, identity('yet'))));
      const keys = await scanKeys(redis, prefix);
      expect(keys.filter((k) => k.endsWith(':result'))).toHaveLength(1);
      expect(node.service.health()).toBe('disabled');
    } finally {
      await node.close();
      await deleteKeys(redis, prefix);
    }
  });
});

describe.each([
  ['fast path', true],
  ['portable, no cache', false],
])('CodeExchangeService storing the winner\'s outcome after answering it (%s)', (_label, redisFastPath) => {
  // A private Redis: the test pauses its writes, which must not slow other test files down.
  let server: DisposableRedisServer;
  let admin: TestRedisClient;

  beforeAll(async () => {
    server = await DisposableRedisServer.start();
    admin = await connectTestRedis(server.url);
  });

  afterAll(async () => {
    await admin.close();
    await server.kill();
  });

  it('is answered before the store completes, and shutdown waits for it: a new instance then finds the outcome', async () => {
    const prefix = uniquePrefix('bg');
    // Commands may wait out the whole pause below without timing out.
    const a = await instance({ ...base(prefix, { redisCommandTimeoutMs: 1_500 }), redis: server.url, redisFastPath });
    let b: Instance | undefined;
    try {
      const code = newCode();
      const binding = newBinding();
      const value = identity('background');
      // Redis holds every write for 1 s from the end of the exchange: the outcome cannot be stored before then (long
      // enough that a loaded machine still checks the keys below within it).
      const exchange = fakeExchange(async () => {
        await admin.sendCommand(['CLIENT', 'PAUSE', '1000', 'WRITE']);
        return value;
      });
      const answeredAt = Date.now();
      const first = await a.service.exchange(request(code, binding, exchange));
      expect(first).toEqual(value);
      expect(Date.now() - answeredAt).toBeLessThan(800);
      // Answered, not yet stored: the lock is still held and there is no outcome in Redis (reads are not paused).
      const keys = await scanKeys(admin, prefix);
      expect(keys.filter((k) => k.endsWith(':lock'))).toHaveLength(1);
      expect(keys.filter((k) => k.endsWith(':result'))).toEqual([]);
      // Duplicates in this process are served at once, whatever the store is doing.
      await expect(a.service.exchange(request(code, binding, exchange))).resolves.toEqual(first);
      await a.close();
      expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(800);
      expect((await scanKeys(admin, prefix)).filter((k) => k.endsWith(':result'))).toHaveLength(1);
      expect((await scanKeys(admin, prefix)).filter((k) => k.endsWith(':lock'))).toEqual([]);
      b = await instance({ ...base(prefix), redis: server.url, redisFastPath });
      await expect(b.service.exchange(request(code, binding, exchange))).resolves.toEqual(first);
      expect(b.service.stats().lateHits).toBe(1);
      expect(exchange.calls).toBe(1);
      expect(a.logger.count('warn')).toBe(0);
    } finally {
      await admin.sendCommand(['CLIENT', 'UNPAUSE']).catch(() => undefined);
      await a.close();
      await b?.close();
      await deleteKeys(admin, prefix);
    }
  });
});

describe('CodeExchangeService when storing an answered outcome fails', () => {
  it('logs it once, serves this process and the waiters it woke, and leaves later duplicates elsewhere to take over when the lock expires', async () => {
    const prefix = uniquePrefix('bgfail');
    const realCache = createCache({ stores: [new Keyv({ store: new KeyvRedis(REDIS_URL) })] });
    let failSets = 1;
    // The holder's cache refuses its first write, as a store that is full or briefly unreachable would.
    const failingCache: ConstructorParameters<typeof CodeExchangeService>[1] = {
      get: (key) => realCache.get(key),
      set: (key, value, ttl) => (failSets-- > 0 ? Promise.reject(new Error('OOM command not allowed')) : realCache.set(key, value, ttl)),
    };
    const lockTtlMs = 1_200;
    const holder = await instance({ ...base(prefix, { lockTtlMs }), redis: REDIS_URL }, failingCache);
    const waiter = await instance({ ...base(prefix, { lockTtlMs }), redis: REDIS_URL }, realCache);
    const latecomer = await instance({ ...base(prefix, { lockTtlMs }), redis: REDIS_URL }, realCache);
    try {
      const code = newCode();
      const binding = newBinding();
      // The holder answers once the waiter listens for its wake-up: its store fails, so the publish is the only one.
      const exchange = fakeExchange(async (_signal, call) => {
        if (call === 1) await eventually(async () => (await redis.sendCommand(['PUBSUB', 'CHANNELS', `${prefix}:*`]) as string[]).length > 0, 1_000, 5);
        else await sleep(100);
        return identity('unstored');
      });
      const started = Date.now();
      const [fromHolder, fromWaiter] = await Promise.all([
        holder.service.exchange(request(code, binding, exchange)),
        sleep(30).then(() => waiter.service.exchange(request(code, binding, exchange))),
      ]);
      expect(fromHolder.openid).toBe('o-unstored');
      // The waiter was woken by the outcome itself, published while it was being stored.
      expect(fromWaiter).toEqual(fromHolder);
      expect(exchange.calls).toBe(1);
      expect(waiter.service.stats().remoteWaits).toBe(1);
      expect(Date.now() - started).toBeLessThan(lockTtlMs - 100);
      // A later duplicate elsewhere finds no outcome and a lock that is never released: as if the holder had died,
      // it takes over once the lock expires (WeChat would answer that exchange with 40163; the fake succeeds again).
      const fromLatecomer = await latecomer.service.exchange(request(code, binding, exchange));
      expect(fromLatecomer.openid).toBe('o-unstored');
      expect(exchange.calls).toBe(2);
      expect(latecomer.service.stats().takeovers).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(lockTtlMs - 100);
      // The holder's own duplicates still get its outcome.
      await expect(holder.service.exchange(request(code, binding, exchange))).resolves.toEqual(fromHolder);
      const warnings = holder.logger.lines.filter((l) => l.level === 'warn');
      expect(warnings).toEqual([{ level: 'warn', message: expect.stringContaining('Storing the outcome of code exchange') }]);
      expect(warnings[0].message).not.toContain(code);
      expect(holder.service.health()).toBe('up');
    } finally {
      await holder.close();
      await waiter.close();
      await latecomer.close();
      await realCache.disconnect();
      await deleteKeys(redis, prefix);
    }
  });
});

describe('CodeExchangeService with Redis and a process-local cache', () => {
  it('warns once at startup that late duplicates on other instances cannot be served', async () => {
    const node = await instance({ ...base(uniquePrefix('localcache')), redis: REDIS_URL }, createCache());
    try {
      expect(node.service.health()).toBe('up');
      expect(node.logger.lines.filter((l) => l.level === 'warn')).toEqual([
        { level: 'warn', message: expect.stringContaining('process memory') },
      ]);
    } finally {
      await node.close();
    }
  });
});

describe('CodeExchangeService without Redis (single instance)', () => {
  it.each([
    ['no cache injected', () => undefined],
    ['an in-memory cache-manager cache', () => createCache()],
  ])('coalesces 20 concurrent duplicates into one exchange with %s; health disabled', async (_label, makeCache) => {
    const node = await instance(base(uniquePrefix('mem'), { resultTtlMs: 1_000 }), makeCache());
    try {
      expect(node.service.health()).toBe('disabled');
      expect(node.service.stats().mode).toBe('in-process');
      const code = newCode();
      const binding = newBinding();
      const exchange = succeedAfter(100, identity('single'));
      const results = await Promise.all(
        Array.from({ length: 20 }, () => node.service.exchange(request(code, binding, exchange))),
      );
      expect(exchange.calls).toBe(1);
      for (const result of results) expect(result).toEqual(results[0]);
      expect(node.service.stats()).toMatchObject({ winners: 1, localJoins: 19 });
      await expect(node.service.exchange(request(code, binding, exchange))).resolves.toEqual(results[0]);
      await expect(node.service.exchange(request(code, newBinding(), exchange))).rejects.toBeInstanceOf(CodeReplayError);
      expect(exchange.calls).toBe(1);
      await eventually(() => node.service.stats().localEntries === 0, 5_000, 100);
      await node.service.exchange(request(code, binding, exchange));
      expect(exchange.calls).toBe(2);
    } finally {
      await node.close();
    }
  });

  it('serves a late duplicate on another instance from a shared cache, though each instance locks in process', async () => {
    // No codeExchange.redis: the lock is in process, narrower than the cache the instances share. A free lock then
    // says nothing about the cache, so a claim must read it.
    const prefix = uniquePrefix('memshared');
    const caches = [0, 1].map(() => createCache({ stores: [new Keyv({ store: new KeyvRedis(REDIS_URL) })] }));
    const [a, b] = await Promise.all(caches.map((cache) => instance(base(prefix), cache)));
    try {
      const code = newCode();
      const binding = newBinding();
      const exchange = succeedAfter(5, identity('shared-cache'));
      const first = await a.service.exchange(request(code, binding, exchange));
      await eventually(async () => (await scanKeys(redis, prefix)).some((k) => k.endsWith(':result')), 5_000, 5);
      await expect(b.service.exchange(request(code, binding, exchange))).resolves.toEqual(first);
      expect(exchange.calls).toBe(1);
      expect(b.service.stats().lateHits).toBe(1);
    } finally {
      await a.close();
      await b.close();
      await Promise.all(caches.map((cache) => cache.disconnect()));
      await deleteKeys(redis, prefix);
    }
  });

  it('aborts the signal of every exchange before its lock ends, sharing one signal between exchanges that win together', async () => {
    // lockTtl 800 ms, abort margin 200 ms: each signal must abort within 600 ms of its exchange's start.
    const node = await instance(base(uniquePrefix('deadline'), { lockTtlMs: 800, redisCommandTimeoutMs: 200 }));
    try {
      const abortedAfter: number[] = [];
      const honours = fakeExchange(
        (signal) =>
          new Promise<never>((_, reject) => {
            const started = performance.now();
            signal.addEventListener('abort', () => {
              abortedAfter.push(performance.now() - started);
              reject(new WechatTransportError('timeout', '/sns/oauth2/access_token'));
            });
          }),
      );
      const together = [newCode(), newCode()].map((code) => node.service.exchange(request(code, newBinding(), honours)));
      await sleep(150);
      const later = node.service.exchange(request(newCode(), newBinding(), honours));
      const outcomes = await Promise.allSettled([...together, later]);
      for (const outcome of outcomes) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(WechatTransportError);
      expect(honours.calls).toBe(3);
      expect(honours.signals[0]).toBe(honours.signals[1]);
      expect(honours.signals[2]).not.toBe(honours.signals[0]);
      expect(abortedAfter).toHaveLength(3);
      // At the lock's abort point, never earlier than the slice allows (the later slice loses at most 30 ms), and
      // before the lock ends (800 ms), however late a busy machine fires the timer.
      for (const ms of abortedAfter) {
        expect(ms).toBeGreaterThanOrEqual(600 - 30 - 5);
        expect(ms).toBeLessThan(800);
      }
      expect(node.service.stats()).toMatchObject({ inFlight: 0, abandoned: 0 });
    } finally {
      await node.close();
    }
  });

  it('rejects malformed requests with a TypeError that names fields, never values', async () => {
    const node = await instance(base(uniquePrefix('bad')));
    try {
      const exchange = succeedAfter(1, identity('never'));
      const secretCode = 'c'.repeat(600);
      const error = await node.service
        .exchange({ appId: APP_ID, code: secretCode, binding: '', exchange })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/code .*binding/);
      expect((error as Error).message).not.toContain(secretCode);
      expect(exchange.calls).toBe(0);
    } finally {
      await node.close();
    }
  });

  it('fails construction clearly on bad settings', () => {
    expect(() => new CodeExchangeService({ keySecret: 'short' })).toThrow(WechatAuthOptionsError);
    expect(() => new CodeExchangeService({ keySecret: KEY_SECRET, resultTtlMs: 301_000 })).toThrow(/resultTtlMs/);
    expect(() => new CodeExchangeService({ keySecret: KEY_SECRET, keyPrefix: 'a{b}' })).toThrow(/keyPrefix/);
    expect(() => new CodeExchangeService({ keySecret: KEY_SECRET, redis: 'http://nope' })).toThrow(/redis/);
    const cluster = createCluster({ rootNodes: [{ url: REDIS_URL }] });
    expect(() => new CodeExchangeService({ keySecret: KEY_SECRET, redis: cluster as never })).toThrow(/not a cluster client/);
  });

  it('evicts beyond maxLocalEntries instead of growing', async () => {
    const node = await instance(base(uniquePrefix('max'), { maxLocalEntries: 5 }));
    try {
      for (let i = 0; i < 12; i++) {
        await node.service.exchange(request(newCode(), newBinding(), succeedAfter(1, identity(`m${i}`))));
      }
      expect(node.service.stats().localEntries).toBeLessThanOrEqual(10); // table + in-process store, 5 each
      expect(node.service.stats().localEvictions).toBeGreaterThan(0);
    } finally {
      await node.close();
    }
  });
});

describe.each([
  ['fast path', true],
  ['portable', false],
])('CodeExchangeService when Redis goes down and comes back (%s)', (_label, redisFastPath) => {
  let server: DisposableRedisServer;
  let node: Instance | undefined;

  beforeAll(async () => {
    server = await DisposableRedisServer.start();
  });

  afterAll(async () => {
    await node?.close();
    await server.kill();
  });

  it('degrades to in-process coordination with one warning, keeps coalescing, and recovers by itself', async () => {
    const prefix = uniquePrefix('down');
    node = await instance({
      ...base(prefix, { redisCommandTimeoutMs: 200, breakerFailureThreshold: 2, breakerProbeIntervalMs: 100, lockTtlMs: 2_000 }),
      redis: server.url,
      redisFastPath,
    });
    const { service, logger, events } = node;
    expect(service.health()).toBe('up');
    await service.exchange(request(newCode(), newBinding(), succeedAfter(5, identity('before'))));

    await server.kill();
    // Requests keep working (in process) while the breaker trips; duplicates still share one exchange.
    for (let round = 0; round < 4; round++) {
      const code = newCode();
      const binding = newBinding();
      const exchange = succeedAfter(50, identity(`down-${round}`));
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => service.exchange(request(code, binding, exchange))),
      );
      expect(Date.now() - started).toBeLessThan(3_000); // bounded by command timeouts, never a hang
      expect(exchange.calls).toBe(1);
      for (const result of results) expect(result).toEqual(results[0]);
    }
    expect(service.health()).toBe('down');
    expect(service.stats().degradedSince).toEqual(expect.any(Number));
    expect(events.filter((e) => e.type === 'degraded')).toHaveLength(1);
    expect(logger.count('warn')).toBe(1);

    await server.restart();
    await eventually(() => service.health() === 'up', 10_000, 50);
    expect(events.filter((e) => e.type === 'recovered')).toHaveLength(1);
    expect(service.stats().degradedSince).toBeUndefined();

    // Back to shared coordination: the outcome is in the restarted Redis.
    const probe = await connectTestRedis(server.url);
    try {
      await service.exchange(request(newCode(), newBinding(), succeedAfter(5, identity('after'))));
      await outcomesStored(prefix, probe);
    } finally {
      await probe.close();
    }
    expect(logger.count('warn')).toBe(1);
  });

  it('reports down while idle when Redis goes away (no request needed), and up again when it is back', async () => {
    await node?.close();
    node = await instance({
      ...base(uniquePrefix('idle'), { breakerProbeIntervalMs: 100 }),
      redis: server.url,
      redisFastPath,
    });
    const { service, events, logger } = node;
    expect(service.health()).toBe('up');
    await server.kill();
    // A load balancer polls health while no login happens: the lost connection alone must show.
    await eventually(() => service.health() === 'down', 3_000, 20);
    expect(events.filter((e) => e.type === 'degraded')).toHaveLength(1);
    expect(logger.count('warn')).toBe(1);
    await server.restart();
    await eventually(() => service.health() === 'up', 10_000, 50);
    expect(events.filter((e) => e.type === 'recovered')).toHaveLength(1);
  });

  it('starts degraded, without blocking, when Redis is unreachable at boot', async () => {
    await node?.close();
    node = undefined;
    await server.kill();
    const started = Date.now();
    node = await instance({
      ...base(uniquePrefix('boot'), { redisCommandTimeoutMs: 100, breakerProbeIntervalMs: 100 }),
      redis: server.url,
      redisFastPath,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(node.service.health()).toBe('down');
    const exchange = succeedAfter(5, identity('boot'));
    await expect(node.service.exchange(request(newCode(), newBinding(), exchange))).resolves.toMatchObject({ openid: 'o-boot' });
    await server.restart();
    await eventually(() => node?.service.health() === 'up', 10_000, 50);
  });

  it('times out commands on a paused Redis, degrades, and leaves no stale lock behind', async () => {
    await node?.close();
    const prefix = uniquePrefix('slow');
    node = await instance({
      ...base(prefix, { redisCommandTimeoutMs: 100, breakerFailureThreshold: 1, breakerProbeIntervalMs: 100 }),
      redis: server.url,
      redisFastPath,
    });
    const admin = await connectTestRedis(server.url);
    try {
      // CLIENT PAUSE holds every client's writes (and scripts): the claim must time out rather than hang.
      await admin.sendCommand(['CLIENT', 'PAUSE', '800', 'WRITE']);
      const started = Date.now();
      const result = await node.service.exchange(request(newCode(), newBinding(), succeedAfter(5, identity('slow'))));
      expect(result.openid).toBe('o-slow');
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(node.service.health()).toBe('down');
      await eventually(() => node?.service.health() === 'up', 10_000, 50);
      // The timed-out claim may have taken the lock once Redis resumed; it was given back.
      await eventually(async () => (await scanKeys(admin, prefix)).every((k) => !k.endsWith(':lock')), 5_000, 50);
    } finally {
      await admin.sendCommand(['CLIENT', 'UNPAUSE']).catch(() => undefined);
      await admin.close();
    }
  });
});
