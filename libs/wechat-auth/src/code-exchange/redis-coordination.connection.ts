import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { LoggerService } from '@nestjs/common';
import type { CodeExchangeRedisClient } from './code-exchange.options.js';
import { CommandTimeouts, CoordinationUnavailableError, withTimeout } from './coordination-unavailable.error.js';

/** The node-redis v5 client surface used beyond {@link CodeExchangeRedisClient}. */
interface RedisClientInternal extends CodeExchangeRedisClient {
  readonly options?: { socket?: Record<string, unknown>; disableOfflineQueue?: boolean };
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  unsubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
}

/** A Lua script sent by SHA1 (EVALSHA), falling back to EVAL when the server does not know it yet. */
export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

export function defineRedisScript(source: string): RedisScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * Bounded reconnect: back off up to 1 s (plus jitter) and keep trying forever, so the library recovers by itself
 * when Redis is back, while the circuit breaker keeps requests from waiting on it.
 */
export function boundedReconnectStrategy(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 5), 1_000) + Math.floor(Math.random() * 50);
}

export interface RedisCoordinationConnectionOptions {
  commandTimeoutMs: number;
  logger: LoggerService;
  /**
   * Called when a connection the library uses reports an error and is no longer ready (Redis went away), so that
   * the caller can degrade at once instead of waiting for requests to fail, and report it even when idle.
   */
  onConnectionLost?: (reason: string) => void;
}

/**
 * The library's Redis connections: a command connection (the caller's client, or one it creates from a URL) and a
 * subscriber duplicated from it for pub/sub. Every command has a timeout; owned connections reject commands at once
 * while disconnected (no offline queue, so a stale lock command cannot run after a reconnect), reconnect with a
 * bounded back-off, and have their 'error' events handled (an unhandled one would crash the process).
 */
export class RedisCoordinationConnection {
  private commands?: RedisClientInternal;
  private subscriber?: RedisClientInternal;
  private ownsCommands = false;
  private closed = false;
  private readonly timeouts: CommandTimeouts;
  /**
   * Options of every command: none on the library's own connections; on a caller's client, replies as plain strings
   * and numbers whatever its type mapping, and, if it queues commands while disconnected, an abort signal.
   */
  private commandOptions?: { typeMapping: Record<string, never>; abortSignal?: AbortSignal };
  private dropsUnwritten = false;
  /** Shared by the commands sent in one turn of the event loop (see {@link send}). */
  private batch?: AbortController;
  private readonly endBatch = (): void => {
    this.batch = undefined;
  };

  constructor(
    private readonly source: CodeExchangeRedisClient | string,
    private readonly options: RedisCoordinationConnectionOptions,
  ) {
    this.timeouts = new CommandTimeouts(options.commandTimeoutMs);
  }

  /** True when both connections are ready. */
  get ready(): boolean {
    return !this.closed && !!this.commands?.isReady && !!this.subscriber?.isReady;
  }

  /**
   * Creates and connects what the library owns. Waits at most `waitMs` for the connections to become ready; if they
   * do not, they keep connecting in the background. Resolves whether they are ready.
   */
  async start(waitMs: number): Promise<boolean> {
    if (this.closed) return false;
    const socketOptions = {
      connectTimeout: Math.max(1_000, 2 * this.options.commandTimeoutMs),
      reconnectStrategy: boundedReconnectStrategy,
    };
    if (typeof this.source === 'string') {
      const { createClient } = await import('redis');
      this.commands = createClient({
        url: this.source,
        disableOfflineQueue: true,
        socket: socketOptions,
      }) as unknown as RedisClientInternal;
      this.ownsCommands = true;
      this.handleErrors(this.commands, 'command');
    } else {
      this.commands = this.source as RedisClientInternal;
      this.commandOptions = { typeMapping: {} };
      // Commands it queues while disconnected would run after a reconnect: those that time out unwritten are dropped.
      this.dropsUnwritten = this.commands.options?.disableOfflineQueue !== true;
    }
    this.subscriber = this.commands.duplicate({
      disableOfflineQueue: true,
      socket: { ...(this.commands.options?.socket ?? {}), ...socketOptions },
    }) as RedisClientInternal;
    this.handleErrors(this.subscriber, 'subscriber');

    const owned = this.ownsCommands ? [this.commands, this.subscriber] : [this.subscriber];
    const connecting = Promise.all(owned.map((client) => client.connect())).then(
      () => true,
      () => false, // a reconnect strategy giving up; the error was emitted and handled
    );
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
      timer.unref();
    });
    await Promise.race([connecting, gaveUp]);
    clearTimeout(timer);
    return this.ready;
  }

  /**
   * Sends one command with the command timeout (which forgives a stall of this process: see
   * {@link CommandTimeouts}). Commands sent in the same turn of the event loop go out in one write, in order.
   */
  send<T>(args: ReadonlyArray<string>, operation: string): Promise<T> {
    const client = this.commands;
    if (!client || this.closed) return Promise.reject(new CoordinationUnavailableError(operation, new Error('not connected')));
    let options = this.commandOptions;
    let batch: AbortController | undefined;
    if (this.dropsUnwritten) {
      // A command that times out before it was even written is dropped by aborting its signal, so that a stale lock
      // command cannot run after a reconnect. One signal per turn of the loop, not per command: the commands of a
      // turn are written together, and their deadlines differ by less than a turn. (The library's own connections
      // reject commands while disconnected and need no signal, which costs a listener per command.)
      batch = this.batch;
      if (batch === undefined) {
        batch = this.batch = new AbortController();
        // One listener per command of the turn (node-redis's): many by design, not a leak.
        setMaxListeners(0, batch.signal);
        setImmediate(this.endBatch);
      }
      options = { typeMapping: {}, abortSignal: batch.signal };
    }
    return new Promise<T>((resolve, reject) => {
      const command = this.timeouts.track(operation, (error) => {
        reject(error);
        if (batch && !batch.signal.aborted) batch.abort();
      });
      let reply: Promise<unknown>;
      try {
        reply = client.sendCommand(args, options);
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (value) => {
          if (command.settled) return;
          command.settled = true;
          resolve(value as T);
        },
        (error: unknown) => {
          if (command.settled) return;
          command.settled = true;
          reject(error instanceof CoordinationUnavailableError ? error : new CoordinationUnavailableError(operation, error));
        },
      );
    });
  }

  /** Runs a script by SHA1, loading it with EVAL the first time a server sees it. */
  async runScript<T>(
    script: RedisScript,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>,
    operation: string,
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.send<T>(['EVALSHA', script.sha1, ...tail], operation);
    } catch (error) {
      const cause = error instanceof CoordinationUnavailableError ? error.cause : error;
      if (!(cause instanceof Error) || !cause.message.startsWith('NOSCRIPT')) throw error;
      return this.send<T>(['EVAL', script.source, ...tail], operation);
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.send<number>(['PUBLISH', channel, message], 'publish');
  }

  /** Subscribes on the subscriber connection; resolves once the subscription is active. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<() => void> {
    const subscriber = this.subscriber;
    if (!subscriber || this.closed) throw new CoordinationUnavailableError('subscribe', new Error('not connected'));
    const onMessage = (message: string): void => listener(message);
    await withTimeout(subscriber.subscribe(channel, onMessage), this.options.commandTimeoutMs, 'subscribe');
    return () => {
      if (this.closed) return;
      subscriber.unsubscribe(channel, onMessage).catch(() => {
        // Disconnected: the subscription went with the connection, and it is not restored without listeners.
      });
    };
  }

  /** One PING with the command timeout; also requires the subscriber to be ready. */
  async ping(): Promise<void> {
    await this.send<string>(['PING'], 'ping');
    if (!this.subscriber?.isReady) throw new CoordinationUnavailableError('ping', new Error('subscriber not ready'));
  }

  /** Closes what the library created; leaves a caller's client open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const owned = [this.subscriber, this.ownsCommands ? this.commands : undefined];
    await Promise.all(
      owned.map(async (client) => {
        if (!client?.isOpen) return;
        if (!client.isReady) {
          client.destroy();
          return;
        }
        try {
          await withTimeout(client.close(), 1_000, 'close');
        } catch {
          client.destroy();
        }
      }),
    );
  }

  private handleErrors(client: RedisClientInternal, role: string): void {
    // Connection errors repeat on every reconnect attempt: the circuit breaker reports the outage once, so these
    // stay at debug level. Messages come from node-redis and carry no credentials.
    client.on('error', (error: Error) => {
      this.options.logger.debug?.(`Redis ${role} connection error: ${error.name}: ${error.message}`, 'CodeExchange');
      // Without this, an idle instance would report "up" for as long as no request happens to touch Redis.
      if (!this.closed && !client.isReady) this.options.onConnectionLost?.(`Redis ${role} connection lost: ${error.message}`);
    });
  }
}
