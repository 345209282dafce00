import { afterAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { REDIS_URL, deferred, uniquePrefix } from '../../../../test/support/code-exchange.harness.js';
import type { ExchangeSignal } from './exchange-signal.js';
import { MemoryExchangeSignal } from './memory-exchange-signal.js';
import { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { RedisExchangeSignal } from './redis-exchange-signal.js';

const connections: RedisCoordinationConnection[] = [];
const prefix = uniquePrefix('signal');

async function redisSignal(): Promise<RedisExchangeSignal> {
  const connection = new RedisCoordinationConnection(REDIS_URL, { commandTimeoutMs: 500, logger: new Logger('spec') });
  connections.push(connection);
  if (!(await connection.start(2_000))) throw new Error(`These tests need a real Redis at ${REDIS_URL} (set REDIS_URL)`);
  return new RedisExchangeSignal(connection);
}

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
});

/** Resolves the next message, or rejects after a generous bound. */
function nextMessage(signal: ExchangeSignal, channel: string): Promise<{ message: Promise<string>; unsubscribe: () => void }> {
  const received = deferred<string>();
  const timer = setTimeout(() => received.reject(new Error('no message within 5 s')), 5_000);
  return signal
    .subscribe(channel, (message) => {
      clearTimeout(timer);
      received.resolve(message);
    })
    .then((unsubscribe) => ({
      message: received.promise,
      unsubscribe: () => {
        clearTimeout(timer);
        unsubscribe();
      },
    }));
}

describe.each([
  ['MemoryExchangeSignal', async (): Promise<[ExchangeSignal, ExchangeSignal]> => {
    const signal = new MemoryExchangeSignal();
    return [signal, signal];
  }],
  // Publisher and subscriber on different connections, as two instances would be.
  ['RedisExchangeSignal', async (): Promise<[ExchangeSignal, ExchangeSignal]> => [await redisSignal(), await redisSignal()]],
])('%s', (_name, make) => {
  it('pushes a message to a subscriber of the channel, and only that channel', async () => {
    const [publisher, subscriber] = await make();
    const wanted = await nextMessage(subscriber, `${prefix}:{a}:done`);
    let other = 0;
    const unsubscribeOther = await subscriber.subscribe(`${prefix}:{b}:done`, () => other++);
    await publisher.publish(`${prefix}:{a}:done`, 'v1.sealed-outcome');
    expect(await wanted.message).toBe('v1.sealed-outcome');
    expect(other).toBe(0);
    wanted.unsubscribe();
    unsubscribeOther();
  });

  it('delivers to every subscriber, and to none after unsubscribe', async () => {
    const [publisher, subscriber] = await make();
    const channel = `${prefix}:{c}:done`;
    const first = await nextMessage(subscriber, channel);
    const second = await nextMessage(subscriber, channel);
    await publisher.publish(channel, 'one');
    expect(await Promise.all([first.message, second.message])).toEqual(['one', 'one']);
    first.unsubscribe();
    second.unsubscribe();
    let late = 0;
    const probe = await nextMessage(subscriber, `${prefix}:{d}:done`);
    const stale = await subscriber.subscribe(channel, () => late++);
    stale();
    await publisher.publish(channel, 'two');
    // A message published afterwards on another channel arrives after 'two' would have: proves 'two' was not delivered.
    await publisher.publish(`${prefix}:{d}:done`, 'marker');
    expect(await probe.message).toBe('marker');
    probe.unsubscribe();
    expect(late).toBe(0);
  });
});

describe('MemoryExchangeSignal bounds', () => {
  it('keeps no listener after unsubscribe', async () => {
    const signal = new MemoryExchangeSignal();
    const unsubscribes = await Promise.all(Array.from({ length: 50 }, (_, i) => signal.subscribe(`c${i % 5}`, () => undefined)));
    expect(signal.listenerCount).toBe(50);
    for (const unsubscribe of unsubscribes) unsubscribe();
    expect(signal.listenerCount).toBe(0);
  });
});
