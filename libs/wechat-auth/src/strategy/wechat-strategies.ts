import { Injectable } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { WechatAuthFlow } from '../wechat-auth.options.js';
import { WechatQrStrategy } from './wechat-qr.strategy.js';
import { WechatStrategy } from './wechat.strategy.js';

/**
 * Every WeChat strategy registered in the app (one per `WechatAuthModule` registration), by name.
 * @throws Error when none is registered, or when two registrations share a `strategyName` (the second would
 *   silently replace the first in passport).
 */
export function collectWechatStrategies(moduleRef: ModuleRef): Map<string, WechatStrategy> {
  let found: WechatStrategy[];
  try {
    found = moduleRef.get(WechatStrategy, { strict: false, each: true });
  } catch {
    found = [];
  }
  if (found.length === 0) {
    throw new Error('WechatAuthGuard found no WeChat strategy: import WechatAuthModule.forRoot() or forRootAsync() in your app');
  }
  const byName = new Map<string, WechatStrategy>();
  for (const strategy of found) {
    if (byName.has(strategy.name)) {
      throw new Error(`Two WechatAuthModule registrations use the strategy name "${strategy.name}": give each its own strategyName`);
    }
    byName.set(strategy.name, strategy);
  }
  return byName;
}

/**
 * The app's registered WeChat strategies, for code that needs one by name: e.g. the website QR strategy's
 * {@link WechatQrStrategy.wxLoginOptions} for an embedded QR code, or an Official Account's menu-entry URL.
 * Injectable wherever `WechatAuthModule` is imported; every registration sees all of them.
 *
 * @example
 * constructor(private readonly wechat: WechatStrategies) {}
 * loginPage(@Res() res: Response) { const params = this.wechat.qr().wxLoginOptions(res, { containerId: 'qr' }); … }
 */
@Injectable()
export class WechatStrategies implements OnApplicationBootstrap {
  /** Looked up once, on first use: by then every registration's strategy exists. Bounded by the registrations. */
  private byName?: Map<string, WechatStrategy>;

  constructor(private readonly moduleRef: ModuleRef) {}

  /**
   * Checks the registrations once the app is assembled, so that two sharing a `strategyName` fail the boot rather
   * than the first login.
   */
  onApplicationBootstrap(): void {
    this.all();
  }

  /** Every registered strategy, by `strategyName`. */
  all(): ReadonlyMap<string, WechatStrategy> {
    return (this.byName ??= collectWechatStrategies(this.moduleRef));
  }

  /**
   * The strategy registered under `name`.
   * @throws Error naming the registered strategies when there is none by that name.
   */
  get(name: string): WechatStrategy {
    const strategy = this.all().get(name);
    if (!strategy) throw new Error(`No WeChat strategy is named "${name}"; registered: ${[...this.all().keys()].join(', ')}`);
    return strategy;
  }

  /** The strategies of one flow, in registration order. */
  ofFlow(flow: WechatAuthFlow): WechatStrategy[] {
    return [...this.all().values()].filter((strategy) => strategy.flow === flow);
  }

  /**
   * A website QR-login strategy: the one named `name`, else the only one registered.
   * @throws Error when it does not exist, is not a website QR strategy, or several exist and none is named.
   */
  qr(name?: string): WechatQrStrategy {
    if (name !== undefined) {
      const named = this.get(name);
      if (!(named instanceof WechatQrStrategy)) throw new Error(`WeChat strategy "${name}" is not a website QR login (flow "${named.flow}")`);
      return named;
    }
    const candidates = this.ofFlow('website-qr');
    if (candidates.length !== 1) {
      throw new Error(
        candidates.length === 0
          ? 'No website QR-login strategy is registered: register WechatAuthModule with flow "website-qr"'
          : `Several website QR-login strategies are registered (${candidates.map((s) => s.name).join(', ')}): name one`,
      );
    }
    return candidates[0] as WechatQrStrategy;
  }
}
