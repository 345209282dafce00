import type { ExchangeKey } from './code-exchange.keys.js';
import { RETRY_MESSAGE, type ExchangeClaim, type ExchangeCoordinator } from './exchange-coordinator.js';
import type { ExchangeLock, LockAttempt } from './exchange-lock.js';
import type { ExchangeResultStore } from './exchange-result-store.js';
import type { ExchangeSignal } from './exchange-signal.js';

const ignore = (): void => undefined;
const ACQUIRED: ExchangeClaim = Object.freeze({ kind: 'acquired' });

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
 * Holders store the outcome before they give up the lock. With ordered ports the claim sends the lock command and
 * then the read in one round trip (a claimer that gets the lock sees any outcome stored before), and the completion
 * sends store, release and publish in one.
 *
 * Otherwise (separate backends) the completion publishes the outcome while it is being stored and, once it is, turns
 * the lock into a completion marker that lives as long as the outcome, instead of releasing it. So a claim only tries
 * the lock: one that gets it knows there is no outcome to read (the winner of every login sends one command, not
 * two), one that finds the marker reads the outcome, and one that finds a holder waits for its wake-up. An outcome
 * can outlive its marker only if its holder died between storing it and marking the lock (a one-round-trip window):
 * the next claimer then exchanges again, WeChat answers that the code was used, and the service completes with
 * `preferExisting`, which keeps the stored outcome.
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

  claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    return this.ordered ? this.claimOrdered(key, token, lockTtlMs) : this.claimUnordered(key, token, lockTtlMs);
  }

  private async claimOrdered(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    // Called in this order without waiting, the lock command is applied before the read: one round trip.
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
    return attempt.value.acquired ? ACQUIRED : { kind: 'wait', lockRemainingMs: attempt.value.remainingMs };
  }

  private async claimUnordered(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    let attempt: LockAttempt;
    try {
      attempt = await this.lock.tryAcquire(key.lockKey, token, lockTtlMs);
    } catch (error) {
      // The lock command may still have been applied (a timeout is not a "no"): give it back.
      this.lock.release(key.lockKey, token).catch(ignore);
      throw error;
    }
    // Taken, so no marker was there: no outcome is stored, since a marker outlives the outcome it stands for. A
    // winner (every login) reads nothing.
    if (attempt.acquired) return ACQUIRED;
    // Held by a holder still exchanging: its outcome comes with the wake-up message, or under its marker.
    if (!attempt.completed) return { kind: 'wait', lockRemainingMs: attempt.remainingMs };
    const stored = await this.store.get(key.resultKey);
    if (stored !== undefined) return { kind: 'result', envelope: stored };
    // A marker whose outcome is gone (evicted before its TTL): there is nothing left to share. Rather than let every
    // duplicate wait out the marker, one claimer takes it over and exchanges (WeChat then says whether the code is
    // still good); the others wait on that lock.
    if (await this.lock.takeOverCompleted(key.lockKey, token, lockTtlMs)) return ACQUIRED;
    return { kind: 'wait', lockRemainingMs: lockTtlMs };
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
        // Ordered claims read the outcome, so the lock can go. Unordered ones read only under a marker: turn the lock
        // into one (living the full TTL: at worst it outlives this older outcome, and the claimer that finds it gone
        // takes the marker over).
        const freed = this.ordered
          ? this.lock.release(key.lockKey, token)
          : this.lock.markCompleted(key.lockKey, token, options.resultTtlMs);
        await Promise.all([freed, this.signal.publish(key.channel, existing)]);
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
    // is done, the lock becomes a completion marker rather than being released: claims read the store only under a
    // marker (a free lock means no outcome). The outcome is published again with it, for a waiter that subscribed in
    // between (otherwise it would sleep until its next poll).
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
