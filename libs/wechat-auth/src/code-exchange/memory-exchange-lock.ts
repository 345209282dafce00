import type { ExchangeLock, LockAttempt } from './exchange-lock.js';

/** {@link ExchangeLock} for one process. Bounded: expired locks are pruned, and the oldest dropped beyond the limit. */
export class MemoryExchangeLock implements ExchangeLock {
  /**
   * Locks held by a token, and completion markers (expiry times), each map in the order its entries were set. Kept
   * apart because markers live as long as outcomes, locks as long as an exchange: within each map, entries set with
   * one lifetime expire in the order they were set, so the expired ones are at the front (see forgetExpiredOldest).
   */
  private readonly locks = new Map<string, { token: string; expiresAt: number }>();
  private readonly markers = new Map<string, number>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.locks.size + this.markers.size;
  }

  async tryAcquire(key: string, token: string, ttlMs: number): Promise<LockAttempt> {
    const now = this.now();
    this.forgetExpiredOldest(now);
    const markedUntil = this.markers.get(key);
    if (markedUntil !== undefined) {
      if (markedUntil > now) return { acquired: false, remainingMs: markedUntil - now, completed: true };
      this.markers.delete(key);
    }
    const held = this.locks.get(key);
    if (held && held.expiresAt > now) return { acquired: false, remainingMs: held.expiresAt - now, completed: false };
    this.set(key, token, now + ttlMs, now);
    return { acquired: true };
  }

  async release(key: string, token: string): Promise<boolean> {
    const held = this.locks.get(key);
    if (!held || held.token !== token) return false;
    this.locks.delete(key);
    return held.expiresAt > this.now();
  }

  async markCompleted(key: string, token: string, ttlMs: number): Promise<boolean> {
    const held = this.locks.get(key);
    const now = this.now();
    if (!held || held.token !== token || held.expiresAt <= now) return false;
    this.locks.delete(key);
    this.markers.set(key, now + ttlMs);
    return true;
  }

  async takeOverCompleted(key: string, token: string, ttlMs: number): Promise<boolean> {
    const markedUntil = this.markers.get(key);
    const now = this.now();
    if (markedUntil === undefined || markedUntil <= now) return false;
    this.markers.delete(key);
    this.set(key, token, now + ttlMs, now);
    return true;
  }

  private set(key: string, token: string, expiresAt: number, now: number): void {
    // Deleted first, so that a key set again moves to the back: the map stays in the order of setting.
    this.locks.delete(key);
    if (this.size >= this.maxEntries) this.prune(now);
    this.locks.set(key, { token, expiresAt });
  }

  /** Completion markers are not deleted by their holder: they expire. Dropping them at the front costs O(1) amortized. */
  private forgetExpiredOldest(now: number): void {
    for (const [key, held] of this.locks) {
      if (held.expiresAt > now) break;
      this.locks.delete(key);
    }
    for (const [key, expiresAt] of this.markers) {
      if (expiresAt > now) break;
      this.markers.delete(key);
    }
  }

  /**
   * Full: every entry is live (forgetExpiredOldest has dropped the expired ones at the front of each map), which
   * means more exchanges within a lifetime than maxEntries. Drops the oldest, markers first (their outcomes are
   * stored; a lock is an exchange under way): O(1) per entry, however full.
   */
  private prune(now: number): void {
    this.forgetExpiredOldest(now);
    while (this.size >= this.maxEntries) {
      const oldestMarker = this.markers.keys().next();
      if (!oldestMarker.done) {
        this.markers.delete(oldestMarker.value);
        continue;
      }
      const oldestLock = this.locks.keys().next();
      if (oldestLock.done) break;
      this.locks.delete(oldestLock.value);
    }
  }
}
