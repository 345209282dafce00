/**
 * `npm run bench -- --perf-control DIR`: the bench tells a waiting `perf record` when to sample through its control
 * FIFO. Real FIFOs made with coreutils' mkfifo; the reader stands in for perf (which reads commands line by line).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalPerf } from '../bench/src/orchestrator/perf-control.js';

describe('signalPerf (--perf-control)', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const fifo = (name: string): string => {
    dir ??= mkdtempSync(join(tmpdir(), 'perf-control-'));
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    return path;
  };

  it('writes the command to a FIFO that perf is reading', () => {
    const path = fifo('library.ctl');
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      expect(signalPerf(dir!, 'library', 'enable')).toBe(true);
      expect(signalPerf(dir!, 'library', 'disable')).toBe(true);
      const buffer = Buffer.alloc(64);
      const read = readSync(reader, buffer, 0, buffer.length, null);
      expect(buffer.subarray(0, read).toString('utf8')).toBe('enable\ndisable\n');
    } finally {
      closeSync(reader);
    }
  });

  it('skips, without blocking, a FIFO that nobody reads, a missing one and a plain file', () => {
    fifo('naive.ctl');
    const started = Date.now();
    expect(signalPerf(dir!, 'naive', 'enable')).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(signalPerf(dir!, 'library-fastpath', 'enable')).toBe(false);
    writeFileSync(join(dir!, 'dictionary.ctl'), '');
    expect(signalPerf(dir!, 'dictionary', 'enable')).toBe(false);
  });
});
