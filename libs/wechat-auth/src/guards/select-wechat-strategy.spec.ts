import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { WechatAuth } from '../decorators/wechat-auth.decorator.js';
import type { WechatStrategy } from '../strategy/wechat.strategy.js';
import { isWechatUserAgent, selectWechatStrategy } from './select-wechat-strategy.js';

const WECHAT_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.48(0x18003030)';
const DESKTOP_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

/** Stand-ins with what selection reads: a name, a flow, and whether the request's state cookie is theirs. */
function strategy(name: string, flow: 'official-account' | 'website-qr', owns = false): WechatStrategy {
  return { name, flow, recognizesCallback: () => owns } as unknown as WechatStrategy;
}

function registry(...strategies: WechatStrategy[]): Map<string, WechatStrategy> {
  return new Map(strategies.map((s) => [s.name, s]));
}

function req(userAgent?: string, url = '/login'): { headers: Record<string, string>; url: string } {
  return { headers: userAgent === undefined ? {} : { 'user-agent': userAgent }, url };
}

describe('isWechatUserAgent', () => {
  it.each([
    [WECHAT_UA, true],
    ['Mozilla/5.0 (Windows NT 10.0) Chrome/81 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat', true],
    ['Mozilla/5.0 (Linux; Android 14) micromessenger/8.0.49', true],
    [DESKTOP_UA, false],
    ['Mozilla/5.0 MicroMessengerX', false],
    ['', false],
    [undefined, false],
    [['curl/8', 'MicroMessenger/8.0'], true],
  ])('%s → %s', (ua, expected) => {
    expect(isWechatUserAgent(ua as string | string[] | undefined)).toBe(expected);
  });

  it('only looks at the first 1024 characters', () => {
    expect(isWechatUserAgent(`${'x'.repeat(2000)} MicroMessenger/8.0`)).toBe(false);
  });
});

describe('selectWechatStrategy', () => {
  const mp = strategy('wechat', 'official-account');
  const web = strategy('wechat-web', 'website-qr');

  it('without a route choice: the only strategy, else the one named "wechat", else a configuration error', () => {
    expect(selectWechatStrategy(registry(web), {}, req())).toBe(web);
    expect(selectWechatStrategy(registry(mp, web), {}, req(DESKTOP_UA))).toBe(mp);
    expect(() => selectWechatStrategy(registry(strategy('a', 'official-account'), web), {}, req())).toThrow(/name one on this route/);
  });

  it('auto: the Official Account inside WeChat, the QR login elsewhere, whichever exists when only one does', () => {
    expect(selectWechatStrategy(registry(mp, web), {}, req(WECHAT_UA), 'auto')).toBe(mp);
    expect(selectWechatStrategy(registry(mp, web), {}, req(DESKTOP_UA), 'auto')).toBe(web);
    expect(selectWechatStrategy(registry(mp, web), { flow: 'auto' }, req(DESKTOP_UA))).toBe(web);
    expect(selectWechatStrategy(registry(mp), {}, req(DESKTOP_UA), 'auto')).toBe(mp);
    expect(selectWechatStrategy(registry(web), {}, req(WECHAT_UA), 'auto')).toBe(web);
  });

  it('a route may force a flow or name a strategy, over the guard\'s default', () => {
    expect(selectWechatStrategy(registry(mp, web), { flow: 'website-qr' }, req(WECHAT_UA), 'auto')).toBe(web);
    expect(selectWechatStrategy(registry(mp, web), { flow: 'official-account' }, req(DESKTOP_UA), 'auto')).toBe(mp);
    expect(selectWechatStrategy(registry(mp, web), { strategy: 'wechat-web' }, req(WECHAT_UA), 'auto')).toBe(web);
    expect(() => selectWechatStrategy(registry(mp), { flow: 'website-qr' }, req())).toThrow(/no WechatAuthModule registration has flow "website-qr"/);
    expect(() => selectWechatStrategy(registry(mp), { strategy: 'nope' }, req())).toThrow(/names no registered WeChat strategy; registered: wechat/);
  });

  it('several of one flow: the named one, else "wechat", else a configuration error naming the option', () => {
    const second = strategy('mp-b', 'official-account');
    const third = strategy('mp-c', 'official-account');
    expect(selectWechatStrategy(registry(mp, second, web), {}, req(WECHAT_UA), 'auto')).toBe(mp);
    expect(selectWechatStrategy(registry(mp, second, web), { strategies: { officialAccount: 'mp-b' } }, req(WECHAT_UA), 'auto')).toBe(second);
    expect(() => selectWechatStrategy(registry(second, third, web), {}, req(WECHAT_UA), 'auto')).toThrow(
      /strategies: \{ officialAccount: '…' \}/,
    );
    expect(() => selectWechatStrategy(registry(mp, web), { strategies: { officialAccount: 'wechat-web' } }, req(WECHAT_UA), 'auto')).toThrow(
      /performs flow "website-qr", not "official-account"/,
    );
  });

  it('on a callback, the strategy whose state cookie it is wins over the user agent', () => {
    const owner = strategy('wechat-web', 'website-qr', true);
    expect(selectWechatStrategy(registry(mp, owner), {}, req(WECHAT_UA, '/cb?code=abc&state=def'), 'auto')).toBe(owner);
    // Nobody recognizes it: the user agent decides, and that strategy refuses the callback itself.
    expect(selectWechatStrategy(registry(mp, web), {}, req(WECHAT_UA, '/cb?code=abc&state=def'), 'auto')).toBe(mp);
  });
});

describe('@WechatAuth() route options', () => {
  it('refuses bad flows and strategy maps at startup', () => {
    expect(() => WechatAuth({ flow: 'qr' as never })).toThrow(/flow/);
    expect(() => WechatAuth({ flow: 'auto', strategy: 'x' })).toThrow(/either strategy .* or flow/);
    expect(() => WechatAuth({ strategies: { officialAccount: '' } })).toThrow(/strategies/);
    expect(() => WechatAuth({ strategies: { mp: 'x' } as never })).toThrow(/strategies/);
    expect(() => WechatAuth({ strategies: null as never })).toThrow(/strategies/);
    expect(() => WechatAuth({ flow: 'auto', strategies: { officialAccount: 'mp', websiteQr: 'web' } })).not.toThrow();
  });
});
