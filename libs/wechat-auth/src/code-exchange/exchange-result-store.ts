/**
 * Where sealed outcomes are shared with duplicates for the result TTL. Implementations:
 * {@link CacheExchangeResultStore} (any cache-manager `Cache`: memory, @keyv/redis, cache-manager-redis-yet…) and
 * {@link RedisExchangeResultStore} (plain Redis strings).
 */
export interface ExchangeResultStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, envelope: string, ttlMs: number): Promise<void>;
}
/** Injection token for {@link ExchangeResultStore}. */
export const ExchangeResultStore = Symbol('ExchangeResultStore');
