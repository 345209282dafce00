/**
 * An exchange being coordinated in this process: duplicates await its promise. The entry object is the flight's
 * identity: its outcome only replaces the entry if the entry is still this one.
 */
export interface FlightEntry {
  readonly kind: 'flight';
  promise: Promise<{ readonly envelope: string }>;
}

/** One code's in-process state: an exchange being coordinated, or its recent sealed outcome. */
export type LocalEntry = FlightEntry | { readonly kind: 'settled'; readonly envelope: string; readonly expiresAt: number };

/**
 * The in-process single-flight table: at most one flight per code, and recent outcomes for late duplicates in this
 * process. Bounded in size and in time: settled entries expire with the result TTL (a sweep runs only while the table
 * is not empty, on an unref'd timer), and beyond `maxEntries` the oldest entries are dropped.
 */
export class LocalFlightTable {
  private readonly entries = new Map<string, LocalEntry>();
  private sweepTimer?: NodeJS.Timeout;
  private evictions = 0;
  private flights = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the sweep timer is running (only while there are entries). */
  get sweeping(): boolean {
    return this.sweepTimer !== undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  get inFlight(): number {
    return this.flights;
  }

  get evicted(): number {
    return this.evictions;
  }

  /** The live entry for a code; an expired outcome counts as absent. */
  get(id: string): LocalEntry | undefined {
    const entry = this.entries.get(id);
    if (entry?.kind === 'settled' && entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  startFlight(id: string, flight: FlightEntry): void {
    this.makeRoom();
    this.entries.set(id, flight);
    this.flights++;
    this.ensureSweeping();
  }

  /** Replaces the flight with its outcome, unless the flight was evicted meanwhile. */
  settle(id: string, flight: FlightEntry, envelope: string): void {
    this.flights--;
    if (this.entries.get(id) !== flight) return;
    // Re-insert so that map order is expiry order for settled entries (they all live ttlMs).
    this.entries.delete(id);
    this.entries.set(id, { kind: 'settled', envelope, expiresAt: this.now() + this.ttlMs });
  }

  /** Replaces a settled outcome by the one actually shared (another instance stored first); keeps its expiry. */
  replaceOutcome(id: string, previous: string, envelope: string): void {
    const entry = this.entries.get(id);
    if (entry?.kind === 'settled' && entry.envelope === previous) {
      this.entries.set(id, { kind: 'settled', envelope, expiresAt: entry.expiresAt });
    }
  }

  /** Drops a flight that failed without a shareable outcome. */
  drop(id: string, flight: FlightEntry): void {
    this.flights--;
    if (this.entries.get(id) === flight) this.entries.delete(id);
    if (this.entries.size === 0) this.stopSweeping();
  }

  /** Removes expired outcomes. */
  sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.kind === 'flight') continue;
      if (entry.expiresAt > now) break; // settled entries are in expiry order
      this.entries.delete(id);
    }
    if (this.entries.size === 0) this.stopSweeping();
  }

  clear(): void {
    this.entries.clear();
    this.stopSweeping();
  }

  private makeRoom(): void {
    if (this.entries.size < this.maxEntries) return;
    this.sweep();
    if (this.entries.size < this.maxEntries) return;
    // Oldest settled outcome first; a flight only when nothing else is left. Its participants keep their promise;
    // only a new duplicate would start another flight (still coordinated by the lock).
    let victim: string | undefined;
    for (const [id, entry] of this.entries) {
      if (entry.kind === 'settled') {
        victim = id;
        break;
      }
      victim ??= id;
    }
    if (victim !== undefined) {
      this.entries.delete(victim);
      this.evictions++;
    }
  }

  private ensureSweeping(): void {
    if (this.sweepTimer) return;
    const every = Math.max(100, Math.min(Math.floor(this.ttlMs / 2), 5_000));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private stopSweeping(): void {
    if (!this.sweepTimer) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}
