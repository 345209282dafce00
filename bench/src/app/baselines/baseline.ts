import { performance } from 'node:perf_hooks';
import type { WechatAccessToken, WechatApiClient } from 'nestjs-wechat-auth';
import { WechatApiError } from 'nestjs-wechat-auth';
import type { StrategyId } from '../../shared/strategies.js';
import { currentHit } from '../hit-recorder.js';

/** A baseline's answer to "who is this callback's user?". */
export interface BaselineResult {
  openid: string;
}

/** A baseline refused the callback without exchanging it (the state-token fix). */
export class DroppedCallbackError extends Error {
  constructor(readonly reason: 'duplicate' | 'token-replaced') {
    super(`callback dropped (${reason})`);
  }
}

/** A polling waiter gave up before getting the lock. */
export class LockNotAcquiredError extends Error {
  constructor(readonly attempts: number) {
    super(`lock not acquired after ${attempts} attempts`);
  }
}

/** How the baselines coordinate one callback's code exchange. */
export interface BaselineStrategy {
  readonly id: StrategyId;
  /** Called when a login starts on this instance (with the state sent to WeChat). */
  onLoginStart?(state: string): void;
  /** Resolves the callback's user, or throws. */
  exchange(code: string, state: string): Promise<BaselineResult>;
  /** In-process entries this baseline holds (its memory footprint in entries). */
  entries(): number;
  close?(): Promise<void>;
}

/** Is this WeChat's "the code is spent" answer? */
export function isCodeUsed(error: unknown): boolean {
  return error instanceof WechatApiError && (error.errcode === 40163 || error.errcode === 40029);
}

/**
 * The bare upstream exchange, the same WechatApiClient call the library makes, timed and attributed to the hit being
 * served (role `winner` or `upstream-refused`).
 */
export async function upstreamExchange(client: WechatApiClient, code: string): Promise<WechatAccessToken> {
  const record = currentHit.getStore();
  const started = performance.now();
  try {
    const token = await client.exchangeCode(code);
    if (record) {
      record.upstreamMs = performance.now() - started;
      record.role = 'winner';
    }
    return token;
  } catch (error) {
    if (record) {
      record.upstreamMs = performance.now() - started;
      record.role = isCodeUsed(error) ? 'upstream-refused' : 'failed';
    }
    throw error;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
