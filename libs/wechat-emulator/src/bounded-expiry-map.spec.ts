import { describe, expect, it } from '@jest/globals';
import { BoundedExpiryMap } from './bounded-expiry-map.js';

describe('BoundedExpiryMap', () => {
  it('forgets an entry once its retention has passed', () => {
    const map = new BoundedExpiryMap<string, number>(10);
    map.set('a', 1, 1000, 0);
    expect(map.get('a', 999)).toBe(1);
    expect(map.get('a', 1000)).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it('prunes expired entries from the oldest end on every write', () => {
    const map = new BoundedExpiryMap<number, number>(1000);
    for (let i = 0; i < 100; i++) map.set(i, i, i * 10 + 100, i * 10);
    // At t=1000 every entry with forgetAt <= 1000 (i <= 90) goes once something is written.
    map.set(-1, -1, 5000, 1000);
    expect([...map.values(1000)].map(([k]) => k)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, -1]);
    expect(map.size).toBe(10);
  });

  it('never holds more than maxEntries, dropping the oldest live entries', () => {
    const map = new BoundedExpiryMap<number, string>(5);
    for (let i = 0; i < 50; i++) map.set(i, `v${i}`, Number.POSITIVE_INFINITY, 0);
    expect(map.size).toBe(5);
    expect(map.get(44, 0)).toBeUndefined();
    expect([...map.values(0)].map(([k]) => k)).toEqual([45, 46, 47, 48, 49]);
  });

  it('moves a re-set key to the newest end', () => {
    const map = new BoundedExpiryMap<string, number>(2);
    map.set('a', 1, 100, 0);
    map.set('b', 2, 100, 0);
    map.set('a', 3, 100, 0);
    map.set('c', 4, 100, 0);
    expect(map.get('b', 0)).toBeUndefined();
    expect(map.get('a', 0)).toBe(3);
  });

  it('rejects a non-positive bound', () => {
    expect(() => new BoundedExpiryMap(0)).toThrow(RangeError);
  });
});
