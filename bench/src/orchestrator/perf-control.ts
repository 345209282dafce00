import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Tells a waiting Linux `perf record` to start or stop sampling, through its control FIFO (`--perf-control DIR`):
 * `DIR/<strategy>.ctl`, as made by `mkfifo` and given to `perf record --control fifo:DIR/<strategy>.ctl -D -1`. So
 * one perf session records only that strategy's throughput slices, and a CPU-time profile of each strategy comes
 * out of one run.
 *
 * Why perf and not only `--cpu-prof`: V8's profiler samples the main thread by wall time, so time spent preempted in
 * a system call (a socket write that wakes Redis or another instance) is billed to the JavaScript frame that made
 * it, and the GC and compiler threads are not seen at all. perf's `cpu-clock` counts only time on a CPU, in every
 * thread, kernel included.
 *
 * A FIFO nobody reads is skipped (opening it without blocking fails), so a forgotten `perf` never stalls the run.
 * @returns whether the command was delivered
 */
export function signalPerf(dir: string, strategy: string, command: 'enable' | 'disable'): boolean {
  const path = join(dir, `${strategy}.ctl`);
  try {
    if (!statSync(path).isFIFO()) return false;
  } catch {
    return false;
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false; // ENXIO: no perf is reading it
  }
  try {
    writeSync(fd, `${command}\n`);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
