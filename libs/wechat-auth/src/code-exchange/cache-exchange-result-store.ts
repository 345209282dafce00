import { withTimeout } from './coordination-unavailable.error.js';
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
  constructor(
    private readonly cache: CodeExchangeCache,
    private readonly timeoutMs: number,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const value = await withTimeout(Promise.resolve(this.cache.get<string>(key)), this.timeoutMs, 'cache get');
    return typeof value === 'string' ? value : undefined;
  }

  async set(key: string, envelope: string, ttlMs: number): Promise<void> {
    await withTimeout(Promise.resolve(this.cache.set(key, envelope, ttlMs)), this.timeoutMs, 'cache set');
  }
}
