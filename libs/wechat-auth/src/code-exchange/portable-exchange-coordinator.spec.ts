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

function unorderedCoordinator() {
  const store = new GatedStore();
  const lock = new MemoryExchangeLock(100);
  const signal = new MemoryExchangeSignal();
  // Separate backends: not ordered, as with an injected cache-manager cache.
  const coordinator = new PortableExchangeCoordinator('shared', store, lock, signal);
  return { store, lock, signal, coordinator };
}

/** An unordered coordinator whose holder has claimed, stored and completed `sealed-outcome`. */
async function completedCoordinator() {
  const parts = unorderedCoordinator();
  expect(await parts.coordinator.claim(key, 'holder', 5_000)).toEqual({ kind: 'acquired' });
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
    // The outcome's TTL (options.resultTtlMs), not what was left of the lock's.
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

  it('keeps an outcome stored by an earlier holder and marks the lock rather than freeing it (preferExisting)', async () => {
    const { store, lock, signal, coordinator } = await completedCoordinator();
    // A takeover: the earlier holder's marker is gone (it died between storing and marking), its outcome is not.
    await lock.takeOverCompleted(key.lockKey, 'taker', 5_000);
    const messages: string[] = [];
    await signal.subscribe(key.channel, (message) => messages.push(message));
    const kept = coordinator.complete(key, 'taker', 'second-outcome', { ...options, preferExisting: true });
    await expect(kept).resolves.toBe('sealed-outcome');
    expect(store.writesWaiting).toBe(0);
    expect(messages).toEqual(['sealed-outcome']);
    expect(await lock.tryAcquire(key.lockKey, 'late', 5_000)).toMatchObject({ acquired: false, completed: true });
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
