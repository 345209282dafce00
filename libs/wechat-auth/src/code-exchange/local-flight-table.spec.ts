import { describe, expect, it } from '@jest/globals';
import { LocalFlightTable, type FlightEntry } from './local-flight-table.js';
import { MemoryExchangeResultStore } from './memory-exchange-result-store.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function flightOf(envelope: string): FlightEntry {
  return { kind: 'flight', promise: Promise.resolve({ envelope }) };
}

describe('LocalFlightTable', () => {
  it('tracks a flight, then its outcome until the TTL', () => {
    const time = clock();
    const table = new LocalFlightTable(10, 1_000, time.now);
    const flight = flightOf('v1.x');
    table.startFlight('k', flight);
    expect(table.get('k')).toBe(flight);
    expect(table.inFlight).toBe(1);
    table.settle('k', flight, 'v1.x');
    expect(table.inFlight).toBe(0);
    expect(table.get('k')).toMatchObject({ kind: 'settled', envelope: 'v1.x' });
    time.advance(1_000);
    expect(table.get('k')).toBeUndefined();
    expect(table.size).toBe(0);
    table.clear();
  });

  it('drops a failed flight, and ignores the outcome of a flight it no longer tracks', () => {
    const table = new LocalFlightTable(1, 1_000);
    const failed = flightOf('unused');
    table.startFlight('a', failed);
    table.drop('a', failed);
    expect(table.size).toBe(0);
    const first = flightOf('1');
    const second = flightOf('2');
    table.startFlight('a', first);
    table.startFlight('b', second); // capacity 1: evicts the flight 'a' from the index
    table.settle('a', first, '1');
    expect(table.get('a')).toBeUndefined();
    expect(table.evicted).toBe(1);
    table.clear();
  });

  it('stays within maxEntries, evicting the oldest outcome first', () => {
    const time = clock();
    const table = new LocalFlightTable(3, 60_000, time.now);
    const live = flightOf('live');
    table.startFlight('live', live);
    for (const id of ['a', 'b', 'c', 'd']) {
      const p = flightOf(id);
      table.startFlight(id, p);
      table.settle(id, p, id);
      time.advance(1);
    }
    expect(table.size).toBe(3);
    expect(table.get('live')?.kind).toBe('flight');
    expect(table.get('a')).toBeUndefined();
    expect(table.get('d')?.kind).toBe('settled');
    table.clear();
  });

  it('sweeps expired outcomes', () => {
    const time = clock();
    const table = new LocalFlightTable(100, 500, time.now);
    for (const id of ['a', 'b']) {
      const p = flightOf(id);
      table.startFlight(id, p);
      table.settle(id, p, id);
    }
    expect(table.sweeping).toBe(true);
    time.advance(501);
    table.sweep();
    expect(table.size).toBe(0);
    // Nothing left to sweep: no timer left behind.
    expect(table.sweeping).toBe(false);
  });

  it('runs its sweep timer only while it holds entries', async () => {
    const table = new LocalFlightTable(10, 200);
    const p = flightOf('x');
    table.startFlight('a', p);
    table.settle('a', p, 'x');
    expect(table.sweeping).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(table.size).toBe(0);
    expect(table.sweeping).toBe(false);
  });
});

describe('MemoryExchangeResultStore', () => {
  it('expires, sweeps and stays bounded', async () => {
    const time = clock();
    const store = new MemoryExchangeResultStore(2, time.now);
    await store.set('a', 'A', 1_000);
    await store.set('b', 'B', 1_000);
    await store.set('c', 'C', 1_000);
    expect(store.size).toBe(2);
    expect(await store.get('a')).toBeUndefined();
    expect(await store.get('c')).toBe('C');
    time.advance(1_000);
    expect(await store.get('c')).toBeUndefined();
    expect(store.sweeping).toBe(true);
    store.sweep();
    expect(store.size).toBe(0);
    expect(store.sweeping).toBe(false);
  });
});
