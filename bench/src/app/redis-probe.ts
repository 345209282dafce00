import { performance } from 'node:perf_hooks';
import type { RedisCommands } from './baselines/polling-lock.baseline.js';

/**
 * Measures Redis round trips from inside the instance while a phase runs (one PING every 20 ms), so that the
 * report can express coordination costs in round trips under the same load.
 */
export class RedisProbe {
  private timer?: NodeJS.Timeout;
  private samples: number[] = [];
  private busy = false;

  constructor(private readonly redis: RedisCommands) {}

  set(on: boolean): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!on) return;
    this.timer = setInterval(() => {
      if (this.busy || this.samples.length >= 100_000) return;
      this.busy = true;
      const started = performance.now();
      this.redis.sendCommand(['PING']).then(
        () => this.samples.push(performance.now() - started),
        () => undefined,
      ).finally(() => {
        this.busy = false;
      });
    }, 20);
    this.timer.unref();
  }

  take(): number[] {
    const samples = this.samples;
    this.samples = [];
    return samples;
  }
}
