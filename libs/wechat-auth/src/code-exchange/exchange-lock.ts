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
   * If `token` still holds the lock, turns it into a completion marker that lives `ttlMs` (the stored outcome's own
   * TTL; set once the outcome is stored, the marker outlives it) instead of releasing it: nobody can take it
   * meanwhile, and claimers learn that the outcome is stored. So a claimer that takes the lock knows there is no
   * outcome to read. Resolves whether it did.
   */
  markCompleted(key: string, token: string, ttlMs: number): Promise<boolean>;
  /**
   * Takes a completion marker as if the lock were free, for a claimer that found the marker's outcome gone (evicted
   * before its TTL): only one claimer gets it, and the others keep waiting on the lock. Resolves whether it did.
   */
  takeOverCompleted(key: string, token: string, ttlMs: number): Promise<boolean>;
}
/** Injection token for {@link ExchangeLock}. */
export const ExchangeLock = Symbol('ExchangeLock');
