import type { ExchangeResultStore } from './exchange-result-store.js';

/**
 * {@link ExchangeResultStore} in process memory, used when no cache is injected and for in-process (degraded)
 * coordination. Bounded in size; expired outcomes are swept on an unref'd timer that runs only while it holds any.
 */
export class MemoryExchangeResultStore implements ExchangeResultStore {
  private readonly entries = new Map<string, { envelope: string; expiresAt: number }>();
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the sweep timer is running (only while there are entries). */
  get sweeping(): boolean {
    return this.sweepTimer !== undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry.envelope;
    this.entries.delete(key);
    return undefined;
  }

  async set(key: string, envelope: string, ttlMs: number): Promise<void> {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { envelope, expiresAt: this.now() + ttlMs });
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => this.sweep(), Math.max(100, Math.min(Math.floor(ttlMs / 2), 5_000)));
      this.sweepTimer.unref();
    }
  }

  /** Removes expired outcomes. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    if (this.entries.size === 0) this.stop();
  }

  clear(): void {
    this.entries.clear();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}
