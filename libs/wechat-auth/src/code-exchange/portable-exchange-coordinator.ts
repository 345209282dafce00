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
  /**
   * Every instance that writes the store takes this lock first (a Redis lock beside a cache that the instances
   * share). Unordered, a free lock then means nothing is stored (the completion marker lives as long as the
   * outcome), so a claim only tries the lock and reads the store only under a marker. Leave false when the lock is
   * narrower than the store (an in-process lock beside a shared cache): claims then read the store as well.
   */
  lockCoversStore?: boolean;
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
 * the lock into a completion marker that lives as long as the outcome, instead of releasing it. A claim reads the
 * store and tries the lock in parallel, and reads again when it meets a marker (its first read may have been applied
 * before the write). When the lock covers every writer of the store (`lockCoversStore`), a claim only tries the
 * lock: one that gets it knows there is no outcome to read (the winner of every login sends one command, not two),
 * one that finds the marker reads the outcome, and one that finds a holder waits for its wake-up. An outcome can
 * outlive its marker (its holder died between storing it and marking the lock, the lock's Redis lost its keys, a
 * slow write outlived the lock): the next claimer then exchanges again, WeChat answers with an error (the code is
 * spent), and the service completes any error answer with `preferExisting`, which keeps the stored outcome.
 */
export class PortableExchangeCoordinator implements ExchangeCoordinator {
  private readonly ordered: boolean;
  private readonly claimsByLockOnly: boolean;

  constructor(
    readonly scope: 'shared' | 'in-process',
    private readonly store: ExchangeResultStore,
    private readonly lock: ExchangeLock,
    private readonly signal: ExchangeSignal,
    options: PortableCoordinationOptions = {},
  ) {
    this.ordered = options.ordered === true;
    this.claimsByLockOnly = !this.ordered && options.lockCoversStore === true;
  }

  claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    return this.claimsByLockOnly ? this.claimByLock(key, token, lockTtlMs) : this.claimAndRead(key, token, lockTtlMs);
  }

  /** Tries the lock and reads the store in one go: one round trip of latency (ordered: of commands too). */
  private async claimAndRead(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
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
      // Unordered, the read may have been applied before the holder stored its outcome and marked its lock.
      if (this.ordered || !attempt.value.completed) return { kind: 'wait', lockRemainingMs: attempt.value.remainingMs };
      return this.claimUnderMarker(key, token, lockTtlMs);
    }
    // Acquired. Ordered, the read came after the lock and missed nothing. Unordered, there was no marker: no holder of
    // this lock stored an outcome the read could have missed.
    return ACQUIRED;
  }

  /** Tries the lock only; reads the store under a completion marker (see {@link PortableCoordinationOptions}). */
  private async claimByLock(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
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
    return this.claimUnderMarker(key, token, lockTtlMs);
  }

  /** The lock is a completion marker: the outcome is stored, unless it is gone. */
  private async claimUnderMarker(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    // A cache may answer a failed read as a miss (cache-manager and Keyv do): one miss is not proof enough.
    const stored = (await this.store.get(key.resultKey)) ?? (await this.store.get(key.resultKey));
    if (stored !== undefined) return { kind: 'result', envelope: stored };
    // A marker whose outcome is gone (evicted before its TTL): there is nothing left to share. Rather than let every
    // duplicate wait out the marker, one claimer takes it over and exchanges (WeChat then says whether the code is
    // still good; an error answer keeps any outcome stored meanwhile); the others wait on that lock.
    let tookOver: boolean;
    try {
      tookOver = await this.lock.takeOverCompleted(key.lockKey, token, lockTtlMs);
    } catch (error) {
      this.lock.release(key.lockKey, token).catch(ignore);
      throw error;
    }
    return tookOver ? ACQUIRED : { kind: 'wait', lockRemainingMs: lockTtlMs };
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
        // Ordered claims read the outcome, so the lock can go. Unordered, a marker is what tells claims that the
        // outcome is stored (those that only try the lock read nothing else): turn the lock into one (living the full
        // TTL: at worst it outlives this older outcome, and the claimer that finds it gone takes the marker over).
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
