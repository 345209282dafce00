import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isSafeReturnTo, pickReturnTo } from './return-to.js';

describe('isSafeReturnTo', () => {
  it.each(['/', '/orders', '/a/b?c=d&e=%2F%2F#frag', '/%E5%95%86%E5%93%81', '/.//x'])('accepts the same-site path %j', (path) => {
    expect(isSafeReturnTo(path)).toBe(true);
  });

  it.each([
    '',
    'orders',
    '//evil.example',
    '/\\evil.example',
    '/a\\b',
    'https://evil.example/',
    'javascript:alert(1)',
    '/a b',
    '/a\tb',
    '/a\nLocation: x',
    '/商品',
    `/${'a'.repeat(512)}`,
  ])('refuses %j', (path) => {
    expect(isSafeReturnTo(path)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 1, ['/a'], { a: 1 }]) expect(isSafeReturnTo(value)).toBe(false);
  });

  it('never lets an accepted value leave the origin', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64, unit: 'binary' }), (tail) => {
        for (const candidate of [tail, `/${tail}`, `//${tail}`, `/\\${tail}`]) {
          if (!isSafeReturnTo(candidate)) continue;
          expect(new URL(candidate, 'https://site.example/base/').origin).toBe('https://site.example');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('pickReturnTo', () => {
  it('takes the first safe candidate, else the fallback', () => {
    expect(pickReturnTo('/home', undefined, '//evil', '/ok', '/later')).toBe('/ok');
    expect(pickReturnTo('/home', ['/array'], 'https://x')).toBe('/home');
  });
});
