import { createHmac } from 'node:crypto';

/** Where one code's coordination state lives. None of it contains or reveals the raw code. */
export interface ExchangeKey {
  /** HMAC-SHA256(keySecret, appId + ':' + code), base64url: a stable, non-reversible id of the code. */
  readonly id: string;
  /** A short prefix of `id`, for events and logs. */
  readonly logId: string;
  /** The sealed outcome. */
  readonly resultKey: string;
  /** The exchange lock. */
  readonly lockKey: string;
  /** The pub/sub channel that wakes waiters. */
  readonly channel: string;
}

/**
 * Derives per-code keys. The `{id}` hash tag puts the result, the lock (and the channel's hash) in one Redis
 * Cluster slot, so one Lua script may touch both keys.
 */
export class CodeExchangeKeys {
  private readonly hmacKey: Buffer;

  constructor(
    keySecret: string,
    private readonly prefix: string,
  ) {
    // A dedicated sub-key, so the same secret used for sealing never keys two different constructions.
    this.hmacKey = createHmac('sha256', keySecret).update('nestjs-wechat-auth:code-key:v1').digest();
  }

  derive(appId: string, code: string): ExchangeKey {
    const id = createHmac('sha256', this.hmacKey).update(`${appId}:${code}`).digest('base64url');
    const base = `${this.prefix}:{${id}}`;
    return {
      id,
      logId: id.slice(0, 12),
      resultKey: `${base}:result`,
      lockKey: `${base}:lock`,
      channel: `${base}:done`,
    };
  }
}
