import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { CodeExchangeKeys } from './code-exchange.keys.js';
import type { ExchangeResultStore } from './exchange-result-store.js';
import { MemoryExchangeLock } from './memory-exchange-lock.js';
import { MemoryExchangeResultStore } from './memory-exchange-result-store.js';
import { MemoryExchangeSignal } from './memory-exchange-signal.js';
import { PortableExchangeCoordinator } from './portable-exchange-coordinator.js';

/**
 * A result store on a slow backend of its own (as a cache-manager store on another connection is): its writes
 * complete only when the test lets them. The real memory store underneath keeps what was written.
 */
class GatedStore implements ExchangeResultStore {
  readonly inner = new MemoryExchangeResultStore(100);
  private pending: Array<() => void> = [];

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }

  set(key: string, envelope: string, ttlMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push(() => {
        this.inner.set(key, envelope, ttlMs).then(resolve, reject);
      });
    });
  }

  get writesWaiting(): number {
    return this.pending.length;
  }

  completeWrites(): void {
    const pending = this.pending;
    this.pending = [];
    for (const write of pending) write();
  }
}

/** Counts the reads of `store` from now on. */
function countReads(store: GatedStore): () => number {
  let reads = 0;
  const get = store.get.bind(store);
  store.get = (k: string) => {
    reads++;
    return get(k);
  };
  return () => reads;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const key = new CodeExchangeKeys('spec-key-secret-of-enough-length', 'spec').derive('wxapp', 'CODE');
const options = { resultTtlMs: 5_000, preferExisting: false };

/**
 * Separate backends: not ordered, as with an injected cache-manager cache. By default the lock covers every writer of
 * the store (the Redis lock beside a shared cache), so claims only try the lock.
 */
function unorderedCoordinator(lockCoversStore = true) {
  const store = new GatedStore();
  const lock = new MemoryExchangeLock(100);
  const signal = new MemoryExchangeSignal();
  const coordinator = new PortableExchangeCoordinator('shared', store, lock, signal, { lockCoversStore });
  return { store, lock, signal, coordinator };
}

/** An unordered coordinator whose holder has claimed (a 1 s lock), stored and completed `sealed-outcome`. */
async function completedCoordinator() {
  const parts = unorderedCoordinator();
  expect(await parts.coordinator.claim(key, 'holder', 1_000)).toEqual({ kind: 'acquired' });
  const completing = parts.coordinator.complete(key, 'holder', 'sealed-outcome', options);
  await flush();
  parts.store.completeWrites();
  await completing;
  return parts;
}

describe('PortableExchangeCoordinator.complete with separate backends', () => {
  it('wakes waiters with the outcome while it is still being stored, and gives up the lock only once it is', async () => {
    const { store, lock, signal, coordinator } = unorderedCoordinator();
    expect(await coordinator.claim(key, 'holder', 5_000)).toEqual({ kind: 'acquired' });
    const messages: string[] = [];
    await signal.subscribe(key.channel, (message) => messages.push(message));

    const completing = coordinator.complete(key, 'holder', 'sealed-outcome', options);
    await flush();
    expect(store.writesWaiting).toBe(1);
    expect(messages).toEqual(['sealed-outcome']);
    // A claimer that found the lock free must find the outcome: the lock is held until the write is done.
    expect(await lock.tryAcquire(key.lockKey, 'other', 5_000)).toMatchObject({ acquired: false });

    store.completeWrites();
    await expect(completing).resolves.toBe('sealed-outcome');
    expect(await coordinator.claim(key, 'late', 5_000)).toEqual({ kind: 'result', envelope: 'sealed-outcome' });
  });

  it('wakes a waiter that subscribed after the first message and found the lock still held', async () => {
    const { store, signal, coordinator } = unorderedCoordinator();
    expect(await coordinator.claim(key, 'holder', 5_000)).toEqual({ kind: 'acquired' });
    const completing = coordinator.complete(key, 'holder', 'sealed-outcome', options);
    await flush();

    const late: string[] = [];
    await signal.subscribe(key.channel, (message) => late.push(message));
    expect(await coordinator.claim(key, 'waiter', 5_000)).toMatchObject({ kind: 'wait' });
    expect(late).toEqual([]);

    store.completeWrites();
    await completing;
    expect(late).toEqual(['sealed-outcome']);
  });

  it('turns the lock into a completion marker living as long as the outcome; a claimer that finds it reads the outcome', async () => {
    const { store, lock, coordinator } = await completedCoordinator();
    const attempt = await lock.tryAcquire(key.lockKey, 'other', 5_000);
    expect(attempt).toMatchObject({ acquired: false, completed: true });
    // The outcome's TTL (options.resultTtlMs), not what was left of the holder's 1 s lock.
    expect((attempt as { remainingMs: number }).remainingMs).toBeGreaterThan(options.resultTtlMs - 1_000);
    const reads = countReads(store);
    expect(await coordinator.claim(key, 'late', 5_000)).toEqual({ kind: 'result', envelope: 'sealed-outcome' });
    expect(reads()).toBe(1);
  });

  it('reads nothing when the claim gets the lock (no marker: no outcome), nor while a holder still exchanges', async () => {
    const { store, coordinator } = unorderedCoordinator();
    const reads = countReads(store);
    expect(await coordinator.claim(key, 'holder', 5_000)).toEqual({ kind: 'acquired' });
    expect(await coordinator.claim(key, 'waiter', 5_000)).toMatchObject({ kind: 'wait' });
    expect(reads()).toBe(0);
  });

  it('lets exactly one claimer take over a marker whose outcome is gone (evicted); the others wait on its lock', async () => {
    const { store, lock, coordinator } = await completedCoordinator();
    store.inner.clear();
    const claims = await Promise.all(['late-1', 'late-2', 'late-3'].map((token) => coordinator.claim(key, token, 5_000)));
    expect(claims.filter((c) => c.kind === 'acquired')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'wait')).toHaveLength(2);
    expect(await lock.tryAcquire(key.lockKey, 'later', 5_000)).toMatchObject({ acquired: false, completed: false });
  });

  it('reads twice before taking a marker over: a cache may answer a failed read as a miss', async () => {
    const { store, lock, coordinator } = await completedCoordinator();
    const get = store.get.bind(store);
    let reads = 0;
    store.get = (k: string) => (++reads === 1 ? Promise.resolve(undefined) : get(k));
    expect(await coordinator.claim(key, 'late', 5_000)).toEqual({ kind: 'result', envelope: 'sealed-outcome' });
    expect(reads).toBe(2);
    expect(await lock.tryAcquire(key.lockKey, 'later', 5_000)).toMatchObject({ acquired: false, completed: true });
  });

  it('keeps an outcome that outlived its lock (holder died before marking) and marks the lock (preferExisting)', async () => {
    const { store, lock, signal, coordinator } = unorderedCoordinator();
    expect(await coordinator.claim(key, 'holder', 50)).toEqual({ kind: 'acquired' });
    // The holder stored its outcome and died before marking its lock, which then expired.
    await store.inner.set(key.resultKey, 'sealed-outcome', options.resultTtlMs);
    await sleep(80);
    // A claim that only tries the lock reads nothing: it exchanges, and its error answer prefers what is stored.
    expect(await coordinator.claim(key, 'next', 5_000)).toEqual({ kind: 'acquired' });
    const messages: string[] = [];
    await signal.subscribe(key.channel, (message) => messages.push(message));
    await expect(coordinator.complete(key, 'next', 'error-outcome', { ...options, preferExisting: true })).resolves.toBe(
      'sealed-outcome',
    );
    expect(store.writesWaiting).toBe(0);
    expect(messages).toEqual(['sealed-outcome']);
    // Marked, not freed: the next claimer reads the outcome instead of exchanging again.
    expect(await lock.tryAcquire(key.lockKey, 'other', 5_000)).toMatchObject({ acquired: false, completed: true });
    expect(await coordinator.claim(key, 'late', 5_000)).toEqual({ kind: 'result', envelope: 'sealed-outcome' });
  });

  it('reads the store with the lock when the lock is narrower than the store (an in-process lock, a shared cache)', async () => {
    const { store, coordinator } = unorderedCoordinator(false);
    // Another instance, under its own in-process lock, stored the outcome.
    await store.inner.set(key.resultKey, 'sealed-outcome', options.resultTtlMs);
    expect(await coordinator.claim(key, 'here', 5_000)).toEqual({ kind: 'result', envelope: 'sealed-outcome' });
  });

  it('keeps the lock when the write fails, so that no claimer mistakes a free lock for a missing outcome', async () => {
    const lock = new MemoryExchangeLock(100);
    const failing: ExchangeResultStore = {
      get: async () => undefined,
      set: async () => {
        throw new Error('store unavailable');
      },
    };
    const coordinator = new PortableExchangeCoordinator('shared', failing, lock, new MemoryExchangeSignal());
    expect(await coordinator.claim(key, 'holder', 5_000)).toEqual({ kind: 'acquired' });
    await expect(coordinator.complete(key, 'holder', 'sealed-outcome', options)).rejects.toThrow('store unavailable');
    expect(await lock.tryAcquire(key.lockKey, 'other', 5_000)).toMatchObject({ acquired: false });
  });
});
