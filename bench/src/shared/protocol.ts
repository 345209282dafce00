import { performance } from 'node:perf_hooks';
import type { StrategyId } from './strategies.js';

/**
 * A wall-clock timestamp in milliseconds with sub-millisecond resolution, comparable across the processes of one
 * machine (each process's monotonic clock anchored at its own `timeOrigin`). The orchestrator measures the residual
 * offset of each instance and reports it.
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** How a callback hit got its login result (or failed), as seen by the instance that served it. */
export type HitRole =
  /** Ran the upstream exchange, and it succeeded. */
  | 'winner'
  /** Ran the upstream exchange, and WeChat refused the code (40163 / 40029): the code was already spent. */
  | 'upstream-refused'
  /** Got the result without calling WeChat (joined, waited, or read a stored result). */
  | 'shared'
  /** Dropped without an exchange (the state-token baseline). */
  | 'dropped'
  /** Failed for another reason (state, timeout, lock not acquired, ...). */
  | 'failed';

/** One callback hit, recorded by the instance that served it. Times are {@link preciseNow} values. */
export interface HitRecord {
  strategy: StrategyId;
  instance: string;
  /** From the hit header: browser index, hit index, whether it is the browser's last (visible) hit. */
  browser: number;
  hit: number;
  last: boolean;
  /** The code, so the orchestrator can group hits (bench codes only; nothing here is a real secret). */
  code: string;
  arrivedAt: number;
  /** When the strategy's exchange step started and ended (after state verification). */
  exchangeStartedAt?: number;
  exchangeEndedAt?: number;
  /** Duration of this hit's own upstream call, if it made one. */
  upstreamMs?: number;
  role: HitRole;
  ok: boolean;
  openid?: string;
  /** Why it failed: errcode, HTTP status or error name. */
  failure?: string;
  /** The client went away before the answer was written. */
  aborted: boolean;
  /** Library only: what CodeExchangeService reported for this hit (winner, local-join, remote-wait, late-hit, ...). */
  libraryEvent?: string;
  /** Library only: the winner event's own timings. */
  libraryDurationMs?: number;
  libraryExchangeMs?: number;
  /** Library only: how a remote waiter was woken. */
  wokenBy?: string;
  /** With `--profile`: milliseconds spent in each internal step of the library for this hit (diagnostics only). */
  profile?: Record<string, number>;
}

/** Memory and in-process state of one instance (after a forced GC). */
export interface InstanceStats {
  instance: string;
  heapUsed: number;
  rss: number;
  /** In-process coordination entries per strategy (the library's table, the dictionary, ...). */
  entries: Partial<Record<StrategyId, number>>;
  library?: Partial<Record<StrategyId, Record<string, unknown>>>;
  /** process.cpuUsage() of the instance, microseconds since it started. */
  cpuUserMicros: number;
  cpuSystemMicros: number;
  /** Redis PING round trips measured from inside the instance since the last stats call (ms), when probing. */
  redisRoundTrips: number[];
  /** Garbage-collection pauses of the instance since the last stats call (ms), when probing; forced ones excluded. */
  gcPauses: number[];
}

/** Messages an instance or the emulator sends its parent over IPC. */
export type ChildMessage = { type: 'ready'; origin: string; name: string } | { type: 'fatal'; message: string };
