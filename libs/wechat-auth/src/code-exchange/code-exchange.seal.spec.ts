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
    expect(envelope).toMatch(/^v1\./);
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
    expect(() => sealer.open(`v1.${raw.toString('base64url')}`, 'binding-A', key)).toThrow(CodeReplayError);
    expect(() => sealer.open('{"v":1}', 'binding-A', key)).toThrow(CodeReplayError);
    expect(() => sealer.open('v1.', 'binding-A', key)).toThrow(CodeReplayError);
  });

  it('uses a fresh IV per seal', () => {
    expect(sealer.seal({ ok: true, value }, 'b', key)).not.toBe(sealer.seal({ ok: true, value }, 'b', key));
  });

  it('rejects a value that is not JSON-serializable without echoing it', () => {
    const cyclic: Record<string, unknown> = { token: 'AT-secret' };
    cyclic.self = cyclic;
    expect(() => sealer.seal({ ok: true, value: cyclic }, 'b', key)).toThrow(/JSON-serializable/);
    expect(() => sealer.seal({ ok: true, value: 10n }, 'b', key)).toThrow(TypeError);
  });
});
