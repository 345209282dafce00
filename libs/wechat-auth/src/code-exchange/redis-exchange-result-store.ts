import type { ExchangeResultStore } from './exchange-result-store.js';
import type { RedisCoordinationConnection } from './redis-coordination.connection.js';

/**
 * {@link ExchangeResultStore} as plain Redis strings with PX expiry, on the library's own connection. Used by the
 * portable path when Redis is configured but no cache is injected, so results are still shared across instances.
 */
export class RedisExchangeResultStore implements ExchangeResultStore {
  constructor(private readonly connection: RedisCoordinationConnection) {}

  async get(key: string): Promise<string | undefined> {
    const value = await this.connection.send<string | null>(['GET', key], 'result get');
    return typeof value === 'string' ? value : undefined;
  }

  async set(key: string, envelope: string, ttlMs: number): Promise<void> {
    await this.connection.send(['SET', key, envelope, 'PX', String(ttlMs)], 'result set');
  }
}
