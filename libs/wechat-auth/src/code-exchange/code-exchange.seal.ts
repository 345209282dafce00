import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { CodeReplayError, type SerializedWechatAuthError } from '../errors/wechat-auth.errors.js';
import type { ExchangeKey } from './code-exchange.keys.js';

/** What the first exchange of a code produced, as shared with its duplicates. */
export type ExchangeOutcome<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: SerializedWechatAuthError };

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_INFO = Buffer.from('nestjs-wechat-auth:code-exchange:seal:v1');

/**
 * Seals outcomes to the browser that started the login. The AES-256-GCM key is derived (HKDF-SHA256) from the
 * request's binding (the state-cookie nonce), salted with a secret-keyed hash of the code's key id, and the key id is
 * the additional authenticated data. So a stored outcome is useless without both the app's key secret and the
 * binding: a Redis dump yields nothing, and a replayed code from another browser fails authentication.
 */
export class OutcomeSealer {
  private readonly saltKey: Buffer;

  constructor(keySecret: string) {
    this.saltKey = createHmac('sha256', keySecret).update('nestjs-wechat-auth:seal-salt:v1').digest();
  }

  /** Encrypts an outcome. Throws a TypeError (without the value) when it is not JSON-serializable. */
  seal(outcome: ExchangeOutcome, binding: string, key: ExchangeKey): string {
    let plaintext: string;
    try {
      plaintext = JSON.stringify(outcome.ok ? { v: outcome.value } : { e: outcome.error });
    } catch {
      throw new TypeError('The code exchange result must be JSON-serializable');
    }
    if (plaintext === undefined) throw new TypeError('The code exchange result must be JSON-serializable');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.deriveKey(binding, key), iv);
    cipher.setAAD(this.aad(key));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
  }

  /**
   * Decrypts an outcome sealed for `binding`. Any failure (another binding, another code, tampering, a malformed
   * value) is a {@link CodeReplayError}: the caller learns nothing about the stored outcome.
   */
  open(envelope: string, binding: string, key: ExchangeKey): ExchangeOutcome {
    if (typeof envelope !== 'string' || !envelope.startsWith(`${VERSION}.`)) throw new CodeReplayError();
    const raw = Buffer.from(envelope.slice(VERSION.length + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new CodeReplayError();
    let plaintext: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.deriveKey(binding, key), raw.subarray(0, IV_BYTES));
      decipher.setAAD(this.aad(key));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      plaintext = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new CodeReplayError();
    }
    const parsed = JSON.parse(plaintext) as { v?: unknown; e?: SerializedWechatAuthError };
    return 'e' in parsed && parsed.e ? { ok: false, error: parsed.e } : { ok: true, value: parsed.v };
  }

  private deriveKey(binding: string, key: ExchangeKey): Buffer {
    const salt = createHmac('sha256', this.saltKey).update(key.id).digest();
    return Buffer.from(hkdfSync('sha256', Buffer.from(binding, 'utf8'), salt, HKDF_INFO, 32));
  }

  private aad(key: ExchangeKey): Buffer {
    return Buffer.from(`${VERSION}:${key.id}`, 'utf8');
  }
}
