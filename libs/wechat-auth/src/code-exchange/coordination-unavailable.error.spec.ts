import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { REDIS_URL, connectTestRedis } from '../../../../test/support/code-exchange.harness.js';
import { CommandTimeouts, CoordinationUnavailableError, underTimeouts, withTimeout } from './coordination-unavailable.error.js';
import { RedisCoordinationConnection } from './redis-coordination.connection.js';

/** Blocks this process (no timers, no I/O) for `ms`: what a long GC or a CPU-starved container does. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

describe('withTimeout', () => {
  it('settles like the promise when it is in time', async () => {
    await expect(withTimeout(Promise.resolve('ok'), 100, 'op')).resolves.toBe('ok');
    await expect(withTimeout(Promise.reject(new Error('boom')), 100, 'op')).rejects.toThrow(
      new CoordinationUnavailableError('op', new Error('boom')),
    );
  });

  it('rejects a promise that never settles after the timeout, and calls onTimeout', async () => {
    let aborted = false;
    const started = Date.now();
    await expect(withTimeout(new Promise(() => undefined), 80, 'claim', () => (aborted = true))).rejects.toThrow(
      'Coordination claim failed: timed out after 80 ms',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(aborted).toBe(true);
  });

  it('still gives up on a promise that never settles when the process was blocked past the deadline (within 2 x ms)', async () => {
    const started = Date.now();
    const waiting = withTimeout(new Promise(() => undefined), 80, 'claim');
    block(300);
    await expect(waiting).rejects.toThrow(CoordinationUnavailableError);
    expect(Date.now() - started).toBeLessThan(300 + 2 * 80 + 500);
  });
});

describe('CommandTimeouts (one timer for every command of a connection)', () => {
  it('times out each unanswered command once, after the timeout, and never an answered one', async () => {
    const timeouts = new CommandTimeouts(80);
    const timedOut: string[] = [];
    const started = Date.now();
    const commands = Array.from({ length: 40 }, (_, i) =>
      timeouts.track(`op${i}`, (error) => {
        expect(error).toBeInstanceOf(CoordinationUnavailableError);
        timedOut.push(error.message);
      }),
    );
    // Half are answered at once, a quarter just before their deadline.
    commands.forEach((command, i) => {
      if (i % 2 === 0) timeouts.settle(command);
    });
    await new Promise((resolve) => setTimeout(resolve, 40));
    commands.forEach((command, i) => {
      if (i % 4 === 1) timeouts.settle(command);
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(timedOut).toHaveLength(10);
    expect(timedOut[0]).toMatch(/^Coordination op\d+ failed: timed out after 80 ms$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    // Nothing lingers: the queue is empty and no timer is left.
    expect(timeouts.size).toBe(0);
  });

  it('forgives a stall of this process once, and still times out within two timeouts', async () => {
    const timeouts = new CommandTimeouts(80);
    let answeredLate = 0;
    let unanswered = 0;
    const answered = timeouts.track('answered', () => answeredLate++);
    timeouts.track('never', () => unanswered++);
    const started = Date.now();
    block(300);
    // The reply is handled 20 ms after the stall: in time only because the stall earned the command another 80 ms.
    setTimeout(() => {
      timeouts.settle(answered);
    }, 20);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(answeredLate).toBe(0);
    expect(unanswered).toBe(1);
    expect(Date.now() - started).toBeLessThan(300 + 2 * 80 + 500);
  });
});

describe('underTimeouts (an operation under a shared CommandTimeouts)', () => {
  it('settles like the operation in time, times out one that hangs, and wraps a synchronous throw', async () => {
    const timeouts = new CommandTimeouts(80);
    await expect(underTimeouts(timeouts, 'cache get', async () => 'value')).resolves.toBe('value');
    await expect(underTimeouts(timeouts, 'cache get', () => 'plain')).resolves.toBe('plain');
    const started = Date.now();
    await expect(underTimeouts(timeouts, 'cache set', () => new Promise<never>(() => undefined))).rejects.toThrow(
      'Coordination cache set failed: timed out after 80 ms',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    await expect(
      underTimeouts(timeouts, 'cache get', () => {
        throw new Error('backend refused');
      }),
    ).rejects.toThrow('Coordination cache get failed: backend refused');
    await expect(underTimeouts(timeouts, 'cache get', () => Promise.reject(new Error('down')))).rejects.toBeInstanceOf(
      CoordinationUnavailableError,
    );
    expect(timeouts.size).toBe(0);
  });
});

describe('RedisCoordinationConnection commands when this process stalls past the command timeout', () => {
  let connection: RedisCoordinationConnection;

  beforeAll(async () => {
    (await connectTestRedis()).destroy(); // fails with a clear message when Redis is unreachable
    connection = new RedisCoordinationConnection(REDIS_URL, { commandTimeoutMs: 100, logger: new Logger('spec') });
    expect(await connection.start(2_000)).toBe(true);
  });

  afterAll(async () => {
    await connection.close();
  });

  it('gets the reply that arrived during the stall (not a timeout)', async () => {
    for (let i = 0; i < 5; i++) {
      const reply = connection.send<string>(['PING'], 'ping');
      // One turn of the loop: the command is written and Redis answers while this process is blocked.
      await new Promise((resolve) => setImmediate(resolve));
      block(300);
      await expect(reply).resolves.toBe('PONG');
    }
  });

  it('gets the reply when the stall came before the command was even written', async () => {
    for (let i = 0; i < 5; i++) {
      const reply = connection.send<string>(['PING'], 'ping');
      block(300); // node-redis writes on the next turn of the loop: still queued during the whole block
      await expect(reply).resolves.toBe('PONG');
    }
  });

  it('still times out a command Redis does not answer, and drops it', async () => {
    const started = Date.now();
    // BLPOP on an empty list answers only after 1 s: far beyond the 100 ms command timeout.
    await expect(connection.send(['BLPOP', `wxauth-spec-empty-${process.pid}`, '1'], 'blpop')).rejects.toThrow(
      'Coordination blpop failed: timed out after 100 ms',
    );
    expect(Date.now() - started).toBeLessThan(800);
    // The connection keeps serving (the blocked reply, when it comes, does not shift later replies).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await expect(connection.send<string>(['PING'], 'ping')).resolves.toBe('PONG');
  });
});
