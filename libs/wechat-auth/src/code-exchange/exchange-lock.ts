/** The result of trying to take a code's lock. */
export type LockAttempt =
  | { readonly acquired: true }
  | {
      readonly acquired: false;
      readonly remainingMs: number;
      /** The lock is a completion marker ({@link ExchangeLock.markCompleted}): its holder's outcome is stored. */
      readonly completed: boolean;
    };

/**
 * The per-code mutex: at most one exchange of a code at a time. Implementations: {@link MemoryExchangeLock}
 * (one process) and {@link RedisExchangeLock} (all instances sharing a Redis).
 */
export interface ExchangeLock {
  /** Takes the lock for `ttlMs` if it is free; otherwise reports how long the holder still has. */
  tryAcquire(key: string, token: string, ttlMs: number): Promise<LockAttempt>;
  /** Releases the lock only if `token` still holds it (compare-and-delete). Resolves whether it did. */
  release(key: string, token: string): Promise<boolean>;
  /**
   * If `token` still holds the lock, turns it into a completion marker for the rest of its lifetime, at most
   * `maxTtlMs` (the outcome's own TTL), instead of releasing it: nobody can take it meanwhile, and claimers learn
   * that the outcome is stored. Resolves whether it did.
   */
  markCompleted(key: string, token: string, maxTtlMs: number): Promise<boolean>;
}
/** Injection token for {@link ExchangeLock}. */
export const ExchangeLock = Symbol('ExchangeLock');
