import type { ExchangeKey } from './code-exchange.keys.js';

/** What a claim found. */
export type ExchangeClaim =
  /** The code's outcome is already stored. */
  | { readonly kind: 'result'; readonly envelope: string }
  /** The caller holds the lock and must exchange. */
  | { readonly kind: 'acquired' }
  /** Another holder is exchanging; its lock lives `lockRemainingMs` more. */
  | { readonly kind: 'wait'; readonly lockRemainingMs: number };

/** The message that tells waiters the holder gave up without an outcome: claim again (one of them takes over). */
export const RETRY_MESSAGE = 'retry';

/**
 * One coordination protocol: claim (stored outcome / lock / wait), complete (store, release, wake), abandon
 * (release, wake to retry) and subscribe. Implementations: {@link PortableExchangeCoordinator} (result store + lock +
 * signal ports) and {@link RedisScriptExchangeCoordinator} (the Redis Lua fast path).
 */
export interface ExchangeCoordinator {
  /** `shared` when other instances see the same state. */
  readonly scope: 'shared' | 'in-process';
  claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim>;
  /**
   * Stores the outcome, releases the lock if `token` still holds it, and wakes waiters. Resolves the outcome
   * actually stored: an earlier one when `preferExisting` (or always, where the backend can do it atomically).
   */
  complete(
    key: ExchangeKey,
    token: string,
    envelope: string,
    options: { resultTtlMs: number; preferExisting: boolean },
  ): Promise<string>;
  /** Releases the lock without an outcome and tells waiters to claim again. */
  abandon(key: ExchangeKey, token: string): Promise<void>;
  /** Listens for the code's completion message. */
  subscribe(key: ExchangeKey, listener: (message: string) => void): Promise<() => void>;
}
