import type { WechatAccessToken, WechatApiClient } from 'nestjs-wechat-auth';
import { isCodeUsed, upstreamExchange, type BaselineResult, type BaselineStrategy } from './baseline.js';

/**
 * Baseline "in-process dictionary behind a lock", modelled on the Senparc.Weixin (C#) fix in the article
 * "OAuth出现40029(invalid code)错误" (solution four):
 *
 *   lock { isSecondRequest = dict.ContainsKey(code) }
 *   if (!isSecondRequest) lock { dict[code] = null } else lock { result = dict[code] }
 *   result = result ?? OAuthApi.GetAccessToken(code)        // outside the lock
 *   lock { dict[code] = result }
 *   catch errcode 40029: lock { result = dict[code] }       // may still be null
 *
 * Each `lock { }` section is synchronous here, so Node's single thread gives the same atomicity as the C# monitor;
 * the flaw is the check-then-act across the exchange: a duplicate arriving while the first exchange is in flight
 * reads null and calls WeChat again. The dictionary is static (per process) and nothing ever removes an entry, as in
 * the article (its note 2 leaves "cache cleanup" to the reader). The article catches 40029; WeChat also answers
 * 40163 for a used code, so both are treated alike here (the charitable reading).
 */
export class DictionaryBaseline implements BaselineStrategy {
  readonly id = 'dictionary' as const;
  /** OAuthCodeCollection: unbounded and never expiring, as modelled. */
  private readonly collection = new Map<string, WechatAccessToken | null>();

  constructor(private readonly client: WechatApiClient) {}

  async exchange(code: string): Promise<BaselineResult> {
    let result: WechatAccessToken | null = null;
    const isSecondRequest = this.collection.has(code);
    if (!isSecondRequest) this.collection.set(code, null);
    else result = this.collection.get(code) ?? null;
    try {
      result = result ?? (await upstreamExchange(this.client, code));
      this.collection.set(code, result);
    } catch (error) {
      if (!isCodeUsed(error)) throw error;
      result = this.collection.get(code) ?? null;
      if (!result) throw error;
    }
    return { openid: result.openid };
  }

  entries(): number {
    return this.collection.size;
  }
}
