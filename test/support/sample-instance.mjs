// The built sample app (dist/apps/sample/main.js, unchanged) plus a small IPC channel for the soak and reliability
// tests: heap after a forced GC (the process runs with --expose-gc) and the event-loop delay seen inside the app.
// Started by test/support/sample-process.ts when `instrumented: true`; settings come from the environment as usual.
import { createHistogram, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const main = process.env.SAMPLE_MAIN;
if (!main) throw new Error('SAMPLE_MAIN (path of dist/apps/sample/main.js) is not set');

// Event-loop delay: how late a 10 ms interval timer fires, in µs. Measured here rather than with
// monitorEventLoopDelay so that the pause of a GC this wrapper forces for a heap reading can be left out: it is the
// test's doing, not the app's.
const RESOLUTION_MS = 10;
const loopDelay = createHistogram();
let expectedAt = performance.now() + RESOLUTION_MS;
let skipNext = false;
setInterval(() => {
  const now = performance.now();
  const lateMs = now - expectedAt;
  expectedAt = now + RESOLUTION_MS;
  if (skipNext) {
    skipNext = false;
    return;
  }
  loopDelay.record(Math.max(1, Math.round(lateMs * 1000)));
}, RESOLUTION_MS).unref();
const ms = (us) => Math.round(us / 10) / 100;

process.on('message', (message) => {
  if (message?.type !== 'stats' || !process.connected) return;
  const eventLoopDelay = {
    p50: ms(loopDelay.percentile(50)),
    p99: ms(loopDelay.percentile(99)),
    max: ms(loopDelay.max),
  };
  if (message.resetLoopDelay) loopDelay.reset();
  if (message.gc && typeof globalThis.gc === 'function') {
    // Twice: the first pass may only promote what the second collects.
    globalThis.gc();
    globalThis.gc();
    skipNext = true;
  }
  process.send({ type: 'stats', id: message.id, memory: process.memoryUsage(), eventLoopDelay });
});
// The IPC channel must not keep the process alive: the app's own shutdown (SIGTERM) decides when it exits.
process.channel?.unref();

await import(pathToFileURL(main).href);
