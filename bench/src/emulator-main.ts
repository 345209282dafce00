import { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { ChildMessage } from './shared/protocol.js';

/**
 * WeChat for the benchmark: the emulator in its own process (so that its timers do not share an event loop with the
 * load generator), driven over its HTTP control API. Exits when its parent goes away.
 */
async function main(): Promise<void> {
  const emulator = new WechatEmulator({ maxEntries: 200_000 });
  const origin = await emulator.listen(0, '127.0.0.1');
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 2000).unref();
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('disconnect', shutdown);
  process.on('message', (message: unknown) => {
    if ((message as { type?: string })?.type === 'shutdown') shutdown();
  });
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  const ready: ChildMessage = { type: 'ready', origin, name: 'emulator' };
  process.send?.(ready);
}

main().catch((error: unknown) => {
  process.send?.({ type: 'fatal', message: error instanceof Error ? error.message : String(error) } satisfies ChildMessage);
  process.exit(1);
});
