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
 * Settles like `promise`, or rejects with {@link CoordinationUnavailableError} after `ms`. The timer is unref'd and
 * always cleared, so it neither keeps the process alive nor lingers.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CoordinationUnavailableError(operation, new Error(`timed out after ${ms} ms`))), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).then(
    (value) => {
      clearTimeout(timer);
      return value;
    },
    (error: unknown) => {
      clearTimeout(timer);
      throw error instanceof CoordinationUnavailableError ? error : new CoordinationUnavailableError(operation, error);
    },
  );
}
