import type { ExchangeLock, LockAttempt } from './exchange-lock.js';

/** {@link ExchangeLock} for one process. Bounded: expired locks are pruned, and the oldest dropped beyond the limit. */
export class MemoryExchangeLock implements ExchangeLock {
  private readonly locks = new Map<string, { token: string; expiresAt: number; completed: boolean }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.locks.size;
  }

  async tryAcquire(key: string, token: string, ttlMs: number): Promise<LockAttempt> {
    const now = this.now();
    this.forgetExpiredOldest(now);
    const held = this.locks.get(key);
    if (held && held.expiresAt > now) return { acquired: false, remainingMs: held.expiresAt - now, completed: held.completed };
    if (held) this.locks.delete(key);
    if (this.locks.size >= this.maxEntries) this.prune(now);
    this.locks.set(key, { token, expiresAt: now + ttlMs, completed: false });
    return { acquired: true };
  }

  async release(key: string, token: string): Promise<boolean> {
    const held = this.locks.get(key);
    if (!held || held.completed || held.token !== token) return false;
    this.locks.delete(key);
    return held.expiresAt > this.now();
  }

  async markCompleted(key: string, token: string, maxTtlMs: number): Promise<boolean> {
    const held = this.locks.get(key);
    const now = this.now();
    if (!held || held.completed || held.token !== token || held.expiresAt <= now) return false;
    held.completed = true;
    held.expiresAt = Math.min(held.expiresAt, now + maxTtlMs);
    return true;
  }

  /**
   * Completion markers are not deleted by their holder: they expire. Locks are kept in the order they were taken and
   * live about as long as each other, so the expired ones are at the front; dropping them there costs O(1) amortized.
   */
  private forgetExpiredOldest(now: number): void {
    for (const [key, held] of this.locks) {
      if (held.expiresAt > now) return;
      this.locks.delete(key);
    }
  }

  private prune(now: number): void {
    for (const [key, held] of this.locks) if (held.expiresAt <= now) this.locks.delete(key);
    // Still full: every lock is live, which means more concurrent exchanges than maxEntries. Drop the oldest.
    while (this.locks.size >= this.maxEntries) {
      const oldest = this.locks.keys().next().value;
      if (oldest === undefined) break;
      this.locks.delete(oldest);
    }
  }
}
