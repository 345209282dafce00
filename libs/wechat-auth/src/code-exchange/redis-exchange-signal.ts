import type { ExchangeSignal, ExchangeSignalListener } from './exchange-signal.js';
import type { RedisCoordinationConnection } from './redis-coordination.connection.js';

/**
 * {@link ExchangeSignal} over Redis pub/sub: one channel per code, subscribed on a dedicated connection only while a
 * duplicate waits, so an instance receives only the messages it waits for.
 */
export class RedisExchangeSignal implements ExchangeSignal {
  constructor(private readonly connection: RedisCoordinationConnection) {}

  subscribe(channel: string, listener: ExchangeSignalListener): Promise<() => void> {
    return this.connection.subscribe(channel, listener);
  }

  publish(channel: string, message: string): Promise<void> {
    return this.connection.publish(channel, message);
  }
}
