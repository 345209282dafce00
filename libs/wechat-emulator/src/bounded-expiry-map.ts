/**
 * A Map whose entries are forgotten after their retention time, holding at most `maxEntries`.
 *
 * Every store of one kind keeps its entries for the same duration, so with a monotonic clock insertion order is also
 * expiry order: pruning only ever looks at the oldest entries, which keeps each write amortized O(1).
 */
export class BoundedExpiryMap<K, V> {
  private readonly entries = new Map<K, { value: V; forgetAt: number }>();

  constructor(private readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stores `value` until `forgetAt` (ms, on the caller's clock). Re-setting a key moves it to the newest end. */
  set(key: K, value: V, forgetAt: number, now: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, forgetAt });
    this.prune(now);
  }

  /** The value, unless it is missing or its retention has passed. */
  get(key: K, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.forgetAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Live entries, oldest first. */
  *values(now: number): IterableIterator<[K, V]> {
    for (const [key, entry] of this.entries) {
      if (entry.forgetAt > now) yield [key, entry.value];
    }
  }

  /** Drops expired entries from the oldest end, then the oldest live ones while over the bound. */
  prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.forgetAt > now) break;
      this.entries.delete(key);
    }
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
