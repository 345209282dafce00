import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/**
 * Records the instance's garbage-collection pauses while a phase runs (forced collections of the memory snapshots
 * excluded). They are the same for every strategy (the Nest and HTTP stack allocate most of what is collected), and
 * they explain latency tails: a pause that falls inside a request's coordination step is in its overhead.
 */
export class GcProbe {
  private on = false;
  private pauses: number[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    if (!this.on) return;
    for (const entry of list.getEntries()) {
      const flags = (entry as PerformanceEntry & { detail?: { flags?: number } }).detail?.flags ?? 0;
      if ((flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) continue;
      if (this.pauses.length < 100_000) this.pauses.push(entry.duration);
    }
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  set(on: boolean): void {
    this.on = on;
  }

  take(): number[] {
    const pauses = this.pauses;
    this.pauses = [];
    return pauses;
  }
}
