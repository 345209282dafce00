import { CommandTimeouts, underTimeouts } from './coordination-unavailable.error.js';
import type { ExchangeResultStore } from './exchange-result-store.js';

/**
 * The part of a cache-manager 7 `Cache` the library uses (also satisfied by a `cacheable` instance, which
 * @nestjs/cache-manager may provide). TTLs are in milliseconds.
 */
export interface CodeExchangeCache {
  get<T>(key: string): Promise<T | undefined | null>;
  set<T>(key: string, value: T, ttl?: number): Promise<unknown>;
}

/**
 * {@link ExchangeResultStore} over the app's cache (CACHE_MANAGER): memory for one instance; @keyv/redis or
 * cache-manager-redis-yet (through cache-manager's `KeyvAdapter`) for many. Operations time out, because a cache
 * whose backend is down may queue commands instead of failing.
 */
export class CacheExchangeResultStore implements ExchangeResultStore {
  /** One timer for every pending operation, not one per call: the store is used twice on every login. */
  private readonly timeouts: CommandTimeouts;

  constructor(
    private readonly cache: CodeExchangeCache,
    timeoutMs: number,
  ) {
    this.timeouts = new CommandTimeouts(timeoutMs);
  }

  async get(key: string): Promise<string | undefined> {
    const value = await underTimeouts(this.timeouts, 'cache get', () => this.cache.get<string>(key));
    return typeof value === 'string' ? value : undefined;
  }

  async set(key: string, envelope: string, ttlMs: number): Promise<void> {
    await underTimeouts(this.timeouts, 'cache set', () => this.cache.set(key, envelope, ttlMs));
  }
}
