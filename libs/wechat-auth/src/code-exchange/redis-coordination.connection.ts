import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { LoggerService } from '@nestjs/common';
import type { CodeExchangeRedisClient } from './code-exchange.options.js';
import { CommandTimeouts, CoordinationUnavailableError, TimedOutcome, withTimeout } from './coordination-unavailable.error.js';
import { DirectRedisConnection, type RespReply } from './direct-redis.connection.js';

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
 * The library's Redis connections: a command connection and a subscriber for pub/sub. Given a URL, the library owns
 * both: commands go through a {@link DirectRedisConnection} (written at once when no reply is outstanding, not at
 * the end of the turn), the subscriber is a node-redis client. Given a node-redis client, commands go through it and the subscriber
 * is duplicated from it. Every command has a timeout; owned connections reject commands at once while disconnected
 * (no offline queue, so a stale lock command cannot run after a reconnect), reconnect with a bounded back-off, and
 * have their errors handled (an unhandled 'error' event would crash the process).
 */
export class RedisCoordinationConnection {
  /** The caller's client (commands go through it when there is no {@link direct} connection). */
  private commands?: RedisClientInternal;
  /** The library's own command connection, when it was given a URL. */
  private direct?: DirectRedisConnection;
  private subscriber?: RedisClientInternal;
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
    const commandsReady = this.direct ? this.direct.isReady : !!this.commands?.isReady;
    return !this.closed && commandsReady && !!this.subscriber?.isReady;
  }

  /**
   * Whether the commands just sent are held until the end of this turn of the event loop, after every other callback
   * that is ready: always on an app's node-redis client (it writes in a `setImmediate`); on the library's own
   * connection only while earlier replies are outstanding (see {@link DirectRedisConnection.send}).
   */
  get commandsWaitForEndOfTurn(): boolean {
    return this.direct ? this.direct.writeWaitsForEndOfTurn : true;
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
    const attempts: Array<Promise<unknown>> = [];
    if (typeof this.source === 'string') {
      const { createClient } = await import('redis');
      const direct = new DirectRedisConnection({
        url: this.source,
        connectTimeoutMs: socketOptions.connectTimeout,
        // Far beyond the command timeout (which already fails the request and feeds the breaker): this only replaces
        // a connection whose server has stopped answering altogether.
        replyTimeoutMs: Math.max(5_000, 10 * this.options.commandTimeoutMs),
        reconnectDelayMs: boundedReconnectStrategy,
        onError: (error) => this.reportError('command', error, false),
      });
      this.direct = direct;
      this.subscriber = createClient({
        url: this.source,
        disableOfflineQueue: true,
        socket: socketOptions,
      }) as unknown as RedisClientInternal;
      attempts.push(direct.connect());
    } else {
      const commands = this.source as RedisClientInternal;
      this.commands = commands;
      this.commandOptions = { typeMapping: {} };
      // Commands it queues while disconnected would run after a reconnect: those that time out unwritten are dropped.
      this.dropsUnwritten = commands.options?.disableOfflineQueue !== true;
      this.subscriber = commands.duplicate({
        disableOfflineQueue: true,
        socket: { ...(commands.options?.socket ?? {}), ...socketOptions },
      }) as RedisClientInternal;
    }
    const subscriber = this.subscriber;
    subscriber.on('error', (error: Error) => this.reportError('subscriber', error, subscriber.isReady));
    attempts.push(subscriber.connect());
    const connecting = Promise.all(attempts).then(
      (results) => !results.includes(false),
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
   * {@link CommandTimeouts}). Commands reach Redis in the order they are sent; see {@link commandsWaitForEndOfTurn}
   * for when they are written.
   */
  send<T>(args: ReadonlyArray<string>, operation: string): Promise<T> {
    const direct = this.direct;
    const client = this.commands;
    if ((!direct && !client) || this.closed) {
      return Promise.reject(new CoordinationUnavailableError(operation, new Error('not connected')));
    }
    if (direct) {
      // One promise and one object per command: the login path sends a few of these on every callback.
      return new Promise<T>((resolve, reject) => {
        const reply = new TimedOutcome<RespReply>(this.timeouts, operation, resolve as (value: RespReply) => void, reject);
        this.timeouts.add(reply);
        direct.sendTo(args, reply);
      });
    }
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
        reply = (client as RedisClientInternal).sendCommand(args, options);
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (value) => {
          if (this.timeouts.settle(command)) resolve(value as T);
        },
        (error: unknown) => {
          if (!this.timeouts.settle(command)) return;
          reject(error instanceof CoordinationUnavailableError ? error : new CoordinationUnavailableError(operation, error));
        },
      );
    });
  }

  /** Runs a script by SHA1, loading it with EVAL the first time a server sees it. */
  runScript<T>(
    script: RedisScript,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>,
    operation: string,
  ): Promise<T> {
    const command = ['EVALSHA', script.sha1, String(keys.length)];
    for (const key of keys) command.push(key);
    for (const arg of args) command.push(arg);
    return this.send<T>(command, operation).catch((error: unknown) => {
      const cause = error instanceof CoordinationUnavailableError ? error.cause : error;
      if (!(cause instanceof Error) || !cause.message.startsWith('NOSCRIPT')) throw error;
      command[0] = 'EVAL';
      command[1] = script.source;
      return this.send<T>(command, operation);
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.send<number>(['PUBLISH', channel, message], 'publish');
  }

  /**
   * Subscribes on the subscriber connection; resolves once the subscription is active. The listener is never called
   * after the returned function has been called.
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<() => void> {
    const subscriber = this.subscriber;
    if (!subscriber || this.closed) throw new CoordinationUnavailableError('subscribe', new Error('not connected'));
    // A message already on its way when the caller unsubscribes is dropped here: the UNSUBSCRIBE reaches Redis
    // later than the caller may assume (another connection's PUBLISH can overtake it).
    let active = true;
    const onMessage = (message: string): void => {
      if (active) listener(message);
    };
    await withTimeout(subscriber.subscribe(channel, onMessage), this.options.commandTimeoutMs, 'subscribe');
    return () => {
      active = false;
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

  /** Closes what the library created (its command connection, the subscriber); leaves a caller's client open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Releases and completions sent just before shutdown still reach Redis (bounded: Redis may be the problem).
    await this.direct?.drain(1_000);
    this.direct?.close();
    const subscriber = this.subscriber;
    if (!subscriber?.isOpen) return;
    if (!subscriber.isReady) {
      subscriber.destroy();
      return;
    }
    try {
      await withTimeout(subscriber.close(), 1_000, 'close');
    } catch {
      subscriber.destroy();
    }
  }

  /**
   * A connection error. They repeat on every reconnect attempt: the circuit breaker reports the outage once, so
   * these stay at debug level. Messages come from the socket, the server or node-redis and carry no credentials.
   */
  private reportError(role: 'command' | 'subscriber', error: Error, stillReady: boolean): void {
    this.options.logger.debug?.(`Redis ${role} connection error: ${error.name}: ${error.message}`, 'CodeExchange');
    // Without this, an idle instance would report "up" for as long as no request happens to touch Redis.
    if (!this.closed && !stillReady) this.options.onConnectionLost?.(`Redis ${role} connection lost: ${error.message}`);
  }
}
