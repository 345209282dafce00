import { EventEmitter } from 'node:events';
import type { ExchangeSignal, ExchangeSignalListener } from './exchange-signal.js';

/** {@link ExchangeSignal} for one process: an EventEmitter keyed by channel. Listeners are removed on unsubscribe. */
export class MemoryExchangeSignal implements ExchangeSignal {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per waiting flight; the flight table bounds their number, not a fixed emitter limit.
    this.emitter.setMaxListeners(0);
  }

  get listenerCount(): number {
    return this.emitter.eventNames().reduce((sum, name) => sum + this.emitter.listenerCount(name), 0);
  }

  async subscribe(channel: string, listener: ExchangeSignalListener): Promise<() => void> {
    this.emitter.on(channel, listener);
    return () => {
      this.emitter.off(channel, listener);
    };
  }

  async publish(channel: string, message: string): Promise<void> {
    this.emitter.emit(channel, message);
  }
}
