import { randomInt } from 'node:crypto';
import type { WechatApiClient } from 'nestjs-wechat-auth';
import { DroppedCallbackError, upstreamExchange, type BaselineResult, type BaselineStrategy } from './baseline.js';

/** Harness bookkeeping only (to label why a callback was dropped); not part of the modelled fix. */
const MAX_CONSUMED_REMEMBERED = 1_000;

/**
 * Baseline "drop the duplicate with a one-time state token", modelled on the blog post 再谈微信公众号网页授权的40163错误
 * (a Django app): the login view stores a fresh random token in ONE global variable and sends it as `state`; the
 * callback compares `state` with the global, swaps the global for a new random value on a match and exchanges, and
 * drops the request ("pass") when they differ. Modelled as the blog does it: one global per process, in memory.
 *
 * What it costs: the dropped request is the second one, which on Android is the one the user sees; and the single
 * global is overwritten by every other login started on the instance (and is unknown to the other instances).
 */
export class DropDuplicateBaseline implements BaselineStrategy {
  readonly id = 'drop-duplicate' as const;
  /** The blog's RADOM_STATE. */
  private globalToken = '';
  /** Tokens already consumed, to tell "dropped as a duplicate" from "dropped because the token was replaced". */
  private readonly consumed = new Set<string>();

  constructor(private readonly client: WechatApiClient) {}

  onLoginStart(state: string): void {
    this.globalToken = state;
  }

  async exchange(code: string, state: string): Promise<BaselineResult> {
    if (state !== this.globalToken) {
      throw new DroppedCallbackError(this.consumed.has(state) ? 'duplicate' : 'token-replaced');
    }
    // The blog: RADOM_STATE = str(random.randint(1000, 9999)).
    this.globalToken = String(randomInt(1000, 10_000));
    this.rememberConsumed(state);
    const token = await upstreamExchange(this.client, code);
    return { openid: token.openid };
  }

  /** One fixed-size global, whatever the load: nothing accumulates. */
  entries(): number {
    return 0;
  }

  private rememberConsumed(state: string): void {
    this.consumed.add(state);
    if (this.consumed.size > MAX_CONSUMED_REMEMBERED) {
      const oldest = this.consumed.values().next().value;
      if (oldest !== undefined) this.consumed.delete(oldest);
    }
  }
}
