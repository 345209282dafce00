import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { SessionCodec } from './session-codec.js';

const SECRET = 'a-test-secret-of-at-least-thirty-two-characters';
const subject = { openid: 'oAbc123', unionid: 'oUnion456', nickname: 'Zoë "<b>测试</b>" & Co 🚀', appId: 'wx0123456789abcdef' };

function codecAt(nowMs: number, overrides: Partial<ConstructorParameters<typeof SessionCodec>[0]> = {}): SessionCodec {
  return new SessionCodec({ secret: SECRET, appId: subject.appId, maxAgeSeconds: 3600, now: () => nowMs, ...overrides });
}

describe('SessionCodec', () => {
  it('round-trips a session, Unicode nickname included', () => {
    const codec = codecAt(1_700_000_000_000);
    const { token, session } = codec.encode(subject);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(codec.decode(token)).toEqual(session);
    expect(session).toMatchObject({ ...subject, iat: 1_700_000_000, exp: 1_700_003_600 });
  });

  it('is accepted by another instance with the same secret and refused with another secret', () => {
    const { token } = codecAt(1_700_000_000_000).encode(subject);
    expect(codecAt(1_700_000_000_000).decode(token)?.openid).toBe('oAbc123');
    expect(codecAt(1_700_000_000_000, { secret: `${SECRET}!` }).decode(token)).toBeUndefined();
  });

  it('refuses a session of another app, an expired one and one issued in the future', () => {
    const now = 1_700_000_000_000;
    const { token } = codecAt(now).encode(subject);
    expect(codecAt(now, { appId: 'wxffffffffffffffff' }).decode(token)).toBeUndefined();
    expect(codecAt(now + 3600_000).decode(token)).toBeUndefined();
    expect(codecAt(now + 3599_000).decode(token)).toBeDefined();
    expect(codecAt(now - 120_000).decode(token)).toBeUndefined();
  });

  it('refuses any change to the payload or the signature, and malformed tokens', () => {
    const codec = codecAt(1_700_000_000_000);
    const { token } = codec.encode(subject);
    const [version, body, signature] = token.split('.') as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), openid: 'oSomeoneElse' }),
    ).toString('base64url');
    for (const bad of [
      `${version}.${forged}.${signature}`,
      `${version}.${body}.${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`,
      `v2.${body}.${signature}`,
      `${version}.${body}`,
      `${token}.x`,
      '',
      undefined,
      'v1.!!!.sig',
      `${version}.${'A'.repeat(5000)}.${signature}`,
    ]) {
      expect(codec.decode(bad)).toBeUndefined();
    }
  });

  it('refuses a correctly signed payload of the wrong shape', () => {
    const codec = codecAt(1_700_000_000_000);
    // Sign arbitrary payloads with the codec's own key derivation, as a future version (or a bug) might write them.
    const { token } = codec.encode(subject);
    const key = (codec as unknown as { key: Buffer }).key;
    const sign = (payload: unknown): string => {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `v1.${body}.${createHmac('sha256', key).update(`v1.${body}`).digest('base64url')}`;
    };
    expect(codec.decode(sign(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())))).toBeDefined();
    expect(codec.decode(sign({ appId: subject.appId, iat: 1_700_000_000, exp: 1_700_003_600 }))).toBeUndefined();
    expect(codec.decode(sign({ openid: 42, appId: subject.appId, iat: 1_700_000_000, exp: 1_700_003_600 }))).toBeUndefined();
    expect(codec.decode(sign({ openid: 'o1', appId: subject.appId, iat: '1', exp: 1_700_003_600 }))).toBeUndefined();
    expect(codec.decode(sign([1, 2]))).toBeUndefined();
  });

  it('drops an oversized avatar URL rather than overflowing the cookie', () => {
    const codec = codecAt(1_700_000_000_000);
    const { token, session } = codec.encode({ ...subject, headimgurl: `https://thirdwx.qlogo.cn/${'a'.repeat(5000)}` });
    expect(session.headimgurl).toBeUndefined();
    expect(token.length).toBeLessThan(4000);
    expect(codec.decode(token)?.openid).toBe('oAbc123');
  });
});
