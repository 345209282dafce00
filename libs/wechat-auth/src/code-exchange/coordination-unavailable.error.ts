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
