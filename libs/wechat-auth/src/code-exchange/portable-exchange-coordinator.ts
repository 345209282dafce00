import type { ExchangeKey } from './code-exchange.keys.js';
import { RETRY_MESSAGE, type ExchangeClaim, type ExchangeCoordinator } from './exchange-coordinator.js';
import type { ExchangeLock } from './exchange-lock.js';
import type { ExchangeResultStore } from './exchange-result-store.js';
import type { ExchangeSignal } from './exchange-signal.js';

const ignore = (): void => undefined;

/**
 * The portable protocol, built from ports: outcomes in an {@link ExchangeResultStore} (usually the app's
 * cache-manager cache), an {@link ExchangeLock} and an {@link ExchangeSignal}.
 *
 * Claim reads the outcome and tries the lock in parallel (one round-trip of latency). Because the read and the lock
 * may hit different servers, a caller that got the lock reads again before exchanging: the previous holder may have
 * stored its outcome and released between the two.
 */
export class PortableExchangeCoordinator implements ExchangeCoordinator {
  constructor(
    readonly scope: 'shared' | 'in-process',
    private readonly store: ExchangeResultStore,
    private readonly lock: ExchangeLock,
    private readonly signal: ExchangeSignal,
  ) {}

  async claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    const [stored, attempt] = await Promise.allSettled([
      this.store.get(key.resultKey),
      this.lock.tryAcquire(key.lockKey, token, lockTtlMs),
    ]);
    if (attempt.status === 'rejected') {
      if (stored.status === 'fulfilled' && stored.value !== undefined) return { kind: 'result', envelope: stored.value };
      // The lock command may still have been applied (a timeout is not a "no"): give it back.
      this.lock.release(key.lockKey, token).catch(ignore);
      throw attempt.reason;
    }
    const acquired = attempt.value.acquired;
    if (stored.status === 'rejected') {
      if (acquired) this.lock.release(key.lockKey, token).catch(ignore);
      throw stored.reason;
    }
    if (stored.value !== undefined) {
      if (acquired) this.lock.release(key.lockKey, token).catch(ignore);
      return { kind: 'result', envelope: stored.value };
    }
    if (!attempt.value.acquired) return { kind: 'wait', lockRemainingMs: attempt.value.remainingMs };
    let again: string | undefined;
    try {
      again = await this.store.get(key.resultKey);
    } catch (error) {
      this.lock.release(key.lockKey, token).catch(ignore);
      throw error;
    }
    if (again !== undefined) {
      this.lock.release(key.lockKey, token).catch(ignore);
      return { kind: 'result', envelope: again };
    }
    return { kind: 'acquired' };
  }

  async complete(
    key: ExchangeKey,
    token: string,
    envelope: string,
    options: { resultTtlMs: number; preferExisting: boolean },
  ): Promise<string> {
    let stored = envelope;
    const existing = options.preferExisting ? await this.store.get(key.resultKey) : undefined;
    if (existing !== undefined) stored = existing;
    else await this.store.set(key.resultKey, envelope, options.resultTtlMs);
    // Stored first, then released: a claimer that finds the lock free always finds the outcome.
    await Promise.all([this.lock.release(key.lockKey, token), this.signal.publish(key.channel, stored)]);
    return stored;
  }

  async abandon(key: ExchangeKey, token: string): Promise<void> {
    await Promise.all([this.lock.release(key.lockKey, token), this.signal.publish(key.channel, RETRY_MESSAGE)]);
  }

  subscribe(key: ExchangeKey, listener: (message: string) => void): Promise<() => void> {
    return this.signal.subscribe(key.channel, listener);
  }
}
