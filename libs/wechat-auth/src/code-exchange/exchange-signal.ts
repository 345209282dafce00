/** Receives messages published on one channel. */
export type ExchangeSignalListener = (message: string) => void;

/**
 * Wakes duplicates waiting for a code's first exchange by a push, not by polling. Implementations:
 * {@link MemoryExchangeSignal} (an EventEmitter) and {@link RedisExchangeSignal} (Redis pub/sub).
 */
export interface ExchangeSignal {
  /** Starts listening; resolves once messages published from now on will be delivered. Resolves an unsubscribe. */
  subscribe(channel: string, listener: ExchangeSignalListener): Promise<() => void>;
  /** Delivers `message` to every current subscriber of `channel`. */
  publish(channel: string, message: string): Promise<void>;
}
/** Injection token for {@link ExchangeSignal}. */
export const ExchangeSignal = Symbol('ExchangeSignal');
