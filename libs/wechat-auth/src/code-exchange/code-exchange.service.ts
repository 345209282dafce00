import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  Injectable,
  Logger,
  type LoggerService,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import {
  CodeExchangeTimeoutError,
  CodeReplayError,
  WechatApiError,
  WechatTransportError,
  reviveWechatAuthError,
} from '../errors/wechat-auth.errors.js';
import { CacheExchangeResultStore, type CodeExchangeCache } from './cache-exchange-result-store.js';
import type { CodeExchangeEvent, CodeExchangeLayer, CodeExchangeStats } from './code-exchange.events.js';
import { CodeExchangeKeys, type ExchangeKey } from './code-exchange.keys.js';
import {
  resolveCodeExchangeSettings,
  type CodeExchangeSettings,
  type ResolvedCodeExchangeSettings,
} from './code-exchange.options.js';
import { OutcomeSealer, type ExchangeOutcome } from './code-exchange.seal.js';
import type { CodeExchangeHealth, CodeExchangeRequest } from './code-exchange.types.js';
import { RETRY_MESSAGE, type ExchangeClaim, type ExchangeCoordinator } from './exchange-coordinator.js';
import { LocalFlightTable, type FlightEntry } from './local-flight-table.js';
import { MemoryExchangeLock } from './memory-exchange-lock.js';
import { MemoryExchangeResultStore } from './memory-exchange-result-store.js';
import { MemoryExchangeSignal } from './memory-exchange-signal.js';
import { PortableExchangeCoordinator } from './portable-exchange-coordinator.js';
import { RandomPool } from './random-pool.js';
import { RedisCoordinationConnection } from './redis-coordination.connection.js';
import { RedisExchangeLock } from './redis-exchange-lock.js';
import { RedisExchangeResultStore } from './redis-exchange-result-store.js';
import { RedisExchangeSignal } from './redis-exchange-signal.js';
import { RedisScriptExchangeCoordinator } from './redis-script-exchange-coordinator.js';

/** How the leader of an in-process flight got the code's sealed outcome. */
interface FlightResult {
  envelope: string;
  layer: CodeExchangeLayer;
  /** The winner's own outcome, when `envelope` is what it sealed: no need to decrypt it again. */
  outcome?: ExchangeOutcome;
}

const ABANDONED = Symbol('abandoned');
/** How a winner's exchange ended: its value, an answer from WeChat worth sharing, or given up at the lock's expiry. */
type WinnerSettlement = { value: unknown } | { error: WechatApiError | WechatTransportError } | typeof ABANDONED;
/** The shared deadline of the exchanges that won their lock within one slice of time (see `joinDeadline`). */
interface ExchangeDeadline {
  readonly controller: AbortController;
  /** The give-ups of its exchanges still running. */
  readonly running: Set<() => void>;
  /** Exchanges that win from then on open a new one. */
  readonly closesAt: number;
  timer: NodeJS.Timeout | undefined;
}
/** How many times a waiter extends its deadline because another instance took over a dead holder's lock. */
const MAX_DEADLINE_EXTENSIONS = 3;
/** Upper bounds on request fields: far above WeChat's (a code is 32 characters), far below anything abusive. */
const MAX_APP_ID_LENGTH = 128;
const MAX_CODE_LENGTH = 512;
const MAX_BINDING_LENGTH = 4_096;

function isShareable(error: unknown): error is WechatApiError | WechatTransportError {
  return error instanceof WechatApiError || error instanceof WechatTransportError;
}

function isText(value: unknown, max: number): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

function assertRequest(request: CodeExchangeRequest<unknown>): void {
  if (typeof request !== 'object' || request === null) throw new TypeError('A code exchange request is required');
  if (
    isText(request.appId, MAX_APP_ID_LENGTH) &&
    isText(request.code, MAX_CODE_LENGTH) &&
    isText(request.binding, MAX_BINDING_LENGTH) &&
    typeof request.exchange === 'function'
  ) {
    return;
  }
  const problems: string[] = [];
  const fields = [
    ['appId', request.appId, MAX_APP_ID_LENGTH],
    ['code', request.code, MAX_CODE_LENGTH],
    ['binding', request.binding, MAX_BINDING_LENGTH],
  ] as const;
  for (const [name, value, max] of fields) {
    if (!isText(value, max)) problems.push(`${name} must be a non-empty string of at most ${max} characters`);
  }
  if (typeof request.exchange !== 'function') problems.push('exchange must be a function');
  // Names the fields, never their values: the code and the binding are secrets.
  throw new TypeError(`Invalid code exchange request: ${problems.join('; ')}`);
}

/**
 * Runs the upstream exchange of an authorization code at most once, however many duplicate callbacks carry it and
 * whichever instance they reach, and gives every duplicate from the same browser the first exchange's outcome.
 *
 * Layers: an in-process single-flight table (a local duplicate never touches Redis); then a shared protocol
 * (claim: stored outcome / lock / wait; the winner exchanges, stores, releases and publishes; waiters are woken by
 * the publish, with a slow poll and a deadline as backstops). Outcomes are sealed to the request's binding. When
 * Redis fails, a circuit breaker degrades to in-process coordination and a probe restores it.
 */
@Injectable()
export class CodeExchangeService implements OnModuleInit, OnModuleDestroy {
  private readonly settings: ResolvedCodeExchangeSettings;
  private readonly logger: LoggerService;
  private readonly keys: CodeExchangeKeys;
  private readonly sealer: OutcomeSealer;
  private readonly random = new RandomPool();
  private readonly table: LocalFlightTable;
  private readonly memoryStore: MemoryExchangeResultStore;
  private readonly fallback: ExchangeCoordinator;
  private readonly shared: ExchangeCoordinator;
  private readonly connection?: RedisCoordinationConnection;
  private readonly mode: CodeExchangeStats['mode'];
  private readonly cacheIsProcessLocal: boolean;
  /** The exchange must end this long before its lock does, so its outcome can be stored while it still owns it. */
  private readonly abortMarginMs: number;
  /** How long a waiter waits beyond the holder's lock before giving up. */
  private readonly waitMarginMs: number;
  /** The options of a completion after the winner was answered (the same for every login). */
  private readonly backgroundCompletion: { readonly resultTtlMs: number; readonly preferExisting: false };

  private readonly listeners = new Set<(event: CodeExchangeEvent) => void>();
  /** Deadlines with exchanges running or open to new ones; their timers are cleared at shutdown. */
  private readonly deadlines = new Set<ExchangeDeadline>();
  private openDeadline?: ExchangeDeadline;
  /** Wakes pending waits and abandons pending exchanges; used at shutdown so nothing outlives the service. */
  private readonly cancellers = new Set<() => void>();
  /** Outcomes being stored after their winner was answered; awaited at shutdown. Bounded by the exchanges in flight. */
  private readonly completions = new Set<Promise<void>>();
  private readonly counters = {
    winners: 0,
    takeovers: 0,
    localJoins: 0,
    remoteWaits: 0,
    lateHits: 0,
    replaysRejected: 0,
    waitTimeouts: 0,
    abandoned: 0,
    coordinationFailures: 0,
    degradations: 0,
  };
  private readonly upstreamErrorsByErrcode: Record<string, number> = {};
  private readonly transportErrorsByFailure: Record<string, number> = {};

  private startPromise?: Promise<void>;
  /** The start is over (connected or degraded): requests no longer wait for it. */
  private started = false;
  /** The first connection attempt is over (ready or degraded): losing the connection from now on opens the breaker. */
  private connectSettled = false;
  private destroyed = false;
  private breakerOpen = false;
  private consecutiveFailures = 0;
  private degradedSince?: number;
  private probeTimer?: NodeJS.Timeout;
  private probing = false;

  /**
   * @param settings the resolved options plus `keySecret` (HMAC key material the module derives from the app secret)
   * @param cache the app's cache-manager cache (CACHE_MANAGER). Without one, outcomes live in Redis (when configured)
   *   or in process memory.
   * @param logger where warnings go; a Nest `Logger` by default
   */
  constructor(settings: CodeExchangeSettings, cache?: CodeExchangeCache, logger?: LoggerService) {
    this.settings = resolveCodeExchangeSettings(settings);
    const s = this.settings;
    this.logger = logger ?? new Logger(CodeExchangeService.name);
    this.keys = new CodeExchangeKeys(s.keySecret, s.keyPrefix);
    this.sealer = new OutcomeSealer(s.keySecret, this.random);
    this.table = new LocalFlightTable(s.maxLocalEntries, s.resultTtlMs);
    this.abortMarginMs = Math.min(Math.floor(s.lockTtlMs / 4), s.redisCommandTimeoutMs + 250);
    this.waitMarginMs = Math.max(1_000, s.pollIntervalMs);
    this.backgroundCompletion = { resultTtlMs: s.resultTtlMs, preferExisting: false };

    this.memoryStore = new MemoryExchangeResultStore(s.maxLocalEntries);
    const memoryLock = new MemoryExchangeLock(s.maxLocalEntries);
    const memorySignal = new MemoryExchangeSignal();
    // In memory every operation is applied when it is called: ordered.
    this.fallback = new PortableExchangeCoordinator('in-process', this.memoryStore, memoryLock, memorySignal, {
      ordered: true,
    });
    this.cacheIsProcessLocal = cache !== undefined && isProcessLocalCache(cache);

    if (s.redis === undefined) {
      this.mode = 'in-process';
      this.shared = cache
        ? new PortableExchangeCoordinator(
            'in-process',
            new CacheExchangeResultStore(cache, s.redisCommandTimeoutMs),
            memoryLock,
            memorySignal,
          )
        : this.fallback;
      return;
    }
    const connection = new RedisCoordinationConnection(s.redis, {
      commandTimeoutMs: s.redisCommandTimeoutMs,
      logger: this.logger,
      // Only after the first connect settled: a failed first connect is reported by connect() with its own reason.
      onConnectionLost: (reason) => {
        if (this.connectSettled) this.openBreaker(reason);
      },
    });
    this.connection = connection;
    if (s.redisFastPath) {
      this.mode = 'fast-path';
      this.shared = new RedisScriptExchangeCoordinator(connection);
    } else {
      this.mode = 'portable';
      const store = cache
        ? new CacheExchangeResultStore(cache, s.redisCommandTimeoutMs)
        : new RedisExchangeResultStore(connection);
      this.shared = new PortableExchangeCoordinator(
        'shared',
        store,
        new RedisExchangeLock(connection),
        new RedisExchangeSignal(connection),
        // Without a cache, outcomes, lock and messages share the library's command connection, which keeps order.
        // With one, every instance writing to it takes this lock first.
        { ordered: cache === undefined, lockCoversStore: true },
      );
    }
  }

  /** Connects to Redis (bounded wait: an unreachable Redis starts the service degraded, never blocks the boot). */
  async onModuleInit(): Promise<void> {
    await this.start();
  }

  /**
   * Finishes storing the outcomes of answered exchanges, closes the connections the service created, ends pending
   * waits and clears its timers and entries. Requests that still arrive during shutdown are coordinated in process
   * only.
   */
  async onModuleDestroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    for (const cancel of [...this.cancellers]) cancel();
    for (const deadline of [...this.deadlines]) this.dropDeadline(deadline);
    await this.startPromise?.catch(() => undefined);
    // Each is bounded by the command timeouts; new ones are no longer started (coordination is now in process).
    while (this.completions.size > 0) await Promise.all([...this.completions]);
    await this.connection?.close();
    this.table.clear();
    this.memoryStore.clear();
  }

  /**
   * Runs `request.exchange` at most once per (appId, code) across every instance and resolves its outcome for every
   * duplicate carrying the same binding: the same value, or the same typed error (WechatApiError,
   * WechatTransportError). A duplicate with another binding gets {@link CodeReplayError}; a duplicate that waited
   * past its deadline gets {@link CodeExchangeTimeoutError}. Errors that are not WeChat errors (bugs) are not shared.
   */
  async exchange<T>(request: CodeExchangeRequest<T>): Promise<T> {
    assertRequest(request);
    const startedAt = performance.now();
    const key = this.keys.derive(request.appId, request.code);

    const entry = this.table.get(key.id);
    if (entry?.kind === 'settled') {
      this.counters.lateHits++;
      this.emit({ type: 'late-hit', at: Date.now(), keyId: key.logId, durationMs: elapsed(startedAt), source: 'local' });
      return this.deliver<T>(entry.envelope, request.binding, key, 'late-hit');
    }
    if (entry?.kind === 'flight') {
      const { envelope } = await entry.promise;
      this.counters.localJoins++;
      this.emit({ type: 'local-join', at: Date.now(), keyId: key.logId, durationMs: elapsed(startedAt) });
      return this.deliver<T>(envelope, request.binding, key, 'local-join');
    }

    // No await between the lookup above and registering the flight: a concurrent duplicate joins this one. (The
    // leader replaces the entry with its outcome, or drops it, only after awaiting something.)
    const flight = { kind: 'flight', promise: undefined } as unknown as FlightEntry;
    const leading = this.lead(key, request, startedAt, flight);
    flight.promise = leading;
    this.table.startFlight(key.id, flight);
    const { envelope, layer, outcome } = await leading;
    return outcome ? unwrap<T>(outcome) : this.deliver<T>(envelope, request.binding, key, layer);
  }

  /** `disabled` without Redis; `down` while degraded (or before connecting); `up` otherwise. */
  health(): CodeExchangeHealth {
    if (!this.connection) return 'disabled';
    if (!this.startPromise || this.breakerOpen || this.destroyed) return 'down';
    return 'up';
  }

  /** Counters since start, plus current gauges. */
  stats(): CodeExchangeStats {
    return {
      health: this.health(),
      mode: this.mode,
      ...this.counters,
      degradedSince: this.degradedSince,
      localEvictions: this.table.evicted,
      upstreamErrorsByErrcode: { ...this.upstreamErrorsByErrcode },
      transportErrorsByFailure: { ...this.transportErrorsByFailure },
      inFlight: this.table.inFlight,
      localEntries: this.table.size + this.memoryStore.size,
    };
  }

  /** Subscribes to events (for logs or metrics). Listener errors are contained. Returns the unsubscribe function. */
  on(listener: (event: CodeExchangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ---------------------------------------------------------------------------------------------------------------

  private start(): Promise<void> {
    this.startPromise ??= this.connect().then(() => {
      this.started = true;
    });
    return this.startPromise;
  }

  private async connect(): Promise<void> {
    if (!this.connection || this.destroyed) return;
    if (this.cacheIsProcessLocal) {
      this.logger.warn(
        'The injected cache keeps values in process memory while Redis coordination is enabled: late duplicates that ' +
          'reach another instance cannot be served its result. Use a shared store (e.g. @keyv/redis) or omit the cache.',
      );
    }
    let ready = false;
    let reason = 'Redis not reachable at startup';
    try {
      ready = await this.connection.start(Math.max(1_000, 4 * this.settings.redisCommandTimeoutMs));
    } catch (error) {
      reason = `cannot create the Redis connection (${error instanceof Error ? error.message : 'unknown error'})`;
    }
    this.connectSettled = true;
    if (!ready && !this.destroyed) this.openBreaker(reason);
  }

  /**
   * The leader of this process's flight for a code: claims, then wins, waits or reads the stored outcome; then
   * replaces the flight's entry in the table with that outcome (or drops it on failure).
   */
  private async lead(
    key: ExchangeKey,
    request: CodeExchangeRequest<unknown>,
    startedAt: number,
    flight: FlightEntry,
  ): Promise<FlightResult> {
    let result: FlightResult;
    try {
      if (!this.started) await this.start();
      const token = this.random.takeString(16, 'base64url');
      const { claim, coordinator } = await this.claim(key, token);
      if (claim.kind === 'result') {
        this.counters.lateHits++;
        this.emit({ type: 'late-hit', at: Date.now(), keyId: key.logId, durationMs: elapsed(startedAt), source: 'shared' });
        result = { envelope: claim.envelope, layer: 'late-hit' };
      } else if (claim.kind === 'acquired') {
        result = await this.win(coordinator, key, token, request, startedAt, false);
      } else {
        result = await this.waitForWinner(coordinator, key, token, request, startedAt, claim.lockRemainingMs);
      }
    } catch (error) {
      this.table.drop(key.id, flight);
      throw error;
    }
    this.table.settle(key.id, flight, result.envelope);
    return result;
  }

  /** Runs the exchange as the lock holder, seals and stores its outcome. */
  private async win(
    coordinator: ExchangeCoordinator,
    key: ExchangeKey,
    token: string,
    request: CodeExchangeRequest<unknown>,
    startedAt: number,
    takeover: boolean,
  ): Promise<FlightResult> {
    const lockTtlMs = this.settings.lockTtlMs;
    const acquiredAt = performance.now();
    // The callback's signal aborts when the lock is about to expire; a callback that ignores it is given up on at
    // the lock's expiry (it must not hold the flight).
    let giveUp: () => void = () => undefined;
    let deadline: ExchangeDeadline | undefined;
    let settled: WinnerSettlement;
    try {
      settled = await new Promise<WinnerSettlement>((resolve, reject) => {
        giveUp = () => resolve(ABANDONED);
        this.cancellers.add(giveUp);
        deadline = this.joinDeadline(giveUp, acquiredAt);
        let exchanged: Promise<unknown>;
        try {
          exchanged = Promise.resolve(request.exchange(deadline.controller.signal));
        } catch (error) {
          exchanged = Promise.reject(error);
        }
        exchanged.then(
          (value) => resolve({ value }),
          (error: unknown) => (isShareable(error) ? resolve({ error }) : reject(error)),
        );
      });
    } catch (error) {
      this.leaveDeadline(deadline, giveUp);
      // A bug, not an answer from WeChat: nothing to share. Let a waiter take over right away.
      await this.abandon(coordinator, key, token);
      throw error;
    }
    this.leaveDeadline(deadline, giveUp);
    const exchangeMs = elapsed(acquiredAt);

    if (settled === ABANDONED) {
      // The callback ignored its abort signal and outlived the lock. Its outcome, if it ever comes, is dropped:
      // another instance may already have taken over.
      this.counters.abandoned++;
      this.emit({ type: 'abandoned', at: Date.now(), keyId: key.logId, lockTtlMs });
      this.logger.warn(`A code exchange outlived its ${lockTtlMs} ms lock and was abandoned; honour the abort signal`);
      await this.abandon(coordinator, key, token);
      throw new CodeExchangeTimeoutError(Math.round(exchangeMs));
    }

    let outcome: ExchangeOutcome;
    if ('error' in settled) {
      outcome = { ok: false, error: settled.error.toJSON() };
      this.countUpstreamError(key, settled.error);
    } else {
      outcome = { ok: true, value: settled.value };
    }
    let plaintext: string;
    let envelope: string;
    try {
      plaintext = this.sealer.encode(outcome);
      envelope = this.sealer.sealEncoded(plaintext, request.binding, key);
    } catch (error) {
      await this.abandon(coordinator, key, token);
      throw error;
    }
    // If the lock may have expired, another instance may have stored an outcome: keep that one, so every duplicate
    // gets the same answer. So too after any error answer: the code may have been spent by an earlier exchange whose
    // outcome is stored though its lock said nothing (its holder died before marking it, the lock's Redis lost its
    // keys), and a spent code cannot succeed twice. Otherwise the outcome is ours to store; with shared coordination
    // that is a round trip the user need not wait for: it completes in the background, while duplicates in this
    // process are served from the flight table and those elsewhere wait on the lock and its wake-up.
    const preferExisting = takeover || elapsed(acquiredAt) >= lockTtlMs - this.abortMarginMs || 'error' in settled;
    let stored = envelope;
    if (preferExisting || coordinator.scope !== 'shared') {
      stored = await this.complete(coordinator, key, token, envelope, preferExisting);
    } else {
      this.completeInBackground(coordinator, key, token, envelope);
      // If its commands wait for the end of this turn of the event loop (node-redis writes in a setImmediate, and so
      // does the library's own connection under load), let them go before this request's response work, so that
      // duplicates waiting on other instances (often the request the user sees) are woken a response earlier.
      // Measured: duplicate lag p50 -0.5 ms for winner overhead +0.2 ms. Otherwise they are written in a microtask.
      if (this.connection?.commandsWaitForEndOfTurn !== false) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.counters.winners++;
    this.emit({
      type: 'winner',
      at: Date.now(),
      keyId: key.logId,
      durationMs: elapsed(startedAt),
      exchangeMs,
      outcome: outcome.ok ? 'success' : 'error',
      takeover,
      coordination: coordinator.scope,
    });
    // What a duplicate would open, without decrypting it again.
    return stored === envelope
      ? { envelope, layer: 'winner', outcome: this.sealer.decode(plaintext) }
      : { envelope: stored, layer: 'winner' };
  }

  /**
   * The deadline an exchange that won its lock at `acquiredAt` runs under. Exchanges that win within the same short
   * slice share one: one abort signal and one timer for all of them, not an AbortController and a timer each. It
   * aborts when the first of them must stop (`lockTtl - abortMargin` after the slice opened), so the later ones
   * lose at most the slice (a twentieth of that time, at most 250 ms); their give-up comes `abortMargin` later,
   * still within every member's lock.
   */
  private joinDeadline(giveUp: () => void, acquiredAt: number): ExchangeDeadline {
    let deadline = this.openDeadline;
    if (deadline === undefined || acquiredAt >= deadline.closesAt) {
      if (deadline !== undefined && deadline.running.size === 0) this.dropDeadline(deadline);
      const abortAfterMs = this.settings.lockTtlMs - this.abortMarginMs;
      const controller = new AbortController();
      // Every exchange of the slice may listen to it (the API client does): many listeners by design.
      setMaxListeners(0, controller.signal);
      const opened: ExchangeDeadline = {
        controller,
        running: new Set(),
        closesAt: acquiredAt + Math.max(1, Math.min(250, Math.floor(abortAfterMs / 20))),
        timer: undefined,
      };
      opened.timer = setTimeout(() => this.expireDeadline(opened), abortAfterMs);
      opened.timer.unref();
      this.deadlines.add(opened);
      this.openDeadline = deadline = opened;
    }
    deadline.running.add(giveUp);
    return deadline;
  }

  private leaveDeadline(deadline: ExchangeDeadline | undefined, giveUp: () => void): void {
    this.cancellers.delete(giveUp);
    if (deadline === undefined) return;
    deadline.running.delete(giveUp);
    if (deadline.running.size === 0 && deadline !== this.openDeadline) this.dropDeadline(deadline);
  }

  private expireDeadline(deadline: ExchangeDeadline): void {
    if (this.openDeadline === deadline) this.openDeadline = undefined;
    if (deadline.running.size === 0) {
      this.dropDeadline(deadline);
      return;
    }
    deadline.controller.abort(new Error('The code exchange ran out of its lock time'));
    deadline.timer = setTimeout(() => {
      for (const giveUp of [...deadline.running]) giveUp();
      this.dropDeadline(deadline);
    }, this.abortMarginMs);
    deadline.timer.unref();
  }

  private dropDeadline(deadline: ExchangeDeadline): void {
    clearTimeout(deadline.timer);
    this.deadlines.delete(deadline);
    if (this.openDeadline === deadline) this.openDeadline = undefined;
  }

  /**
   * Waits for the holder in another instance (or a flight this table no longer tracks). Woken by the holder's
   * publish; polls slowly in case the message is lost; takes over when the lock is free without an outcome; gives up
   * at a deadline (the holder's lock plus a margin, extended when another instance takes over).
   */
  private async waitForWinner(
    coordinator: ExchangeCoordinator,
    key: ExchangeKey,
    token: string,
    request: CodeExchangeRequest<unknown>,
    startedAt: number,
    lockRemainingMs: number,
  ): Promise<FlightResult> {
    const waitStart = performance.now();
    let deadline = waitStart + lockRemainingMs + this.waitMarginMs;
    let lastLockExpiry = waitStart + lockRemainingMs;
    let extensions = 0;
    let pushed: string | undefined;
    let retry = false;
    let wake: (() => void) | undefined;
    const onMessage = (message: string): void => {
      if (message === RETRY_MESSAGE) retry = true;
      else pushed ??= message;
      wake?.();
    };
    let unsubscribe = await this.subscribe(coordinator, key, onMessage);
    const done = (envelope: string, wokenBy: 'push' | 'poll' | 'recheck'): FlightResult => {
      this.counters.remoteWaits++;
      this.emit({ type: 'remote-wait', at: Date.now(), keyId: key.logId, durationMs: elapsed(startedAt), wokenBy });
      return { envelope, layer: 'remote-wait' };
    };
    try {
      for (let attempt = 0; ; attempt++) {
        if (pushed !== undefined) return done(pushed, 'push');
        if (this.destroyed) throw new CodeExchangeTimeoutError(Math.round(elapsed(waitStart)));
        retry = false;
        // After subscribing, claim again: the holder may have finished before the subscription was active.
        const { claim, coordinator: used } = await this.claim(key, token);
        if (pushed !== undefined) {
          if (claim.kind === 'acquired') await this.abandon(used, key, token);
          return done(pushed, 'push');
        }
        if (claim.kind === 'result') return done(claim.envelope, attempt === 0 ? 'recheck' : 'poll');
        if (claim.kind === 'acquired') {
          unsubscribe?.();
          unsubscribe = undefined;
          this.counters.takeovers++;
          this.emit({ type: 'takeover', at: Date.now(), keyId: key.logId, waitedMs: elapsed(waitStart) });
          return await this.win(used, key, token, request, startedAt, true);
        }
        const now = performance.now();
        const lockExpiry = now + claim.lockRemainingMs;
        // The lock now ends later than the one we were waiting for: another instance took it over.
        if (lockExpiry > lastLockExpiry + 50 && extensions < MAX_DEADLINE_EXTENSIONS) {
          extensions++;
          deadline = Math.max(deadline, lockExpiry + this.waitMarginMs);
        }
        lastLockExpiry = Math.max(lastLockExpiry, lockExpiry);
        if (now >= deadline) {
          this.counters.waitTimeouts++;
          const waitedMs = Math.round(now - waitStart);
          this.emit({ type: 'wait-timeout', at: Date.now(), keyId: key.logId, waitedMs });
          throw new CodeExchangeTimeoutError(waitedMs);
        }
        if (retry) continue;
        const delay = Math.max(1, Math.min(this.settings.pollIntervalMs, claim.lockRemainingMs + 5, deadline - now));
        await this.sleep(delay, (wakeUp) => {
          wake = wakeUp;
        });
        wake = undefined;
      }
    } finally {
      unsubscribe?.();
    }
  }

  private sleep(ms: number, register: (wake: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const wakeUp = (): void => {
        clearTimeout(timer);
        this.cancellers.delete(wakeUp);
        resolve();
      };
      const timer = setTimeout(wakeUp, ms);
      timer.unref();
      this.cancellers.add(wakeUp);
      register(wakeUp);
    });
  }

  /** Opens the shared outcome with this request's binding and turns it into a value or a typed error. */
  private deliver<T>(envelope: string, binding: string, key: ExchangeKey, layer: CodeExchangeLayer): T {
    let outcome: ExchangeOutcome;
    try {
      outcome = this.sealer.open(envelope, binding, key);
    } catch (error) {
      if (error instanceof CodeReplayError) {
        this.counters.replaysRejected++;
        this.emit({ type: 'replay-rejected', at: Date.now(), keyId: key.logId, layer });
      }
      throw error;
    }
    return unwrap<T>(outcome);
  }

  // --- coordination with fallback --------------------------------------------------------------------------------

  private current(): ExchangeCoordinator {
    return this.breakerOpen || this.destroyed ? this.fallback : this.shared;
  }

  private claim(key: ExchangeKey, token: string): Promise<{ claim: ExchangeClaim; coordinator: ExchangeCoordinator }> {
    const coordinator = this.current();
    if (coordinator === this.fallback) return this.claimInProcess(key, token);
    return coordinator.claim(key, token, this.settings.lockTtlMs).then(
      (claim) => {
        this.recordSuccess();
        return { claim, coordinator };
      },
      (error: unknown) => {
        this.recordFailure(error);
        return this.claimInProcess(key, token);
      },
    );
  }

  private async claimInProcess(key: ExchangeKey, token: string): Promise<{ claim: ExchangeClaim; coordinator: ExchangeCoordinator }> {
    return { claim: await this.fallback.claim(key, token, this.settings.lockTtlMs), coordinator: this.fallback };
  }

  private async complete(
    coordinator: ExchangeCoordinator,
    key: ExchangeKey,
    token: string,
    envelope: string,
    preferExisting: boolean,
  ): Promise<string> {
    const options = { resultTtlMs: this.settings.resultTtlMs, preferExisting };
    if (coordinator !== this.fallback) {
      try {
        const stored = await coordinator.complete(key, token, envelope, options);
        this.recordSuccess();
        return stored;
      } catch (error) {
        // The outcome is still shared in this process; other instances' waiters fall back to polling and takeover.
        this.recordFailure(error);
      }
    }
    return this.fallback.complete(key, token, envelope, options);
  }

  /**
   * Stores a winner's outcome after the winner was answered; tracked so that shutdown waits for it. The common case
   * (the shared store answers) costs one promise reaction: this runs on every login.
   */
  private completeInBackground(coordinator: ExchangeCoordinator, key: ExchangeKey, token: string, envelope: string): void {
    const task: Promise<void> = coordinator.complete(key, token, envelope, this.backgroundCompletion).then(
      (stored) => {
        this.completions.delete(task);
        this.recordSuccess();
        // Another instance stored first (its lock outlived ours): later duplicates here get that one too.
        if (stored !== envelope) this.table.replaceOutcome(key.id, envelope, stored);
      },
      (error: unknown) => {
        // The outcome is still shared in this process; other instances' waiters fall back to polling and takeover.
        this.recordFailure(error);
        this.warnCompletionFailed(key, error);
        return this.fallback.complete(key, token, envelope, this.backgroundCompletion).then(
          () => {
            this.completions.delete(task);
          },
          (fallbackError: unknown) => {
            this.completions.delete(task);
            this.warnCompletionFailed(key, fallbackError);
          },
        );
      },
    );
    this.completions.add(task);
  }

  private warnCompletionFailed(key: ExchangeKey, error: unknown): void {
    // An outage has its own single warning (the breaker's); an isolated failure gets this one.
    if (this.breakerOpen || this.destroyed) return;
    this.logger.warn(
      `Storing the outcome of code exchange ${key.logId} failed (${error instanceof Error ? error.message : 'unknown error'}); ` +
        'duplicates on other instances will take over when its lock expires.',
    );
  }

  private async abandon(coordinator: ExchangeCoordinator, key: ExchangeKey, token: string): Promise<void> {
    try {
      await coordinator.abandon(key, token);
      if (coordinator !== this.fallback) this.recordSuccess();
    } catch (error) {
      if (coordinator !== this.fallback) this.recordFailure(error);
    }
  }

  private async subscribe(
    coordinator: ExchangeCoordinator,
    key: ExchangeKey,
    listener: (message: string) => void,
  ): Promise<(() => void) | undefined> {
    try {
      const unsubscribe = await coordinator.subscribe(key, listener);
      if (coordinator !== this.fallback) this.recordSuccess();
      return unsubscribe;
    } catch (error) {
      // Without the push the waiter still polls.
      if (coordinator !== this.fallback) this.recordFailure(error);
      return undefined;
    }
  }

  // --- circuit breaker --------------------------------------------------------------------------------------------

  private recordSuccess(): void {
    this.consecutiveFailures = 0;
  }

  private recordFailure(error: unknown): void {
    this.counters.coordinationFailures++;
    this.consecutiveFailures++;
    this.logger.debug?.(`Coordination failure: ${error instanceof Error ? error.message : 'unknown error'}`);
    // Without Redis there is no breaker: a failing injected cache only costs its timeout per operation.
    if (this.connection && this.consecutiveFailures >= this.settings.breakerFailureThreshold) {
      this.openBreaker(error instanceof Error ? error.message : 'coordination failures');
    }
  }

  private openBreaker(reason: string): void {
    if (this.breakerOpen || this.destroyed) return;
    this.breakerOpen = true;
    this.degradedSince = Date.now();
    this.counters.degradations++;
    // The one warning of an outage; request-level failures stay at debug level.
    this.logger.warn(
      `Redis coordination unavailable (${reason}); degraded to in-process coordination until it recovers. ` +
        'Duplicates reaching other instances meanwhile may be exchanged again.',
    );
    this.emit({ type: 'degraded', at: Date.now(), reason });
    this.probeTimer = setInterval(() => void this.probe(), this.settings.breakerProbeIntervalMs);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    if (this.probing || !this.breakerOpen || !this.connection || this.destroyed) return;
    this.probing = true;
    try {
      await this.connection.ping();
      this.closeBreaker();
    } catch {
      // Still down; the next probe tries again.
    } finally {
      this.probing = false;
    }
  }

  private closeBreaker(): void {
    if (!this.breakerOpen || this.destroyed) return;
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.breakerOpen = false;
    this.consecutiveFailures = 0;
    const downMs = Date.now() - (this.degradedSince ?? Date.now());
    this.degradedSince = undefined;
    this.logger.log(`Redis coordination recovered after ${downMs} ms`);
    this.emit({ type: 'recovered', at: Date.now(), downMs });
  }

  // --- observability ----------------------------------------------------------------------------------------------

  private countUpstreamError(key: ExchangeKey, error: WechatApiError | WechatTransportError): void {
    if (error instanceof WechatApiError) {
      const errcode = String(error.errcode);
      this.upstreamErrorsByErrcode[errcode] = (this.upstreamErrorsByErrcode[errcode] ?? 0) + 1;
      this.emit({
        type: 'upstream-error',
        at: Date.now(),
        keyId: key.logId,
        errcode: error.errcode,
        category: error.category,
      });
    } else {
      this.transportErrorsByFailure[error.failure] = (this.transportErrorsByFailure[error.failure] ?? 0) + 1;
      this.emit({
        type: 'upstream-error',
        at: Date.now(),
        keyId: key.logId,
        failure: error.failure,
        category: error.category,
      });
    }
  }

  private emit(event: CodeExchangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.debug?.(`A code exchange event listener threw: ${error instanceof Error ? error.message : 'unknown'}`);
      }
    }
  }
}

/** A shared outcome as the caller gets it: the value, or the typed error. */
function unwrap<T>(outcome: ExchangeOutcome): T {
  if (outcome.ok) return outcome.value as T;
  throw reviveWechatAuthError(outcome.error) ?? new CodeReplayError();
}

function elapsed(since: number): number {
  return performance.now() - since;
}

/** Whether every store of a cache-manager cache keeps values in this process (a Map or a memory adapter). */
function isProcessLocalCache(cache: CodeExchangeCache): boolean {
  const stores = (cache as { stores?: unknown }).stores;
  if (!Array.isArray(stores) || stores.length === 0) return false;
  return stores.every((keyv: { store?: unknown; opts?: { store?: unknown } } | undefined) => {
    const store = keyv?.store ?? keyv?.opts?.store;
    if (store instanceof Map) return true;
    const name = (store as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? '';
    return /^(Keyv)?CacheableMemory$|^MemoryStore$/.test(name);
  });
}
