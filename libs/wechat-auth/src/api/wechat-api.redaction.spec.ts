import { describe, expect, it } from '@jest/globals';
import { cleanErrmsg, redactSecrets, splitErrmsg } from './wechat-api.redaction.js';

describe('splitErrmsg', () => {
  it.each([
    ['invalid code, rid: 6573f1a2-1b2c3d4e-5f6a7b8c', 'invalid code', '6573f1a2-1b2c3d4e-5f6a7b8c'],
    ['code been used, hints: [ req_id: VJFa2a0797ns49 ]', 'code been used', 'VJFa2a0797ns49'],
    ['invalid appsecret, view more at http://t.cn/RAEkdVq, hints: [ req_id: 3fc6a3a1 ]', 'invalid appsecret, view more at http://t.cn/RAEkdVq', '3fc6a3a1'],
    ['api unauthorized rid: 64a1b2c3-00000000-11111111', 'api unauthorized', '64a1b2c3-00000000-11111111'],
    ['system error', 'system error', undefined],
    ['', '', undefined],
  ])('splits %j', (raw, errmsg, rid) => {
    expect(splitErrmsg(raw)).toEqual({ errmsg, rid });
  });
});

describe('redactSecrets', () => {
  it('redacts secret-bearing parameters but not errcode', () => {
    expect(redactSecrets('errcode: 40029 appid=wx1&secret=s3cr3t&code=abc&grant_type=x')).toBe(
      'errcode: 40029 appid=wx1&secret=[redacted]&code=[redacted]&grant_type=x',
    );
    expect(redactSecrets('access_token: "tok123", refresh_token=rt, appsecret = zz')).toBe(
      'access_token: [redacted], refresh_token=[redacted], appsecret = [redacted]',
    );
  });

  it('redacts the literal values that were sent, wherever they appear', () => {
    expect(redactSecrets('bad thing ABCDEFGH123 happened (ABCDEFGH123)', ['ABCDEFGH123'])).toBe(
      'bad thing [redacted] happened ([redacted])',
    );
    expect(redactSecrets('a.b*c+d?e(f) here', ['a.b*c+d?e(f)'])).toBe('[redacted] here');
  });

  it('leaves ordinary words alone for very short values', () => {
    expect(redactSecrets('invalid code', ['co'])).toBe('invalid code');
  });
});

describe('cleanErrmsg', () => {
  it('bounds the length, strips control characters, and redacts before truncating', () => {
    const secret = 'S'.repeat(40);
    const { errmsg } = cleanErrmsg(`${'x'.repeat(190)}${secret}\n`, [secret]);
    expect(errmsg).not.toContain('SSSSSS');
    expect(errmsg.length).toBeLessThanOrEqual(201);
    expect(errmsg).not.toMatch(/\n/);
  });

  it('accepts a missing or non-string errmsg', () => {
    expect(cleanErrmsg(undefined, [])).toEqual({ errmsg: '', rid: undefined });
    expect(cleanErrmsg(42, [])).toEqual({ errmsg: '42', rid: undefined });
  });
});
