import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { WechatApiClient } from 'nestjs-wechat-auth';
import { DEMO_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';

@Controller()
class CallbackController {
  @Get('cb')
  callback(): string {
    return 'app callback';
  }
}

@Module({ controllers: [CallbackController] })
class HostModule {}

/**
 * The emulator mounted inside a Nest (Express) app, both before Nest's body parsers (the stream is unread) and after
 * them (the body is already parsed into req.body): the consent form and the JSON control API work either way.
 */
describe.each([
  ['before the body parsers', false],
  ['after the body parsers', true],
])('WechatEmulator mounted in a Nest app %s', (_label, parsersFirst) => {
  const emulator = new WechatEmulator({ basePath: '/__wechat' });
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const nest = await NestFactory.create<NestExpressApplication>(HostModule, { logger: false, bodyParser: !parsersFirst });
    if (parsersFirst) {
      nest.useBodyParser('urlencoded', { extended: false });
      nest.useBodyParser('json');
    }
    nest.use(emulator.handle);
    await nest.listen(0, '127.0.0.1');
    app = nest;
    base = `http://127.0.0.1:${(nest.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await emulator.close();
    await app?.close();
  });

  it('runs the whole login through the mounted emulator with the library client', async () => {
    const client = new WechatApiClient({
      appId: DEMO_APP.appId,
      appSecret: DEMO_APP.appSecret,
      apiBaseURL: `${base}/__wechat`,
      oauthBaseURL: `${base}/__wechat`,
    });
    const authorizeUrl = client.buildAuthorizeUrl({ redirectUri: `${base}/cb`, scope: 'snsapi_userinfo', state: 'n3st' });
    const page = await fetch(authorizeUrl.split('#')[0] as string);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('action="/__wechat/connect/oauth2/authorize/confirm"');

    const confirmed = await fetch(`${base}/__wechat/connect/oauth2/authorize/confirm`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({
        appid: DEMO_APP.appId,
        redirect_uri: `${base}/cb`,
        response_type: 'code',
        scope: 'snsapi_userinfo',
        state: 'n3st',
        user: '__custom__',
        nickname: 'Nest 用户 🐈',
        action: 'allow',
      }),
    });
    expect(confirmed.status).toBe(302);
    const location = new URL(confirmed.headers.get('location') as string);
    expect(location.searchParams.get('state')).toBe('n3st');
    expect(await fetch(location).then((r) => r.text())).toBe('app callback');

    const token = await client.exchangeCode(location.searchParams.get('code') as string);
    const info = await client.getUserInfo(token.accessToken, token.openid);
    expect(info.nickname).toBe('Nest 用户 🐈');
  });

  it('serves the JSON control API', async () => {
    const minted = await fetch(`${base}/__wechat/__emulator/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'lihua', scope: 'snsapi_base' }),
    });
    expect(minted.status).toBe(200);
    const { code } = (await minted.json()) as { code: string };
    expect(code).toMatch(/^[A-Za-z0-9]{32}$/);
    const bad = await fetch(`${base}/__wechat/__emulator/latency`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: 'auth', fixedMs: -3 }),
    });
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
  });

  it("leaves the app's own routes alone", async () => {
    const response = await fetch(`${base}/nope`);
    expect(response.status).toBe(404);
    await response.arrayBuffer();
  });
});
