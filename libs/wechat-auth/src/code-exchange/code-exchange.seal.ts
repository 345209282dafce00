import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { CodeReplayError, type SerializedWechatAuthError } from '../errors/wechat-auth.errors.js';
import type { ExchangeKey } from './code-exchange.keys.js';
import { RandomPool } from './random-pool.js';

/** What the first exchange of a code produced, as shared with its duplicates. */
export type ExchangeOutcome<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: SerializedWechatAuthError };

/** The envelope format written by {@link OutcomeSealer.seal}. */
const VERSION = 'v2';
/** Envelopes of earlier releases (HKDF key derivation): still opened, so that a rolling upgrade loses nothing. */
const LEGACY_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const LEGACY_HKDF_INFO = Buffer.from('nestjs-wechat-auth:code-exchange:seal:v1');

/**
 * Seals outcomes to the browser that started the login, with AES-256-GCM under a key that depends on the app's key
 * secret, the code's key id and the request's binding (a 256-bit secret derived from the browser's state-cookie
 * nonce); the key id is also the additional authenticated data. So a stored outcome is useless without both the key
 * secret and the binding: a Redis dump yields nothing, and a replayed code from another browser fails authentication.
 *
 * The key is HMAC-SHA256 under a sub-key reserved for sealing (domain separation from every other use of the key
 * secret) over the key id and the binding. The binding is already uniformly random, so HKDF's extract step adds
 * nothing; one HMAC per request is what the derivation costs. Envelopes of the previous format (`v1.`, HKDF) are
 * still opened.
 */
export class OutcomeSealer {
  private readonly sealKey: Buffer;
  private readonly legacySaltKey: Buffer;

  /**
   * @param keySecret the service's key secret
   * @param random where IVs come from
   */
  constructor(
    keySecret: string,
    private readonly random: RandomPool = new RandomPool(),
  ) {
    this.sealKey = createHmac('sha256', keySecret).update('nestjs-wechat-auth:seal-key:v2').digest();
    this.legacySaltKey = createHmac('sha256', keySecret).update('nestjs-wechat-auth:seal-salt:v1').digest();
  }

  /** The plaintext an outcome is sealed as. Throws a TypeError (without the value) when it is not JSON-serializable. */
  encode(outcome: ExchangeOutcome): string {
    let plaintext: string | undefined;
    try {
      plaintext = JSON.stringify(outcome.ok ? { v: outcome.value } : { e: outcome.error });
    } catch {
      throw new TypeError('The code exchange result must be JSON-serializable');
    }
    if (plaintext === undefined) throw new TypeError('The code exchange result must be JSON-serializable');
    return plaintext;
  }

  /** The outcome a plaintext from {@link encode} stands for: exactly what {@link open} returns for its envelope. */
  decode(plaintext: string): ExchangeOutcome {
    const parsed = JSON.parse(plaintext) as { v?: unknown; e?: SerializedWechatAuthError };
    return 'e' in parsed && parsed.e ? { ok: false, error: parsed.e } : { ok: true, value: parsed.v };
  }

  /** Encrypts an outcome. Throws a TypeError (without the value) when it is not JSON-serializable. */
  seal(outcome: ExchangeOutcome, binding: string, key: ExchangeKey): string {
    return this.sealEncoded(this.encode(outcome), binding, key);
  }

  /** Encrypts the plaintext of an outcome, as returned by {@link encode}. */
  sealEncoded(plaintext: string, binding: string, key: ExchangeKey): string {
    const iv = this.random.take(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.deriveKey(binding, key), iv);
    cipher.setAAD(Buffer.from(`${VERSION}:${key.id}`, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
  }

  /**
   * Decrypts an outcome sealed for `binding`. Any failure (another binding, another code, tampering, a malformed
   * value) is a {@link CodeReplayError}: the caller learns nothing about the stored outcome.
   */
  open(envelope: string, binding: string, key: ExchangeKey): ExchangeOutcome {
    if (typeof envelope !== 'string') throw new CodeReplayError();
    let version: string;
    if (envelope.startsWith(`${VERSION}.`)) version = VERSION;
    else if (envelope.startsWith(`${LEGACY_VERSION}.`)) version = LEGACY_VERSION;
    else throw new CodeReplayError();
    const raw = Buffer.from(envelope.slice(version.length + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new CodeReplayError();
    let plaintext: string;
    try {
      const secretKey = version === VERSION ? this.deriveKey(binding, key) : this.deriveLegacyKey(binding, key);
      const decipher = createDecipheriv('aes-256-gcm', secretKey, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${version}:${key.id}`, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      plaintext = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new CodeReplayError();
    }
    return this.decode(plaintext);
  }

  private deriveKey(binding: string, key: ExchangeKey): Buffer {
    // The key id is fixed-length base64url (no '.'), so "id.binding" is unambiguous.
    return createHmac('sha256', this.sealKey).update(`${key.id}.${binding}`, 'utf8').digest();
  }

  private deriveLegacyKey(binding: string, key: ExchangeKey): Buffer {
    const salt = createHmac('sha256', this.legacySaltKey).update(key.id).digest();
    return Buffer.from(hkdfSync('sha256', Buffer.from(binding, 'utf8'), salt, LEGACY_HKDF_INFO, 32));
  }
}
