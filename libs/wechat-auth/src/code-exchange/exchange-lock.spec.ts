import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  REDIS_URL,
  connectTestRedis,
  deleteKeys,
  scanKeys,
  uniquePrefix,
  type TestRedisClient,
} from '../../../../test/support/code-exchange.harness.js';
import type { ExchangeLock } from './exchange-lock.js';
import { MemoryExchangeLock } from './memory-exchange-lock.js';
import { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { RedisExchangeLock } from './redis-exchange-lock.js';

let admin: TestRedisClient;
const connections: RedisCoordinationConnection[] = [];
const prefix = uniquePrefix('lock');

async function redisLock(): Promise<RedisExchangeLock> {
  const connection = new RedisCoordinationConnection(REDIS_URL, { commandTimeoutMs: 500, logger: new Logger('spec') });
  connections.push(connection);
  expect(await connection.start(2_000)).toBe(true);
  return new RedisExchangeLock(connection);
}

beforeAll(async () => {
  admin = await connectTestRedis();
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await deleteKeys(admin, prefix);
  await admin.close();
});

describe.each([
  ['MemoryExchangeLock', async (): Promise<[ExchangeLock, ExchangeLock]> => {
    const lock = new MemoryExchangeLock();
    return [lock, lock];
  }],
  // Two connections: two instances contending for one lock.
  ['RedisExchangeLock', async (): Promise<[ExchangeLock, ExchangeLock]> => [await redisLock(), await redisLock()]],
])('%s', (_name, make) => {
  let a: ExchangeLock;
  let b: ExchangeLock;
  let n = 0;
  const key = (): string => `${prefix}:{k${++n}}:lock`;

  beforeAll(async () => {
    [a, b] = await make();
  });

  it('is taken once; a contender learns how long the holder has left', async () => {
    const k = key();
    expect(await a.tryAcquire(k, 'token-a', 5_000)).toEqual({ acquired: true });
    const attempt = await b.tryAcquire(k, 'token-b', 5_000);
    expect(attempt.acquired).toBe(false);
    const remaining = (attempt as { remainingMs: number }).remainingMs;
    expect(remaining).toBeGreaterThan(3_000);
    expect(remaining).toBeLessThanOrEqual(5_000);
  });

  it('is released only by its holder (compare-and-delete)', async () => {
    const k = key();
    await a.tryAcquire(k, 'token-a', 5_000);
    expect(await b.release(k, 'token-b')).toBe(false);
    expect((await b.tryAcquire(k, 'token-b', 5_000)).acquired).toBe(false);
    expect(await a.release(k, 'token-a')).toBe(true);
    expect(await b.tryAcquire(k, 'token-b', 5_000)).toEqual({ acquired: true });
    expect(await b.release(k, 'token-b')).toBe(true);
  });

  it('expires, and an expired holder cannot release its successor', async () => {
    const k = key();
    await a.tryAcquire(k, 'token-a', 150);
    await sleep(250);
    expect(await b.tryAcquire(k, 'token-b', 5_000)).toEqual({ acquired: true });
    expect(await a.release(k, 'token-a')).toBe(false);
    expect((await a.tryAcquire(k, 'token-a', 5_000)).acquired).toBe(false);
    expect(await b.release(k, 'token-b')).toBe(true);
  });

  it('becomes a completion marker only for its holder, which nobody can take and which says so', async () => {
    const k = key();
    // A 1 s lock marked for 5 s: the marker lives as long as the outcome, not what was left of the lock.
    await a.tryAcquire(k, 'token-a', 1_000);
    expect(await b.tryAcquire(k, 'token-b', 5_000)).toMatchObject({ acquired: false, completed: false });
    expect(await b.markCompleted(k, 'token-b', 5_000)).toBe(false);
    expect(await a.markCompleted(k, 'token-a', 5_000)).toBe(true);
    const attempt = await b.tryAcquire(k, 'token-b', 5_000);
    expect(attempt).toMatchObject({ acquired: false, completed: true });
    expect((attempt as { remainingMs: number }).remainingMs).toBeGreaterThan(3_000);
    // A marker is not a lock any more: neither marked again nor released by its former holder.
    expect(await a.markCompleted(k, 'token-a', 5_000)).toBe(false);
    expect(await a.release(k, 'token-a')).toBe(false);
  });

  it('keeps the marker no longer than the outcome it stands for, then frees the key', async () => {
    const k = key();
    await a.tryAcquire(k, 'token-a', 5_000);
    // 1 s: far below the 5 s lock it replaces, long enough for a loaded machine to look at it before it expires.
    expect(await a.markCompleted(k, 'token-a', 1_000)).toBe(true);
    const attempt = await b.tryAcquire(k, 'token-b', 5_000);
    expect((attempt as { remainingMs: number }).remainingMs).toBeLessThanOrEqual(1_000);
    await sleep(1_100);
    expect(await b.tryAcquire(k, 'token-b', 5_000)).toEqual({ acquired: true });
    expect(await b.release(k, 'token-b')).toBe(true);
  });

  it('gives a marker to exactly one of many contenders taking it over, as a lock of their own; never a live lock', async () => {
    const k = key();
    await a.tryAcquire(k, 'token-a', 5_000);
    expect(await b.takeOverCompleted(k, 'token-b', 5_000)).toBe(false);
    expect(await a.markCompleted(k, 'token-a', 60_000)).toBe(true);
    const takers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).takeOverCompleted(k, `t${i}`, 1_000)),
    );
    expect(takers.filter(Boolean)).toHaveLength(1);
    const winner = `t${takers.indexOf(true)}`;
    const attempt = await b.tryAcquire(k, 'token-c', 5_000);
    expect(attempt).toMatchObject({ acquired: false, completed: false });
    // The taker's own lock (1 s), not the 60 s marker it replaced.
    expect((attempt as { remainingMs: number }).remainingMs).toBeLessThanOrEqual(1_000);
    expect(await a.release(k, winner)).toBe(true);
  });

  it('lets exactly one of many concurrent contenders win', async () => {
    const k = key();
    const attempts = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tryAcquire(k, `t${i}`, 5_000)),
    );
    expect(attempts.filter((x) => x.acquired)).toHaveLength(1);
  });
});

describe('RedisExchangeLock keys', () => {
  it('leaves no key behind once released', async () => {
    const lock = await redisLock();
    const k = `${prefix}:{gone}:lock`;
    await lock.tryAcquire(k, 't', 5_000);
    expect(await scanKeys(admin, `${prefix}:{gone}`)).toEqual([k]);
    await lock.release(k, 't');
    expect(await scanKeys(admin, `${prefix}:{gone}`)).toEqual([]);
  });
});

describe('MemoryExchangeLock bounds', () => {
  it('drops the oldest completion markers first when full of live entries, keeping exchanges under way', async () => {
    const lock = new MemoryExchangeLock(3);
    for (const k of ['m1', 'm2']) {
      await lock.tryAcquire(k, `t-${k}`, 60_000);
      await lock.markCompleted(k, `t-${k}`, 60_000);
    }
    await lock.tryAcquire('l1', 't-l1', 60_000);
    await lock.tryAcquire('l2', 't-l2', 60_000);
    await lock.tryAcquire('l3', 't-l3', 60_000);
    expect(lock.size).toBeLessThanOrEqual(3);
    // Both markers went before any lock did.
    for (const k of ['l1', 'l2', 'l3']) expect(await lock.tryAcquire(k, 'y', 60_000)).toMatchObject({ acquired: false, completed: false });
    expect(await lock.tryAcquire('m1', 'x', 60_000)).toEqual({ acquired: true });
    expect(await lock.release('l3', 't-l3')).toBe(true);
  });

  it('never holds more than maxEntries locks', async () => {
    const lock = new MemoryExchangeLock(3);
    for (let i = 0; i < 10; i++) await lock.tryAcquire(`k${i}`, 't', 60_000);
    expect(lock.size).toBeLessThanOrEqual(3);
  });

  it('forgets expired locks and completion markers as new locks are taken, well before it is full', async () => {
    let now = 1_000_000;
    const lock = new MemoryExchangeLock(10_000, () => now);
    for (let i = 0; i < 50; i++) {
      await lock.tryAcquire(`k${i}`, `t${i}`, 1_000);
      if (i % 2 === 0) await lock.markCompleted(`k${i}`, `t${i}`, 2_000);
    }
    expect(lock.size).toBe(50);
    now += 1_001;
    // The locks have expired; the markers (as long-lived as their outcomes) have not.
    await lock.tryAcquire('fresh', 'tf', 1_000);
    expect(lock.size).toBe(26);
    now += 1_000;
    await lock.tryAcquire('fresher', 'tf', 1_000);
    expect(lock.size).toBe(1);
  });
});
