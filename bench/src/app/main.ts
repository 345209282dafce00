import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ChildMessage } from '../shared/protocol.js';
import { createBenchAppModule, HOOKS, type BenchInstanceConfig } from './bench-app.module.js';
import { HitRecorder } from './hit-recorder.js';

/**
 * One app instance of the benchmark: a separate process started by the orchestrator over IPC. It listens on a free
 * loopback port, reports it, and exits when told to, when its parent goes away (IPC disconnect), or on a signal.
 */
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const config: BenchInstanceConfig = {
    instance: required('BENCH_INSTANCE'),
    runId: required('BENCH_RUN_ID'),
    emulatorOrigin: required('BENCH_EMULATOR_ORIGIN'),
    redisUrl: required('BENCH_REDIS_URL'),
    appId: required('BENCH_APP_ID'),
    appSecret: required('BENCH_APP_SECRET'),
    resultTtlMs: Number(required('BENCH_RESULT_TTL_MS')),
    profile: process.env.BENCH_PROFILE === '1',
    ...(process.env.BENCH_CPU_PROFILE_DIR ? { cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR } : {}),
    heapProfile: process.env.BENCH_PROFILE_KIND === 'heap',
  };
  HOOKS.recorder = new HitRecorder(config.instance);
  const module = await createBenchAppModule(config);
  const app = await NestFactory.create<NestExpressApplication>(module, { logger: ['error', 'warn'] });
  app.use(HOOKS.recorder.middleware);
  app.set('etag', false);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');

  let closing = false;
  const shutdown = (code: number) => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(code), 3000).unref();
    app.close().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  process.on('disconnect', () => shutdown(0));
  process.on('message', (message: unknown) => {
    if ((message as { type?: string })?.type === 'shutdown') shutdown(0);
  });
  process.once('SIGTERM', () => shutdown(0));
  process.once('SIGINT', () => shutdown(0));
  send({ type: 'ready', origin: url, name: config.instance });
}

main().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  console.error(error);
  process.exit(1);
});
