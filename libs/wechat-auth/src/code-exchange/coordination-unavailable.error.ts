import { performance } from 'node:perf_hooks';

/**
 * A coordination backend (Redis or the cache) failed or did not answer in time. Internal: the service catches it,
 * counts it toward the circuit breaker and carries on in-process. Never reaches a caller.
 */
export class CoordinationUnavailableError extends Error {
  constructor(
    readonly operation: string,
    cause?: unknown,
  ) {
    super(`Coordination ${operation} failed: ${describe(cause)}`, { cause });
    this.name = 'CoordinationUnavailableError';
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.name === 'Error' ? cause.message : `${cause.name}: ${cause.message}`;
  return 'unknown error';
}

/**
 * How late a timeout's timer may fire before it counts as the process having been blocked across the deadline. A
 * healthy event loop runs a due timer within a few ms; a GC pause or a CPU-starved container delays it far more.
 */
const STALL_TOLERANCE_MS = 25;

/**
 * Settles like `promise`, or rejects with {@link CoordinationUnavailableError} after `ms` (calling `onTimeout` first,
 * e.g. to abort the command). Timers are unref'd and always cleared, so they neither keep the process alive nor
 * linger.
 *
 * A timeout here is not harmless: the caller falls back to in-process coordination and may exchange a code that
 * another instance is already exchanging. So a timeout caused by this process rather than by Redis is not one:
 * - when the timer fires much later than due, the process itself was blocked (a long GC, a CPU-starved container,
 *   synchronous work) across the deadline, perhaps before the command was even written: it gets `ms` once more;
 * - the rejection waits for the next I/O poll, because after a block timers run before pending I/O, and the reply
 *   that arrived meanwhile would otherwise lose to its own timeout.
 * A Redis that is really down or slow is still given up on within `2 * ms` plus the length of any block.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, operation: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const timeout = new Promise<never>((_, reject) => {
    let extended = false;
    const arm = (delay: number): void => {
      const due = performance.now() + delay;
      timer = setTimeout(() => {
        if (!extended && performance.now() - due > STALL_TOLERANCE_MS) {
          extended = true;
          arm(ms);
          return;
        }
        setImmediate(() => {
          if (settled) return;
          reject(new CoordinationUnavailableError(operation, new Error(`timed out after ${ms} ms`)));
          onTimeout?.();
        });
      }, delay);
      timer.unref();
    };
    arm(ms);
  });
  return Promise.race([promise, timeout]).then(
    (value) => {
      settled = true;
      clearTimeout(timer);
      return value;
    },
    (error: unknown) => {
      settled = true;
      clearTimeout(timer);
      throw error instanceof CoordinationUnavailableError ? error : new CoordinationUnavailableError(operation, error);
    },
  );
}

/**
 * A command waiting for its outcome under {@link CommandTimeouts}. The timeouts set `due` and `extended`; whoever
 * learns the outcome first calls {@link CommandTimeouts.settle}, and only then acts on it.
 */
export interface TimedCommand {
  readonly operation: string;
  /** Whether the command has an outcome (reply, error or timeout). */
  settled: boolean;
  due: number;
  extended: boolean;
  /** Called once when no outcome came in time (the command is then settled). */
  timedOut(error: CoordinationUnavailableError): void;
}

/** A {@link TimedCommand} whose timeout calls a function. */
class CallbackCommand implements TimedCommand {
  settled = false;
  due = 0;
  extended = false;

  constructor(
    readonly operation: string,
    private onTimeout: ((error: CoordinationUnavailableError) => void) | undefined,
  ) {}

  timedOut(error: CoordinationUnavailableError): void {
    const onTimeout = this.onTimeout;
    this.onTimeout = undefined;
    onTimeout?.(error);
  }
}

/**
 * A pending outcome under {@link CommandTimeouts}: whichever of {@link resolve}, {@link reject} and the timeout comes
 * first settles it, once. One object per operation holds both its deadline and where its outcome goes.
 */
export class TimedOutcome<T> implements TimedCommand {
  settled = false;
  due = 0;
  extended = false;

  constructor(
    private readonly timeouts: CommandTimeouts,
    readonly operation: string,
    private readonly fulfil: (value: T) => void,
    private readonly fail: (error: CoordinationUnavailableError) => void,
  ) {}

  resolve(value: T): void {
    if (this.timeouts.settle(this)) this.fulfil(value);
  }

  reject(error: unknown): void {
    if (!this.timeouts.settle(this)) return;
    this.fail(error instanceof CoordinationUnavailableError ? error : new CoordinationUnavailableError(this.operation, error));
  }

  timedOut(error: CoordinationUnavailableError): void {
    this.fail(error);
  }
}

/**
 * What `run` resolves to, or a {@link CoordinationUnavailableError} when it fails or outlasts the timeouts' limit
 * (with {@link withTimeout}'s semantics, without a timer and a race per call).
 */
export function underTimeouts<T>(timeouts: CommandTimeouts, operation: string, run: () => PromiseLike<T> | T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const outcome = new TimedOutcome<T>(timeouts, operation, resolve, reject);
    timeouts.add(outcome);
    let pending: PromiseLike<T> | T;
    try {
      pending = run();
    } catch (error) {
      outcome.reject(error);
      return;
    }
    Promise.resolve(pending).then(
      (value) => outcome.resolve(value),
      (error: unknown) => outcome.reject(error),
    );
  });
}

/**
 * The per-command timeout of a connection, with the semantics of {@link withTimeout} (a stall of this process is
 * forgiven once; the rejection waits for the next I/O poll), but one timer for all commands instead of a timer, two
 * promises and a race per command. Every command gets the same timeout, so deadlines come in send order: the timer
 * is armed for the earliest pending deadline, and when it fires it expires the overdue commands and re-arms for the
 * next. Answered commands leave the front of the queue as they settle (one connection answers in send order), so a
 * command's bookkeeping dies young instead of living for a whole timeout. Work per command is constant; the queue
 * holds at most the commands sent within one timeout.
 */
export class CommandTimeouts {
  private queue: Array<TimedCommand | undefined> = [];
  private head = 0;
  private timer?: NodeJS.Timeout;
  private timerDue = 0;

  constructor(private readonly ms: number) {}

  /** Commands tracked and not yet dropped from the queue (for tests). */
  get size(): number {
    return this.queue.length - this.head;
  }

  /**
   * Starts the clock of one command. Call {@link settle} when its reply (or an error) arrives; otherwise `onTimeout`
   * is called once, after the timeout.
   */
  track(operation: string, onTimeout: (error: CoordinationUnavailableError) => void): TimedCommand {
    const command = new CallbackCommand(operation, onTimeout);
    this.add(command);
    return command;
  }

  /** Starts the clock of a command that is its own timeout handler. */
  add(command: TimedCommand): void {
    command.due = performance.now() + this.ms;
    this.queue.push(command);
    if (this.timer === undefined) this.arm(command.due);
  }

  /**
   * Records the outcome of a command. Returns false when it already had one (it timed out): the caller then ignores
   * this late outcome.
   */
  settle(command: TimedCommand): boolean {
    if (command.settled) return false;
    command.settled = true;
    const queue = this.queue;
    while (this.head < queue.length && (queue[this.head] as TimedCommand).settled) queue[this.head++] = undefined;
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
      if (this.timer !== undefined) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    } else if (this.head > 1_024 && this.head * 2 > queue.length) {
      queue.splice(0, this.head);
      this.head = 0;
    }
    return true;
  }

  private arm(due: number): void {
    this.timerDue = due;
    this.timer = setTimeout(this.fire, Math.max(0, due - performance.now()));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    // Fired much later than due: this process was blocked (GC, CPU starvation, synchronous work) across deadlines.
    const stalled = now - this.timerDue > STALL_TOLERANCE_MS;
    const live: TimedCommand[] = [];
    const overdue: TimedCommand[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (let i = this.head; i < this.queue.length; i++) {
      const command = this.queue[i] as TimedCommand;
      if (command.settled) continue;
      if (command.due <= now) {
        if (stalled && !command.extended) {
          command.extended = true;
          command.due = now + this.ms;
        } else {
          overdue.push(command);
          continue;
        }
      }
      live.push(command);
      if (command.due < next) next = command.due;
    }
    this.queue = live;
    this.head = 0;
    if (live.length > 0) this.arm(next);
    if (overdue.length === 0) return;
    // After a block, timers run before pending I/O: a reply that arrived meanwhile must not lose to its timeout.
    setImmediate(() => {
      for (const command of overdue) {
        if (command.settled) continue;
        command.settled = true;
        command.timedOut(new CoordinationUnavailableError(command.operation, new Error(`timed out after ${this.ms} ms`)));
      }
    });
  };
}
