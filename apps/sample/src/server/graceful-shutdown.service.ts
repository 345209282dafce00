import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import type { Server } from 'node:http';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { DEMO_EMULATOR } from '../demo/demo.tokens.js';

/** Injection token of the `http.Server` the app listens on. */
export const SAMPLE_HTTP_SERVER = Symbol('SAMPLE_HTTP_SERVER');

/** How long in-flight requests may take to finish once shutdown starts, before their connections are cut. */
export const DRAIN_TIMEOUT_MS = 10_000;
const IDLE_SWEEP_MS = 100;

/**
 * Graceful shutdown, in the order a load balancer needs: stop accepting connections, let in-flight requests finish
 * (a callback may be mid-exchange with WeChat, and its code cannot be spent twice), then let the modules close their
 * resources (the code exchange's Redis connections). Runs on `app.close()`, which `enableShutdownHooks()` calls on
 * SIGTERM/SIGINT. This provider lives in the root module, whose destroy hooks run before those of the modules it
 * imports, so the drain completes before Redis is closed.
 */
@Injectable()
export class GracefulShutdown implements OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(
    @Inject(SAMPLE_HTTP_SERVER) private readonly server: Server,
    @Inject(DEMO_EMULATOR) private readonly emulator: WechatEmulator | null,
  ) {}

  async onModuleDestroy(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Keep-alive connections with no request in flight would hold close() open until they time out: sweep them
    // as requests finish.
    const sweep = setInterval(() => this.server.closeIdleConnections(), IDLE_SWEEP_MS);
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), DRAIN_TIMEOUT_MS);
    });
    try {
      if (await Promise.race([closed.then(() => false), timedOut])) {
        this.logger.warn(`In-flight requests did not finish within ${DRAIN_TIMEOUT_MS} ms; closing their connections.`);
        this.server.closeAllConnections();
        await closed;
      }
    } finally {
      clearInterval(sweep);
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.emulator?.close();
  }
}
