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

/** A command waiting for its reply under {@link CommandTimeouts}. */
export interface TrackedCommand {
  /** Set once the command has an outcome (reply, error or timeout): later outcomes are ignored. */
  settled: boolean;
}

interface Deadline extends TrackedCommand {
  due: number;
  extended: boolean;
  readonly operation: string;
  readonly onTimeout: (error: CoordinationUnavailableError) => void;
}

/**
 * The per-command timeout of a connection, with the semantics of {@link withTimeout} (a stall of this process is
 * forgiven once; the rejection waits for the next I/O poll), but one timer for all commands instead of a timer, two
 * promises and a race per command. Every command gets the same timeout, so deadlines come in send order: the timer
 * is armed for the earliest pending deadline, and when it fires it drops the commands answered meanwhile, expires
 * the overdue ones and re-arms for the next. Work per command is constant; the queue holds at most the commands sent
 * within one timeout.
 */
export class CommandTimeouts {
  private queue: Deadline[] = [];
  private timer?: NodeJS.Timeout;
  private timerDue = 0;

  constructor(private readonly ms: number) {}

  /** Commands tracked and not yet dropped from the queue (for tests). */
  get size(): number {
    return this.queue.length;
  }

  /**
   * Starts the clock of one command. The caller sets `settled` when the reply (or an error) arrives; otherwise
   * `onTimeout` is called once, after the timeout.
   */
  track(operation: string, onTimeout: (error: CoordinationUnavailableError) => void): TrackedCommand {
    const deadline: Deadline = { settled: false, due: performance.now() + this.ms, extended: false, operation, onTimeout };
    this.queue.push(deadline);
    if (this.timer === undefined) this.arm(deadline.due);
    return deadline;
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
    const live: Deadline[] = [];
    const overdue: Deadline[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const deadline of this.queue) {
      if (deadline.settled) continue;
      if (deadline.due <= now) {
        if (stalled && !deadline.extended) {
          deadline.extended = true;
          deadline.due = now + this.ms;
        } else {
          overdue.push(deadline);
          continue;
        }
      }
      live.push(deadline);
      if (deadline.due < next) next = deadline.due;
    }
    this.queue = live;
    if (live.length > 0) this.arm(next);
    if (overdue.length === 0) return;
    // After a block, timers run before pending I/O: a reply that arrived meanwhile must not lose to its timeout.
    setImmediate(() => {
      for (const deadline of overdue) {
        if (deadline.settled) continue;
        deadline.settled = true;
        deadline.onTimeout(new CoordinationUnavailableError(deadline.operation, new Error(`timed out after ${this.ms} ms`)));
      }
    });
  };
}
