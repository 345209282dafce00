/**
 * WechatStrategy is a passport strategy: @nestjs/passport's own `AuthGuard('wechat')` runs it through
 * `passport.authenticate()`. WechatAuthGuard drives the strategy with the same action protocol without passport's
 * middleware, so this checks the passport path on its own: the login redirect, the sign-in, the duplicate served
 * from the one exchange, and a refused callback answered with its 4xx (not a 500).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { WechatAuthModule } from 'nestjs-wechat-auth';
import type { WechatAuthUser } from 'nestjs-wechat-auth';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { Browser, consent, demoAppOptions, freePort, onApp, startApp, stateOf } from './wechat-auth-e2e-helpers.js';
import type { TestApp } from './wechat-auth-e2e-helpers.js';

/** Routes guarded by passport's AuthGuard, as an app that prefers @nestjs/passport writes them. */
@Controller('passport/wechat')
class PassportGuardedController {
  @Get()
  @UseGuards(AuthGuard('wechat'))
  login(): void {}

  @Get('callback')
  @UseGuards(AuthGuard('wechat'))
  callback(@Req() req: Request & { user?: WechatAuthUser }): { openid: string; scope: string; appId: string } {
    const user = req.user!;
    return { openid: user.openid, scope: user.scope, appId: user.appId };
  }
}

let emulator: WechatEmulator;
let testApp: TestApp;
let callbackURL: string;

beforeAll(async () => {
  emulator = new WechatEmulator();
  const emulatorOrigin = await emulator.listen();
  const port = await freePort();
  callbackURL = `http://127.0.0.1:${port}/passport/wechat/callback`;
  testApp = await startApp([WechatAuthModule.forRoot(demoAppOptions(emulatorOrigin, port, { callbackURL, scope: 'snsapi_base' }))], {
    port,
    controllers: [PassportGuardedController],
  });
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await testApp?.close();
  await emulator?.close();
});

describe("WechatStrategy under @nestjs/passport's AuthGuard('wechat')", () => {
  it('redirects to the authorize URL with a state bound to the cookie it sets', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/passport/wechat`);
    expect(login.status).toBe(302);
    expect(login.location).toContain(`/connect/oauth2/authorize?appid=${DEMO_APP.appId}&redirect_uri=${encodeURIComponent(callbackURL)}`);
    expect(stateOf(login.location!)).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(login.setCookies).toHaveLength(1);
    expect(login.setCookies[0]).toMatch(/HttpOnly/i);
  });

  it('signs in, and serves the duplicate callback from the same single exchange', async () => {
    const browser = new Browser();
    const login = await browser.get(`${testApp.origin}/passport/wechat`);
    const callback = onApp(testApp.origin, await consent(login.location!, { action: 'allow', user: 'panda' }));

    const [first, second] = await Promise.all([browser.get(callback), browser.get(callback)]);
    for (const answer of [first, second]) {
      expect(answer.status).toBe(200);
      expect(answer.json()).toEqual({ openid: expect.stringMatching(/^o/), scope: 'snsapi_base', appId: DEMO_APP.appId });
    }
    expect(second.json()).toEqual(first.json());
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 1 });
  });

  it('refuses a callback whose state is not this browser\'s with a 401, without calling WeChat', async () => {
    const victim = new Browser();
    const login = await victim.get(`${testApp.origin}/passport/wechat`);
    const callback = onApp(testApp.origin, await consent(login.location!, { action: 'allow' }));

    const attacker = new Browser();
    const answer = await attacker.get(callback);
    // No state cookie in this browser. Under passport's middleware the strategy maps its typed error itself: the
    // same 401 as under WechatAuthGuard.
    expect(answer.status).toBe(401);
    expect(answer.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(answer.text).not.toContain('openid');
    expect(emulator.counters()).toMatchObject({ exchangeCalls: 0 });
  });
});
