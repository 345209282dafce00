import type { WechatErrorCategory, WechatTransportFailure } from '../errors/wechat-auth.errors.js';
import type { CodeExchangeHealth } from './code-exchange.types.js';

/** How a duplicate's outcome reached it, for `replay-rejected`. */
export type CodeExchangeLayer = 'winner' | 'local-join' | 'remote-wait' | 'late-hit';

/**
 * What the service observed, with timings in ms. `keyId` is a short prefix of the code's keyed hash (never the code):
 * enough to correlate the events of one login, useless to an attacker. Events carry no binding and no result.
 */
export type CodeExchangeEvent =
  /** This request ran the upstream exchange. `takeover` when it took over from a holder that died or gave up. */
  | {
      type: 'winner';
      at: number;
      keyId: string;
      durationMs: number;
      exchangeMs: number;
      outcome: 'success' | 'error';
      takeover: boolean;
      coordination: 'shared' | 'in-process';
    }
  /** A duplicate in the same process joined the in-flight exchange (no Redis touched). */
  | { type: 'local-join'; at: number; keyId: string; durationMs: number }
  /** A duplicate waited for an exchange running in another instance. */
  | { type: 'remote-wait'; at: number; keyId: string; durationMs: number; wokenBy: 'push' | 'poll' | 'recheck' }
  /** A duplicate arrived after the exchange finished and was served its stored outcome. */
  | { type: 'late-hit'; at: number; keyId: string; durationMs: number; source: 'local' | 'shared' }
  /** A waiter found the lock free without a result (holder died or gave up) and took it over. */
  | { type: 'takeover'; at: number; keyId: string; waitedMs: number }
  /** The upstream exchange failed with a shareable error; the same error is given to every duplicate. */
  | {
      type: 'upstream-error';
      at: number;
      keyId: string;
      errcode?: number;
      failure?: WechatTransportFailure;
      category: WechatErrorCategory;
    }
  /** A request with another binding (another browser) was refused the shared outcome. */
  | { type: 'replay-rejected'; at: number; keyId: string; layer: CodeExchangeLayer }
  /** A waiter gave up at its deadline. */
  | { type: 'wait-timeout'; at: number; keyId: string; waitedMs: number }
  /** The exchange callback outlived its lock; its outcome is dropped and other instances may take over. */
  | { type: 'abandoned'; at: number; keyId: string; lockTtlMs: number }
  /** Redis became unreachable or too slow: coordination degraded to in-process. */
  | { type: 'degraded'; at: number; reason: string }
  /** Redis is back; shared coordination resumed. */
  | { type: 'recovered'; at: number; downMs: number };

/** Counters since start. */
export interface CodeExchangeStats {
  health: CodeExchangeHealth;
  /** `fast-path` (Redis Lua), `portable` (cache-manager + Redis lock) or `in-process` (no Redis configured). */
  mode: 'fast-path' | 'portable' | 'in-process';
  winners: number;
  takeovers: number;
  localJoins: number;
  remoteWaits: number;
  lateHits: number;
  replaysRejected: number;
  waitTimeouts: number;
  abandoned: number;
  /** Coordination commands that failed or timed out. */
  coordinationFailures: number;
  /** Times the circuit breaker opened. */
  degradations: number;
  /** When the current degradation began (epoch ms); absent when not degraded. */
  degradedSince?: number;
  /** In-process entries dropped early because `maxLocalEntries` was reached. */
  localEvictions: number;
  /** Shared WeChat API errors by errcode. */
  upstreamErrorsByErrcode: Record<string, number>;
  /** Shared transport errors by failure. */
  transportErrorsByFailure: Record<string, number>;
  /** Exchanges currently coordinated by this process (one per code). */
  inFlight: number;
  /** In-process entries (in flight plus recent outcomes). */
  localEntries: number;
}
