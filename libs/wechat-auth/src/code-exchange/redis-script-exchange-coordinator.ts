import type { ExchangeKey } from './code-exchange.keys.js';
import { RETRY_MESSAGE, type ExchangeClaim, type ExchangeCoordinator } from './exchange-coordinator.js';
import type { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { CLAIM_SCRIPT, COMPLETE_SCRIPT, RELEASE_LOCK_SCRIPT } from './redis-scripts.js';

/**
 * The Redis-native fast path: one Lua script reads the outcome, takes the lock or says wait; one stores the outcome
 * (first writer wins), releases the lock if still owned and publishes the outcome to the waiters. A winner adds two
 * round trips, a late duplicate one. Outcomes live in Redis under `<prefix>:{<id>}:result`.
 */
export class RedisScriptExchangeCoordinator implements ExchangeCoordinator {
  readonly scope = 'shared';

  constructor(private readonly connection: RedisCoordinationConnection) {}

  async claim(key: ExchangeKey, token: string, lockTtlMs: number): Promise<ExchangeClaim> {
    let reply: unknown;
    try {
      reply = await this.connection.runScript<unknown>(
        CLAIM_SCRIPT,
        [key.resultKey, key.lockKey],
        [token, String(lockTtlMs)],
        'claim',
      );
    } catch (error) {
      // A timed-out claim may still have taken the lock: give it back so waiters need not wait for its expiry.
      this.connection
        .runScript(RELEASE_LOCK_SCRIPT, [key.lockKey], [token, '', ''], 'unlock')
        .catch(() => undefined);
      throw error;
    }
    const [status, value] = reply as [number, string | number | undefined];
    if (Number(status) === 1 && typeof value === 'string') return { kind: 'result', envelope: value };
    if (Number(status) === 2) return { kind: 'acquired' };
    return { kind: 'wait', lockRemainingMs: Math.max(0, Number(value ?? lockTtlMs)) };
  }

  async complete(
    key: ExchangeKey,
    token: string,
    envelope: string,
    options: { resultTtlMs: number; preferExisting: boolean },
  ): Promise<string> {
    const reply = await this.connection.runScript<[number, string]>(
      COMPLETE_SCRIPT,
      [key.resultKey, key.lockKey],
      [token, envelope, String(options.resultTtlMs), key.channel],
      'complete',
    );
    const stored = reply?.[1];
    return typeof stored === 'string' && stored.length > 0 ? stored : envelope;
  }

  async abandon(key: ExchangeKey, token: string): Promise<void> {
    await this.connection.runScript(RELEASE_LOCK_SCRIPT, [key.lockKey], [token, key.channel, RETRY_MESSAGE], 'abandon');
  }

  subscribe(key: ExchangeKey, listener: (message: string) => void): Promise<() => void> {
    return this.connection.subscribe(key.channel, listener);
  }
}
