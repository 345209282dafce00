import { Injectable, type NestMiddleware } from '@nestjs/common';

/**
 * What this instance has seen, for the demo's counters panel: the emulator counts what reached "WeChat", the
 * code-exchange service counts what it coalesced, and this counts what reached the app.
 */
@Injectable()
export class SampleStats {
  /** Requests of `GET /auth/wechat/callback`, duplicates included, counted as they arrive (before any guard). */
  callbackRequests = 0;
  /** Sessions started by a successful callback (every duplicate that succeeds starts one, for the same user). */
  sessionsStarted = 0;
}

/** Counts callback requests as they arrive, including the Android client's aborted first hit. */
@Injectable()
export class CallbackCounterMiddleware implements NestMiddleware {
  constructor(private readonly stats: SampleStats) {}

  use(_req: unknown, _res: unknown, next: () => void): void {
    this.stats.callbackRequests += 1;
    next();
  }
}
