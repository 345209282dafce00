import type { WechatApiClient } from 'nestjs-wechat-auth';
import { upstreamExchange, type BaselineResult, type BaselineStrategy } from './baseline.js';

/**
 * Baseline "naive": what passport-oauth2-style strategies do. The state is verified (by the controller), then every
 * callback exchanges its code. The first hit of a duplicate pair spends the code; the second, the one the user sees,
 * gets 40163.
 */
export class NaiveBaseline implements BaselineStrategy {
  readonly id = 'naive' as const;

  constructor(private readonly client: WechatApiClient) {}

  async exchange(code: string): Promise<BaselineResult> {
    const token = await upstreamExchange(this.client, code);
    return { openid: token.openid };
  }

  entries(): number {
    return 0;
  }
}
