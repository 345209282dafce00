import type { ExchangeLock, LockAttempt } from './exchange-lock.js';
import type { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { COMPARE_AND_SET_SCRIPT, COMPLETED_LOCK_VALUE, RELEASE_LOCK_SCRIPT } from './redis-scripts.js';

/**
 * {@link ExchangeLock} shared by every instance: `SET key token NX PX ttl` (reporting the holder's remaining time
 * when taken) and a compare-and-delete release, so an expired holder never deletes its successor's lock.
 */
export class RedisExchangeLock implements ExchangeLock {
  constructor(private readonly connection: RedisCoordinationConnection) {}

  async tryAcquire(key: string, token: string, ttlMs: number): Promise<LockAttempt> {
    // A plain command rather than a script: no script to reload after a Redis restart, so the lock command keeps its
    // place in the connection's order (the portable coordinator's claim relies on it). The holder's remaining time
    // and value are asked only when it is taken: a winner (every login) sends one command, a waiter one more round
    // trip while the holder exchanges.
    const taken = await this.connection.send<string | null>(['SET', key, token, 'NX', 'PX', String(ttlMs)], 'lock');
    if (taken === 'OK') return { acquired: true };
    const [pttl, value] = await Promise.all([
      this.connection.send<number>(['PTTL', key], 'lock'),
      this.connection.send<string | null>(['GET', key], 'lock'),
    ]);
    const remainingMs = Number(pttl);
    // Expired between the commands (or no TTL, which the library never sets): report a full lifetime, so the
    // waiter claims again at its next wake-up rather than giving up early.
    return { acquired: false, remainingMs: remainingMs < 0 ? ttlMs : remainingMs, completed: value === COMPLETED_LOCK_VALUE };
  }

  async release(key: string, token: string): Promise<boolean> {
    return (await this.releaseAndPublish(key, token)) === 1;
  }

  async markCompleted(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.compareAndSet(key, token, COMPLETED_LOCK_VALUE, ttlMs, 'unlock');
  }

  async takeOverCompleted(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.compareAndSet(key, COMPLETED_LOCK_VALUE, token, ttlMs, 'lock');
  }

  /** Compare-and-delete and, in the same round trip, a message on `channel`. */
  async releaseAndPublish(key: string, token: string, channel = '', message = ''): Promise<number> {
    return Number(
      await this.connection.runScript<number>(RELEASE_LOCK_SCRIPT, [key], [token, channel, message], 'unlock'),
    );
  }

  private async compareAndSet(
    key: string,
    expected: string,
    value: string,
    ttlMs: number,
    operation: 'lock' | 'unlock',
  ): Promise<boolean> {
    const set = await this.connection.runScript<number>(COMPARE_AND_SET_SCRIPT, [key], [expected, value, String(ttlMs)], operation);
    return Number(set) === 1;
  }
}
