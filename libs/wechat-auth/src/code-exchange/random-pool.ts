import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for lock tokens and IVs, drawn from a buffer filled by the CSPRNG a few kilobytes at a time (the way
 * Node's own `randomUUID()` buffers its entropy), instead of one `randomBytes()` call per use. Every byte is handed out
 * once: a refill allocates a new buffer, so slices already handed out never change.
 */
export class RandomPool {
  private buffer = Buffer.alloc(0);
  private offset = 0;

  /** @param size bytes drawn from the CSPRNG per refill */
  constructor(private readonly size = 4_096) {}

  /** `length` fresh random bytes (a view on the pool: do not write to it). */
  take(length: number): Buffer {
    this.reserve(length);
    const bytes = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  /** `length` fresh random bytes, encoded (a lock token): no view object to allocate. */
  takeString(length: number, encoding: 'base64url' | 'hex'): string {
    this.reserve(length);
    const text = this.buffer.toString(encoding, this.offset, this.offset + length);
    this.offset += length;
    return text;
  }

  private reserve(length: number): void {
    if (this.offset + length > this.buffer.length) {
      // Not from Node's shared allocation pool: these bytes are secrets.
      this.buffer = randomFillSync(Buffer.allocUnsafeSlow(Math.max(this.size, length)));
      this.offset = 0;
    }
  }
}
