import { IsBoolean, IsInt, IsOptional, Matches, Max, Min, ValidateBy, buildMessage } from 'class-validator';
import { WechatAuthOptionsError } from '../errors/wechat-auth.errors.js';
import { parseRedisUrl } from './direct-redis.connection.js';

/**
 * The subset of a node-redis v5 client the library uses; a `createClient()` result satisfies it. Declared here so
 * that the library's types do not require `redis` to be installed (it is an optional peer dependency).
 */
export interface CodeExchangeRedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(
    args: ReadonlyArray<string | Buffer>,
    options?: { timeout?: number; abortSignal?: AbortSignal; typeMapping?: Record<string | number, unknown> },
  ): Promise<unknown>;
  duplicate(overrides?: Record<string, unknown>): unknown;
}

/** A code's life at WeChat: sharing an outcome for longer than that only extends a replay window. */
export const MAX_RESULT_TTL_MS = 300_000;

/** Defaults applied by {@link resolveCodeExchangeSettings}. */
export const CODE_EXCHANGE_DEFAULTS = {
  resultTtlMs: 60_000,
  keyPrefix: 'wxauth',
  redisCommandTimeoutMs: 500,
  redisFastPath: false,
  maxLocalEntries: 10_000,
  pollIntervalMs: 1_000,
  breakerFailureThreshold: 3,
  breakerProbeIntervalMs: 2_000,
  /** Used for the default lock lifetime when the HTTP timeout is not known. */
  httpTimeoutMs: 5_000,
} as const;

/** The lock must outlive the exchange work: the token call and, with snsapi_userinfo, the profile read. */
export function defaultLockTtlMs(httpTimeoutMs: number): number {
  return 2 * httpTimeoutMs + 1_000;
}

const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

function isRedisClientOrUrl(value: unknown): boolean {
  if (typeof value === 'string') {
    if (!/^rediss?:\/\/\S+$/.test(value)) return false;
    try {
      parseRedisUrl(value);
      return true;
    } catch {
      return false;
    }
  }
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<CodeExchangeRedisClient> & { nodeClient?: unknown };
  // A node-redis cluster client has another sendCommand signature; it is not supported (see the README).
  if (typeof candidate.nodeClient === 'function') return false;
  return typeof candidate.sendCommand === 'function' && typeof candidate.duplicate === 'function';
}

/** How duplicate callbacks of one authorization code are coordinated. Nested in the module's options. */
export class CodeExchangeOptions {
  /**
   * How long the first exchange's outcome (success or definitive error) is shared with duplicates, in ms.
   * Default 60 000; at most 300 000, the code's own life.
   */
  @IsOptional()
  @IsInt()
  @Min(1_000)
  @Max(MAX_RESULT_TTL_MS)
  resultTtlMs?: number;

  /**
   * Lifetime of the per-code lock, in ms. It must exceed the exchange work's budget: the exchange is aborted shortly
   * before it ends, and waiters take over after it if the holder died. Default: `2 * httpTimeoutMs + 1000`.
   */
  @IsOptional()
  @IsInt()
  @Min(500)
  @Max(MAX_RESULT_TTL_MS)
  lockTtlMs?: number;

  /**
   * Redis for cross-instance coordination: a `redis://` / `rediss://` URL (the library owns and closes its
   * connections; its command connection writes a command at once when idle, which shortens the round trips on the
   * login path) or a connected node-redis v5 client (the library duplicates it for pub/sub and never closes the
   * client itself). Unset: in-process coordination only, health `disabled`.
   */
  @IsOptional()
  @ValidateBy({
    name: 'isRedisClientOrUrl',
    validator: {
      validate: isRedisClientOrUrl,
      defaultMessage: buildMessage(
        (each) =>
          `${each}$property must be a node-redis v5 client (createClient(), not a cluster client) or a redis:// or ` +
          'rediss:// URL (redis://[[user]:password@]host[:port][/db], db a number)',
      ),
    },
  })
  redis?: CodeExchangeRedisClient | string;

  /** Prefix of every Redis key and channel. Letters, digits and `_ . : -` only (no braces: they are hash tags). */
  @IsOptional()
  @Matches(KEY_PREFIX_PATTERN, { message: 'keyPrefix must be 1-64 characters of letters, digits and _ . : -' })
  keyPrefix?: string;

  /** Timeout of each coordination command (Redis or cache), in ms. Default 500. */
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(10_000)
  redisCommandTimeoutMs?: number;

  /**
   * Use the Redis-native fast path: one Lua script reads the result, claims the lock or says wait, and one stores,
   * releases and wakes. Results then live in Redis directly instead of the cache-manager cache. Default `false`: the
   * portable cache-manager + lock path. Every instance must use the same setting.
   */
  @IsOptional()
  @IsBoolean()
  redisFastPath?: boolean;

  /** Most in-process entries (in-flight exchanges plus recent outcomes) kept at once. Default 10 000. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  maxLocalEntries?: number;

  /**
   * How often a duplicate waiting for another instance re-checks, in ms, in case the wake-up message was lost.
   * Waiters are normally woken by a push; this is only the fallback. Default 1000.
   */
  @IsOptional()
  @IsInt()
  @Min(20)
  @Max(60_000)
  pollIntervalMs?: number;

  /** Consecutive coordination failures that open the circuit breaker (degrade to in-process). Default 3. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000)
  breakerFailureThreshold?: number;

  /** While degraded, how often Redis is probed to recover, in ms. Default 2000. */
  @IsOptional()
  @IsInt()
  @Min(50)
  @Max(60_000)
  breakerProbeIntervalMs?: number;
}

/** What the service is constructed with: the options plus what the module derives from its own options. */
export interface CodeExchangeSettings extends CodeExchangeOptions {
  /** HMAC key material derived from the app secret; keys and seals depend on it. At least 16 characters. */
  keySecret: string;
  /** The WeChat HTTP timeout; only used for the default `lockTtlMs`. */
  httpTimeoutMs?: number;
}

/** {@link CodeExchangeSettings} with every default applied. */
export interface ResolvedCodeExchangeSettings {
  keySecret: string;
  resultTtlMs: number;
  lockTtlMs: number;
  redis?: CodeExchangeRedisClient | string;
  keyPrefix: string;
  redisCommandTimeoutMs: number;
  redisFastPath: boolean;
  maxLocalEntries: number;
  pollIntervalMs: number;
  breakerFailureThreshold: number;
  breakerProbeIntervalMs: number;
}

function checkInt(problems: string[], name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`codeExchange.${name} must be an integer between ${min} and ${max}`);
  }
}

/**
 * Applies defaults and checks the settings. The module validates the options class first; this repeats the checks
 * that matter for safety so that a service built by hand fails just as clearly. Throws {@link WechatAuthOptionsError}.
 */
export function resolveCodeExchangeSettings(settings: CodeExchangeSettings): ResolvedCodeExchangeSettings {
  const d = CODE_EXCHANGE_DEFAULTS;
  const resolved: ResolvedCodeExchangeSettings = {
    keySecret: settings.keySecret,
    resultTtlMs: settings.resultTtlMs ?? d.resultTtlMs,
    lockTtlMs: settings.lockTtlMs ?? defaultLockTtlMs(settings.httpTimeoutMs ?? d.httpTimeoutMs),
    redis: settings.redis,
    keyPrefix: settings.keyPrefix ?? d.keyPrefix,
    redisCommandTimeoutMs: settings.redisCommandTimeoutMs ?? d.redisCommandTimeoutMs,
    redisFastPath: settings.redisFastPath ?? d.redisFastPath,
    maxLocalEntries: settings.maxLocalEntries ?? d.maxLocalEntries,
    pollIntervalMs: settings.pollIntervalMs ?? d.pollIntervalMs,
    breakerFailureThreshold: settings.breakerFailureThreshold ?? d.breakerFailureThreshold,
    breakerProbeIntervalMs: settings.breakerProbeIntervalMs ?? d.breakerProbeIntervalMs,
  };
  const problems: string[] = [];
  if (typeof resolved.keySecret !== 'string' || resolved.keySecret.length < 16) {
    problems.push('codeExchange keySecret must be a string of at least 16 characters (derived from the app secret)');
  }
  checkInt(problems, 'resultTtlMs', resolved.resultTtlMs, 1_000, MAX_RESULT_TTL_MS);
  checkInt(problems, 'lockTtlMs', resolved.lockTtlMs, 500, MAX_RESULT_TTL_MS);
  checkInt(problems, 'redisCommandTimeoutMs', resolved.redisCommandTimeoutMs, 10, 10_000);
  checkInt(problems, 'maxLocalEntries', resolved.maxLocalEntries, 1, 10_000_000);
  checkInt(problems, 'pollIntervalMs', resolved.pollIntervalMs, 20, 60_000);
  checkInt(problems, 'breakerFailureThreshold', resolved.breakerFailureThreshold, 1, 1_000);
  checkInt(problems, 'breakerProbeIntervalMs', resolved.breakerProbeIntervalMs, 50, 60_000);
  if (!KEY_PREFIX_PATTERN.test(resolved.keyPrefix)) {
    problems.push('codeExchange.keyPrefix must be 1-64 characters of letters, digits and _ . : -');
  }
  if (resolved.redis !== undefined && !isRedisClientOrUrl(resolved.redis)) {
    problems.push(
      'codeExchange.redis must be a node-redis v5 client (createClient(), not a cluster client) or a redis:// or rediss:// URL',
    );
  }
  if (resolved.lockTtlMs < 2 * resolved.redisCommandTimeoutMs) {
    problems.push(
      'codeExchange.lockTtlMs must be at least 2 x redisCommandTimeoutMs, so a winner can store its result before its lock expires',
    );
  }
  if (problems.length > 0) throw new WechatAuthOptionsError(problems);
  return resolved;
}
