import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { CodeReplayError, WechatApiError } from '../errors/wechat-auth.errors.js';
import { CodeExchangeKeys } from './code-exchange.keys.js';
import { OutcomeSealer } from './code-exchange.seal.js';

const SECRET = 'seal-spec-secret-0123456789abcdef';
const keys = new CodeExchangeKeys(SECRET, 'wxauth');
const sealer = new OutcomeSealer(SECRET);
const key = keys.derive('wxapp', 'CODE123');
const value = { openid: 'o-123', accessToken: 'AT-secret', nickname: '微信用户 🐼' };

describe('CodeExchangeKeys', () => {
  it('derives hash-tagged keys from an HMAC of appId and code, never the code itself', () => {
    expect(key.resultKey).toBe(`wxauth:{${key.id}}:result`);
    expect(key.lockKey).toBe(`wxauth:{${key.id}}:lock`);
    expect(key.channel).toBe(`wxauth:{${key.id}}:done`);
    expect(key.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(key)).not.toContain('CODE123');
    expect(keys.derive('wxapp', 'CODE123').id).toBe(key.id);
    expect(keys.derive('wxother', 'CODE123').id).not.toBe(key.id);
    expect(new CodeExchangeKeys('another-secret-0123456789abcdef', 'wxauth').derive('wxapp', 'CODE123').id).not.toBe(key.id);
  });
});

describe('OutcomeSealer', () => {
  it('round-trips a success for the same binding, and the envelope reveals nothing', () => {
    const envelope = sealer.seal({ ok: true, value }, 'binding-A', key);
    expect(envelope).toMatch(/^v2\./);
    for (const secret of ['o-123', 'AT-secret', 'binding-A', 'CODE123']) expect(envelope).not.toContain(secret);
    expect(sealer.open(envelope, 'binding-A', key)).toEqual({ ok: true, value });
  });

  it('round-trips a serialized error', () => {
    const error = new WechatApiError(40163, 'code been used', '/sns/oauth2/access_token', 'rid-9');
    const envelope = sealer.seal({ ok: false, error: error.toJSON() }, 'binding-A', key);
    expect(sealer.open(envelope, 'binding-A', key)).toEqual({ ok: false, error: error.toJSON() });
  });

  it('refuses another binding, another code, another secret, tampering and garbage with CodeReplayError', () => {
    const envelope = sealer.seal({ ok: true, value }, 'binding-A', key);
    expect(() => sealer.open(envelope, 'binding-B', key)).toThrow(CodeReplayError);
    expect(() => sealer.open(envelope, 'binding-A', keys.derive('wxapp', 'CODE124'))).toThrow(CodeReplayError);
    expect(() => new OutcomeSealer('other-secret-0123456789abcdef0').open(envelope, 'binding-A', key)).toThrow(CodeReplayError);
    const raw = Buffer.from(envelope.slice(3), 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(() => sealer.open(`v2.${raw.toString('base64url')}`, 'binding-A', key)).toThrow(CodeReplayError);
    // The version is authenticated too: the same bytes under the legacy label do not open.
    expect(() => sealer.open(`v1.${envelope.slice(3)}`, 'binding-A', key)).toThrow(CodeReplayError);
    expect(() => sealer.open('{"v":1}', 'binding-A', key)).toThrow(CodeReplayError);
    expect(() => sealer.open('v2.', 'binding-A', key)).toThrow(CodeReplayError);
    expect(() => sealer.open('v3.' + envelope.slice(3), 'binding-A', key)).toThrow(CodeReplayError);
  });

  it('uses a fresh IV per seal', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 1_000; i++) ivs.add(Buffer.from(sealer.seal({ ok: true, value }, 'b', key).slice(3), 'base64url').subarray(0, 12).toString('hex'));
    expect(ivs.size).toBe(1_000);
  });

  it('encodes an outcome exactly as a duplicate opens it (the winner skips the decryption)', () => {
    const withUndefined = { openid: 'o-1', unionid: undefined, at: new Date(0) };
    const plaintext = sealer.encode({ ok: true, value: withUndefined });
    const envelope = sealer.sealEncoded(plaintext, 'binding-A', key);
    expect(sealer.decode(plaintext)).toEqual(sealer.open(envelope, 'binding-A', key));
    expect(sealer.decode(plaintext)).toStrictEqual({ ok: true, value: { openid: 'o-1', at: new Date(0).toJSON() } });
  });

  it('still opens envelopes of the previous format (v1, HKDF), so a rolling upgrade loses no shared outcome', () => {
    // The v1 construction, as the previous release sealed it.
    const saltKey = createHmac('sha256', SECRET).update('nestjs-wechat-auth:seal-salt:v1').digest();
    const salt = createHmac('sha256', saltKey).update(key.id).digest();
    const aesKey = Buffer.from(hkdfSync('sha256', Buffer.from('binding-A'), salt, Buffer.from('nestjs-wechat-auth:code-exchange:seal:v1'), 32));
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
    cipher.setAAD(Buffer.from(`v1:${key.id}`));
    const body = Buffer.concat([cipher.update(JSON.stringify({ v: value }), 'utf8'), cipher.final()]);
    const legacy = `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    expect(sealer.open(legacy, 'binding-A', key)).toEqual({ ok: true, value });
    expect(() => sealer.open(legacy, 'binding-B', key)).toThrow(CodeReplayError);
  });

  it('rejects a value that is not JSON-serializable without echoing it', () => {
    const cyclic: Record<string, unknown> = { token: 'AT-secret' };
    cyclic.self = cyclic;
    expect(() => sealer.seal({ ok: true, value: cyclic }, 'b', key)).toThrow(/JSON-serializable/);
    expect(() => sealer.seal({ ok: true, value: 10n }, 'b', key)).toThrow(TypeError);
  });
});
