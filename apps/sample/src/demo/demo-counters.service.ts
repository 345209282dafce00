import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CodeExchangeService } from 'nestjs-wechat-auth';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import type { CounterView } from '../views/pages.js';
import { DEMO_EMULATOR } from './demo.tokens.js';
import { SampleStats } from './sample-stats.service.js';

/** The demo's counters, side by side: what reached the app, what was coalesced, what reached "WeChat". */
export interface DemoCounters {
  /** Callback requests that reached the app, duplicates included. */
  callbackRequests: number;
  /** Sessions the callback started. */
  sessionsStarted: number;
  /** Code exchanges that reached the emulator (`/sns/oauth2/access_token`). */
  upstreamExchanges?: number;
  /** `/sns/userinfo` calls that reached the emulator. */
  upstreamUserinfoCalls?: number;
  /** Callbacks answered from another request's exchange instead of spending the code again. */
  duplicatesCoalesced: number;
  /** The code-exchange service's own counters (winners ran the exchange; the others shared one). */
  codeExchange: Record<string, number>;
}

@Injectable()
export class DemoCountersService {
  constructor(
    private readonly stats: SampleStats,
    private readonly moduleRef: ModuleRef,
    @Inject(DEMO_EMULATOR) private readonly emulator: WechatEmulator | null,
  ) {}

  /** Every WeChat app's code-exchange counters, added up (the Official Account and the website app each have one). */
  private exchangeStats(): ReturnType<CodeExchangeService['stats']> {
    const services = this.moduleRef.get(CodeExchangeService, { strict: false, each: true });
    const [first, ...others] = services.map((service) => service.stats());
    const total = { ...first! };
    for (const stats of others) {
      for (const key of ['winners', 'localJoins', 'remoteWaits', 'lateHits', 'replaysRejected', 'inFlight'] as const) {
        total[key] += stats[key];
      }
    }
    return total;
  }

  snapshot(): DemoCounters {
    const exchange = this.exchangeStats();
    const upstream = this.emulator?.counters();
    return {
      callbackRequests: this.stats.callbackRequests,
      sessionsStarted: this.stats.sessionsStarted,
      ...(upstream ? { upstreamExchanges: upstream.exchangeCalls, upstreamUserinfoCalls: upstream.userinfoCalls } : {}),
      duplicatesCoalesced: exchange.localJoins + exchange.remoteWaits + exchange.lateHits,
      codeExchange: {
        winners: exchange.winners,
        localJoins: exchange.localJoins,
        remoteWaits: exchange.remoteWaits,
        lateHits: exchange.lateHits,
        replaysRejected: exchange.replaysRejected,
        inFlight: exchange.inFlight,
      },
    };
  }

  view(c: DemoCounters): CounterView[] {
    return [
      { label: '回调请求 Callback requests', value: c.callbackRequests, hint: 'GET /auth/wechat/callback requests that reached the app, duplicates included' },
      ...(c.upstreamExchanges !== undefined
        ? [{ label: '上游换取 Upstream exchanges', value: c.upstreamExchanges, hint: 'code exchanges that reached WeChat (the emulator)' }]
        : []),
      { label: '合并的重复 Duplicates coalesced', value: c.duplicatesCoalesced, hint: 'callbacks served from the first exchange of their code' },
      { label: '会话 Sessions started', value: c.sessionsStarted, hint: 'sessions the callback started' },
    ];
  }
}
