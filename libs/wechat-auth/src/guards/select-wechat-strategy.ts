import type { Request } from 'express';
import type { WechatRouteOptions } from '../decorators/wechat-auth.decorator.js';
import { isCallbackQuery, queryParamsOf } from '../http/wechat-callback.query.js';
import type { WechatStrategy } from '../strategy/wechat.strategy.js';
import { DEFAULT_STRATEGY_NAME } from '../wechat-auth.constants.js';
import type { WechatAuthFlow } from '../wechat-auth.options.js';

/** How a route picks its login: `auto` by user agent, or one flow always. */
export type WechatRouteFlow = 'auto' | WechatAuthFlow;

/** The longest User-Agent header inspected; real ones are a few hundred characters. */
const MAX_USER_AGENT_LENGTH = 1024;

/**
 * True inside WeChat's built-in browser: its User-Agent carries `MicroMessenger/<version>` (WeChat on phones, and
 * the browser of WeChat for Windows and macOS). There the Official Account login works; elsewhere it only shows
 * "please open in WeChat", and the website QR login is the way in.
 */
export function isWechatUserAgent(userAgent: string | readonly string[] | undefined): boolean {
  const value = Array.isArray(userAgent) ? userAgent.join(' ') : (userAgent as string | undefined);
  if (typeof value !== 'string') return false;
  return /\bMicroMessenger\//i.test(value.slice(0, MAX_USER_AGENT_LENGTH));
}

function named(strategies: ReadonlyMap<string, WechatStrategy>, name: string, option = 'strategy'): WechatStrategy {
  const strategy = strategies.get(name);
  if (!strategy) {
    throw new Error(
      `@WechatAuth({ ${option}: "${name}" }) names no registered WeChat strategy; registered: ${[...strategies.keys()].join(', ')}`,
    );
  }
  return strategy;
}

/** The one strategy of `flow` a route uses: named in `route.strategies`, else the only one (or the default-named one). */
function ofFlow(strategies: ReadonlyMap<string, WechatStrategy>, flow: WechatAuthFlow, route: WechatRouteOptions): WechatStrategy | undefined {
  const name = flow === 'official-account' ? route.strategies?.officialAccount : route.strategies?.websiteQr;
  if (name !== undefined) {
    const strategy = named(strategies, name, `strategies.${flow === 'official-account' ? 'officialAccount' : 'websiteQr'}`);
    if (strategy.flow !== flow) throw new Error(`WeChat strategy "${name}" performs flow "${strategy.flow}", not "${flow}"`);
    return strategy;
  }
  const candidates = [...strategies.values()].filter((strategy) => strategy.flow === flow);
  if (candidates.length <= 1) return candidates[0];
  const fallback = candidates.find((strategy) => strategy.name === DEFAULT_STRATEGY_NAME);
  if (fallback) return fallback;
  const key = flow === 'official-account' ? 'officialAccount' : 'websiteQr';
  throw new Error(
    `Several ${flow} WeChat strategies are registered (${candidates.map((s) => s.name).join(', ')}): ` +
      `name one on this route with @WechatAuth({ strategies: { ${key}: '…' } })`,
  );
}

/**
 * The strategy a guarded request uses.
 *
 * - `@WechatAuth({ strategy })` names it outright.
 * - Otherwise the route's `flow` (or the guard's default) decides: `official-account` / `website-qr` always that
 *   flow; `auto` the Official Account inside WeChat and the website QR login elsewhere, falling back to whichever is
 *   registered. On a callback an `auto` route first asks each candidate whether the state cookie is its own, so one
 *   callback route may serve both flows.
 * - With neither (plain `WechatAuthGuard`): the only registered strategy, else the one named `wechat`.
 * @throws Error (a configuration mistake, answered as 500 by Nest) when the choice is impossible or ambiguous.
 */
export function selectWechatStrategy(
  strategies: ReadonlyMap<string, WechatStrategy>,
  route: WechatRouteOptions,
  req: Pick<Request, 'headers' | 'url'> & { originalUrl?: string },
  defaultFlow?: WechatRouteFlow,
): WechatStrategy {
  if (route.strategy !== undefined) return named(strategies, route.strategy);
  const flow = route.flow ?? defaultFlow;
  if (flow === undefined) {
    if (strategies.size === 1) return strategies.values().next().value as WechatStrategy;
    const fallback = strategies.get(DEFAULT_STRATEGY_NAME);
    if (fallback) return fallback;
    throw new Error(
      `Several WeChat strategies are registered (${[...strategies.keys()].join(', ')}): name one on this route with @WechatAuth({ strategy }), ` +
        "or let the user agent pick with @WechatAuth({ flow: 'auto' }) / WechatAutoAuthGuard",
    );
  }
  if (flow !== 'auto') {
    const strategy = ofFlow(strategies, flow, route);
    if (!strategy) {
      throw new Error(`This route asks for the ${flow} login, but no WechatAuthModule registration has flow "${flow}"`);
    }
    return strategy;
  }

  const candidates = [ofFlow(strategies, 'official-account', route), ofFlow(strategies, 'website-qr', route)].filter(
    (strategy): strategy is WechatStrategy => strategy !== undefined,
  );
  if (candidates.length === 0) throw new Error('No WeChat strategy is registered for this route');
  if (candidates.length > 1 && isCallbackQuery(queryParamsOf(req.originalUrl ?? req.url, ['code', 'state']))) {
    // The login that set this browser's state cookie is the one this callback completes, whatever the user agent.
    const owners = candidates.filter((strategy) => strategy.recognizesCallback(req as Request));
    if (owners.length === 1) return owners[0]!;
  }
  const preferred: WechatAuthFlow = isWechatUserAgent(req.headers['user-agent']) ? 'official-account' : 'website-qr';
  return candidates.find((strategy) => strategy.flow === preferred) ?? candidates[0]!;
}
