import { hkdfSync } from 'node:crypto';

/** Keys derived from the app's secrets. Kept out of the options object; never logged. */
export interface WechatAuthKeys {
  /** Signs the state cookie and derives `state` and the browser binding. */
  readonly stateKey: Buffer;
  /** The code-exchange service's key secret (HMAC of cache keys, sealing of shared results). */
  readonly codeExchangeKey: Buffer;
}

const SALT = 'nestjs-wechat-auth/v1';

function derive(secret: string, label: string, appId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, SALT, `${label}|${appId}`, 32));
}

/**
 * Derives the library's keys with HKDF-SHA256. Every instance of an app shares its AppSecret, so every instance
 * derives the same keys and verifies every other's state cookies with no extra configuration. Distinct labels keep
 * the state key and the code-exchange key independent: knowing one says nothing about the other.
 */
export function deriveWechatAuthKeys(params: { appId: string; appSecret: string; stateSecret?: string }): WechatAuthKeys {
  const keys: WechatAuthKeys = {
    stateKey: derive(params.stateSecret ?? params.appSecret, 'state-key', params.appId),
    codeExchangeKey: derive(params.appSecret, 'code-exchange-key', params.appId),
  };
  // Non-enumerable so that an accidental log or JSON.stringify of the holder prints nothing secret.
  return Object.freeze(
    Object.defineProperties({} as WechatAuthKeys, {
      stateKey: { value: keys.stateKey, enumerable: false },
      codeExchangeKey: { value: keys.codeExchangeKey, enumerable: false },
    }),
  );
}
