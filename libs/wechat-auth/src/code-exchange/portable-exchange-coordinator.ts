import type { ExchangeKey } from './code-exchange.keys.js';
import { RETRY_MESSAGE, type ExchangeClaim, type ExchangeCoordinator } from './exchange-coordinator.js';
import type { ExchangeLock } from './exchange-lock.js';
import type { ExchangeResultStore } from './exchange-result-store.js';
import type { ExchangeSignal } from './exchange-signal.js';

const ignore = (): void => undefined;

/** How the ports of a {@link PortableExchangeCoordinator} relate. */
export interface PortableCoordinationOptions {
  /**
   * The store, the lock and the signal apply operations in the order they are called, even without waiting for
   * one to finish before calling the next: they share one Redis connection (or one process). The coordinator then
   * sends claim and completion in one round trip each. Leave false for separate backends, e.g. a cache-manager store
   * on its own connection.
   */
  ordered?: boolean;
}

/**
 * The portable protocol, built from ports: outcomes in an {@link ExchangeResultStore} (usually the app's
 * cache-manager cache), an {@link ExchangeLock} and an {@link ExchangeSignal}.
 *
 * Holders store the outcome before they give up the lock, so a claimer that gets the lock and only then reads the
 * store sees any outcome stored before. With ordered ports the claim sends the lock command and then the read in one
 * round trip, and the completion sends store, release and publish in one. Otherwise (separate backends) the claim
 * reads the outcome and tries the lock in parallel, one round trip of latency; the completion publishes the outcome
 * while it is being stored and, once it is, turns the lock into a completion marker for the rest of its lifetime
 * instead of releasing it. So a claimer that gets the lock knows no outcome was stored meanwhile, and one that finds
 * the marker knows to read the outcome again.
 */
export class PortableExchangeCoordinator implements ExchangeCoordinator {
  private readonly ordered: boolean;

  constructor(
    readonly scope: 'shared' | 'in-process',
    private readonly store: ExchangeResultStore,
    private readonly lock: ExchangeLock,
    private readonly signal: ExchangeSignal,
    options: PortableCoordinationOptions = {},
  ) {
    this.ordered = options.ordered === true;
  }

  async claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    // Ordered: called in this order without waiting, the lock command is applied before the read.
    const attempting = this.lock.tryAcquire(key.lockKey, token, lockTtlMs);
    const reading = this.store.get(key.resultKey);
    const [attempt, stored] = await Promise.allSettled([attempting, reading]);
    if (attempt.status === 'rejected') {
      if (stored.status === 'fulfilled' && stored.value !== undefined) return { kind: 'result', envelope: stored.value };
      // The lock command may still have been applied (a timeout is not a "no"): give it back.
      this.lock.release(key.lockKey, token).catch(ignore);
      throw attempt.reason;
    }
    const { acquired } = attempt.value;
    if (stored.status === 'rejected') {
      if (acquired) this.lock.release(key.lockKey, token).catch(ignore);
      throw stored.reason;
    }
    if (stored.value !== undefined) {
      if (acquired) this.lock.release(key.lockKey, token).catch(ignore);
      return { kind: 'result', envelope: stored.value };
    }
    if (!attempt.value.acquired) {
      const waiting: ExchangeClaim = { kind: 'wait', lockRemainingMs: attempt.value.remainingMs };
      // Unordered, the read may have been applied before the holder stored its outcome and marked its lock: read
      // again. Finding no outcome under a marker means it is gone already (evicted): wait for the marker to expire,
      // as for a holder that died, and then exchange again.
      if (this.ordered || !attempt.value.completed) return waiting;
      const again = await this.store.get(key.resultKey);
      return again === undefined ? waiting : { kind: 'result', envelope: again };
    }
    // Acquired, so no completion marker was there: nobody has stored an outcome within the lock's lifetime, and the
    // read above (unordered, possibly applied before that) missed nothing.
    return { kind: 'acquired' };
  }

  async complete(
    key: ExchangeKey,
    token: string,
    envelope: string,
    options: { resultTtlMs: number; preferExisting: boolean },
  ): Promise<string> {
    if (options.preferExisting) {
      const existing = await this.store.get(key.resultKey);
      if (existing !== undefined) {
        // Stored first (by the other holder), then released: a claimer that finds the lock free finds the outcome.
        await Promise.all([this.lock.release(key.lockKey, token), this.signal.publish(key.channel, existing)]);
        return existing;
      }
    }
    if (this.ordered) {
      // One round trip; the order of the calls is the order they are applied in: stored, then released.
      await Promise.all([
        this.store.set(key.resultKey, envelope, options.resultTtlMs),
        this.lock.release(key.lockKey, token),
        this.signal.publish(key.channel, envelope),
      ]);
      return envelope;
    }
    // Separate backends. The wake-up message carries the outcome itself, so the waiters need not wait for the store's
    // write: it goes out alongside it, and duplicates on other instances finish a round trip earlier. Once the write
    // is done, the lock becomes a completion marker rather than being released: a claimer whose read was applied
    // before the write then finds the marker, not a free lock. The outcome is published again with it, for a waiter
    // that subscribed in between (otherwise it would sleep until its next poll).
    await Promise.all([
      this.store.set(key.resultKey, envelope, options.resultTtlMs),
      this.signal.publish(key.channel, envelope),
    ]);
    await Promise.all([
      this.lock.markCompleted(key.lockKey, token, options.resultTtlMs),
      this.signal.publish(key.channel, envelope),
    ]);
    return envelope;
  }

  async abandon(key: ExchangeKey, token: string): Promise<void> {
    await Promise.all([this.lock.release(key.lockKey, token), this.signal.publish(key.channel, RETRY_MESSAGE)]);
  }

  subscribe(key: ExchangeKey, listener: (message: string) => void): Promise<() => void> {
    return this.signal.subscribe(key.channel, listener);
  }
}
