import type { ExchangeLock, LockAttempt } from './exchange-lock.js';
import type { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { ACQUIRE_LOCK_SCRIPT, RELEASE_LOCK_SCRIPT } from './redis-scripts.js';

/**
 * {@link ExchangeLock} shared by every instance: `SET key token NX PX ttl` (reporting the holder's remaining time
 * when taken) and a compare-and-delete release, so an expired holder never deletes its successor's lock.
 */
export class RedisExchangeLock implements ExchangeLock {
  constructor(private readonly connection: RedisCoordinationConnection) {}

  async tryAcquire(key: string, token: string, ttlMs: number): Promise<LockAttempt> {
    const reply = Number(
      await this.connection.runScript<number>(ACQUIRE_LOCK_SCRIPT, [key], [token, String(ttlMs)], 'lock'),
    );
    return reply < 0 ? { acquired: true } : { acquired: false, remainingMs: reply };
  }

  async release(key: string, token: string): Promise<boolean> {
    return (await this.releaseAndPublish(key, token)) === 1;
  }

  /** Compare-and-delete and, in the same round trip, a message on `channel`. */
  async releaseAndPublish(key: string, token: string, channel = '', message = ''): Promise<number> {
    return Number(
      await this.connection.runScript<number>(RELEASE_LOCK_SCRIPT, [key], [token, channel, message], 'unlock'),
    );
  }
}
