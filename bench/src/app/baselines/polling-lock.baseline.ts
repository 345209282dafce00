import { randomBytes } from 'node:crypto';
import type { WechatApiClient } from 'nestjs-wechat-auth';
import type { StrategyId } from '../../shared/strategies.js';
import {
  LockNotAcquiredError,
  sleep,
  upstreamExchange,
  type BaselineResult,
  type BaselineStrategy,
} from './baseline.js';

/** The part of a node-redis v5 client this baseline uses. */
export interface RedisCommands {
  sendCommand(args: string[]): Promise<unknown>;
}

/** How a polling lock retries. */
export interface PollingLockSettings {
  /** Time between two acquisition attempts, before jitter. */
  retryDelayMs: number;
  /** Each delay is `retryDelayMs + floor((random * 2 - 1) * retryJitterMs)`, as redlock computes it. */
  retryJitterMs: number;
  /** Most attempts (redlock: retryCount + 1); Infinity for a time budget only. */
  maxAttempts: number;
  /** Time budget of the acquisition (redis-semaphore's acquireTimeout); Infinity for an attempt budget only. */
  acquireTimeoutMs: number;
  /** Lock lifetime (SET PX). */
  lockTtlMs: number;
}

/** redlock v4/v5 defaults: retryCount 10, retryDelay 200, retryJitter 100 (lock TTL is the caller's; 10 s here). */
export const REDLOCK_DEFAULTS: PollingLockSettings = {
  retryDelayMs: 200,
  retryJitterMs: 100,
  maxAttempts: 11,
  acquireTimeoutMs: Number.POSITIVE_INFINITY,
  lockTtlMs: 10_000,
};

/** redis-semaphore Mutex defaults: retryInterval 10, acquireTimeout 10 000, lockTimeout 10 000. */
export const REDIS_SEMAPHORE_DEFAULTS: PollingLockSettings = {
  retryDelayMs: 10,
  retryJitterMs: 0,
  maxAttempts: Number.POSITIVE_INFINITY,
  acquireTimeoutMs: 10_000,
  lockTtlMs: 10_000,
};

/** Compare-and-delete: release only our own lock (what redlock's and redis-semaphore's release scripts do). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Baseline "Redis lock with polling waiters", the pattern teams build on redlock or redis-semaphore (written here
 * with SET NX PX + polling, so that only the retry settings differ from those libraries' defaults):
 *
 *   result = GET result:code;               if found → done (late duplicate)
 *   acquire lock:code, polling until it is free (redlock/redis-semaphore retry loop)
 *   result = GET result:code;               if found → release, done (a waiter)
 *   exchange; SET result:code PX resultTtl; release
 *
 * A waiter only learns that the holder finished at its next attempt: it pays, on average, about half a retry delay.
 */
export class PollingLockBaseline implements BaselineStrategy {
  constructor(
    readonly id: StrategyId,
    private readonly client: WechatApiClient,
    private readonly redis: RedisCommands,
    private readonly keyPrefix: string,
    private readonly resultTtlMs: number,
    private readonly settings: PollingLockSettings,
  ) {}

  async exchange(code: string): Promise<BaselineResult> {
    const resultKey = `${this.keyPrefix}:result:${code}`;
    const lockKey = `${this.keyPrefix}:lock:${code}`;
    const early = await this.redis.sendCommand(['GET', resultKey]);
    if (typeof early === 'string') return JSON.parse(early) as BaselineResult;

    const token = randomBytes(16).toString('hex');
    await this.acquire(lockKey, token);
    try {
      const stored = await this.redis.sendCommand(['GET', resultKey]);
      if (typeof stored === 'string') return JSON.parse(stored) as BaselineResult;
      const answer = await upstreamExchange(this.client, code);
      const result: BaselineResult = { openid: answer.openid };
      await this.redis.sendCommand(['SET', resultKey, JSON.stringify(result), 'PX', String(this.resultTtlMs)]);
      return result;
    } finally {
      await this.redis.sendCommand(['EVAL', RELEASE_SCRIPT, '1', lockKey, token]).catch(() => undefined);
    }
  }

  entries(): number {
    return 0;
  }

  private async acquire(lockKey: string, token: string): Promise<void> {
    const { retryDelayMs, retryJitterMs, maxAttempts, acquireTimeoutMs, lockTtlMs } = this.settings;
    const deadline = Date.now() + acquireTimeoutMs;
    let attempts = 0;
    // Bounded by maxAttempts and by the deadline (each attempt waits at least one retry delay).
    while (attempts < maxAttempts && Date.now() <= deadline) {
      attempts++;
      const ok = await this.redis.sendCommand(['SET', lockKey, token, 'NX', 'PX', String(lockTtlMs)]);
      if (ok === 'OK') return;
      if (attempts === maxAttempts) break;
      await sleep(Math.max(0, retryDelayMs + Math.floor((Math.random() * 2 - 1) * retryJitterMs)));
    }
    throw new LockNotAcquiredError(attempts);
  }
}
