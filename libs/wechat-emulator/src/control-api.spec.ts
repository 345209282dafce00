import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveEmulatorToSpecFile } from '../../../test/support/emulator-spec.js';
import { DEMO_APP } from './demo-data.js';
import { WechatEmulator } from './wechat-emulator.js';

const emulator = new WechatEmulator();
let origin: string;

async function control(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') {
  const response = await fetch(`${origin}/__emulator/${path}`, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function exchange(base: string, code: string) {
  const response = await fetch(
    `${base}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`,
  );
  return (await response.json()) as Record<string, unknown>;
}

serveEmulatorToSpecFile(emulator, { listening: (at) => (origin = at) });

describe('control API over HTTP (/__emulator/)', () => {
  it('mints a code, and counts its exchanges', async () => {
    const minted = await control('mint', { userId: 'lihua', scope: 'snsapi_base' });
    expect(minted.status).toBe(200);
    expect(minted.type).toBe('application/json; charset=utf-8');
    const code = minted.json.code as string;
    expect(code).toMatch(/^[A-Za-z0-9]{32}$/);
    expect((await exchange(origin, code)).scope).toBe('snsapi_base');
    await exchange(origin, code);
    const counters = await control('counters');
    expect(counters.json).toMatchObject({ exchangeCalls: 2, codesMinted: 1, exchangeByCode: { [code]: { calls: 2, outcomes: [0, 40163] } } });
    expect((await control(`exchange-calls?code=${code}`)).json).toEqual({ code, calls: 2 });
  });

  it('mints for a typed nickname and a snapshot user', async () => {
    const code = (await control('mint', { nickname: '控制台用户🎛', snapshot: true })).json.code as string;
    expect((await exchange(origin, code)).is_snapshotuser).toBe(1);
  });

  it('injects faults and clears them', async () => {
    expect((await control('faults', { endpoint: 'access_token', fault: { kind: 'errcode', errcode: -1 }, times: 1 })).status).toBe(200);
    const code = emulator.mintCode({});
    expect((await exchange(origin, code)).errcode).toBe(-1);
    expect((await exchange(origin, code)).errcode).toBe(40163);
    await control('faults', { endpoint: 'auth', fault: { kind: 'http', status: 503 } });
    expect((await fetch(`${origin}/sns/auth`).then(async (r) => [r.status, await r.text()]))[0]).toBe(503);
    expect((await control('faults/clear', {})).status).toBe(200);
    expect(((await fetch(`${origin}/sns/auth`).then((r) => r.json())) as { errcode: number }).errcode).toBe(41001);
  });

  it('sets latency', async () => {
    expect((await control('latency', { endpoint: 'auth', fixedMs: 200 })).status).toBe(200);
    const started = Date.now();
    await fetch(`${origin}/sns/auth`).then((r) => r.arrayBuffer());
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('sets the duplicate-callback default', async () => {
    expect((await control('duplicate', { enabled: true, abortAfterMs: 7 })).json).toEqual({ ok: true, enabled: true, abortAfterMs: 7 });
    const page = await fetch(
      `${origin}/connect/oauth2/authorize?appid=${DEMO_APP.appId}&redirect_uri=${encodeURIComponent('http://127.0.0.1:1/cb')}&response_type=code&scope=snsapi_base&state=s`,
    ).then((r) => r.text());
    expect(page).toContain('name="duplicate" value="on" checked');
    expect(page).toContain('value="7"');
  });

  it('resets', async () => {
    const code = emulator.mintCode({});
    expect((await control('reset', {})).status).toBe(200);
    expect((await exchange(origin, code)).errcode).toBe(40029);
  });

  it.each([
    ['latency', { endpoint: 'nope', fixedMs: 1 }, 400],
    ['latency', { endpoint: 'auth', fixedMs: 'slow' }, 400],
    ['faults', { endpoint: 'auth', fault: { kind: 'explode' } }, 400],
    ['faults', { endpoint: 'auth', fault: { kind: 'hang' }, times: -1 }, 400],
    ['mint', { userId: 42 }, 400],
    ['mint', { userId: 'nobody' }, 400],
    ['mint', { snapshot: 'yes' }, 400],
    ['mint', [1, 2], 400],
    ['mint', '{not json', 400],
    ['duplicate', { enabled: 'yes', abortAfterMs: 5 }, 400],
    ['mint', `{"nickname":"${'x'.repeat(20_000)}"}`, 413],
  ])('POST %s %j answers %i', async (path, body, status) => {
    const answer = await control(path, body);
    expect(answer.status).toBe(status);
    expect(typeof answer.json.error).toBe('string');
  });

  it('answers 404 for unknown routes and 405 for wrong methods', async () => {
    expect((await control('nope')).status).toBe(404);
    expect((await control('reset')).status).toBe(405);
    expect((await control('counters', {}, 'POST')).status).toBe(405);
  });

  it('can be turned off', async () => {
    const closed = new WechatEmulator({ controlApi: false });
    const closedOrigin = await closed.listen();
    try {
      const response = await fetch(`${closedOrigin}/__emulator/counters`);
      expect(response.status).toBe(404);
      await response.arrayBuffer();
    } finally {
      await closed.close();
    }
  });
});

describe('mounted in another server under basePath', () => {
  const mounted = new WechatEmulator({ basePath: '/__wechat/' });
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      mounted.handle(req, res, () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`app:${req.url}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await mounted.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  });

  it('serves its routes under basePath and passes everything else to the app', async () => {
    expect(await fetch(`${base}/`).then((r) => r.text())).toBe('app:/');
    expect(await fetch(`${base}/sns/auth`).then((r) => r.text())).toBe('app:/sns/auth');
    expect(await fetch(`${base}/__wechatx/sns/auth`).then((r) => r.text())).toBe('app:/__wechatx/sns/auth');
    expect(await fetch(`${base}/__wechat/unknown`).then((r) => r.text())).toBe('app:/__wechat/unknown');
    const code = mounted.mintCode({});
    expect((await exchange(`${base}/__wechat`, code)).openid).toBeDefined();
    expect(mounted.exchangeCallsForCode(code)).toBe(1);
    const counters = (await fetch(`${base}/__wechat/__emulator/counters`).then((r) => r.json())) as { exchangeCalls: number };
    expect(counters.exchangeCalls).toBe(1);
    expect(mounted.origin).toBeUndefined();
  });

  it('points the consent form at the mounted confirm route, and the whole login works through it', async () => {
    const page = await fetch(
      `${base}/__wechat/connect/oauth2/authorize?appid=${DEMO_APP.appId}&redirect_uri=${encodeURIComponent(`${base}/cb`)}&response_type=code&scope=snsapi_userinfo&state=x`,
    ).then((r) => r.text());
    expect(page).toContain('action="/__wechat/connect/oauth2/authorize/confirm"');
    const confirmed = await fetch(`${base}/__wechat/connect/oauth2/authorize/confirm`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({
        appid: DEMO_APP.appId,
        redirect_uri: `${base}/cb`,
        response_type: 'code',
        scope: 'snsapi_userinfo',
        state: 'x',
        user: 'zoe',
        action: 'allow',
      }),
    });
    const location = confirmed.headers.get('location') as string;
    expect(location.startsWith(`${base}/cb?code=`)).toBe(true);
    const token = await exchange(`${base}/__wechat`, new URL(location).searchParams.get('code') as string);
    const info = (await fetch(`${base}/__wechat/sns/userinfo?access_token=${token.access_token}&openid=${token.openid}`).then((r) =>
      r.json(),
    )) as { nickname: string };
    expect(info.nickname).toBe('Zoë "<b>测试</b>" & Co 🚀');
    // The callback itself is the app's.
    expect(await fetch(location).then((r) => r.text())).toMatch(/^app:\/cb\?code=/);
  });

  it('without next(), answers 404 outside basePath', async () => {
    const lone = new WechatEmulator({ basePath: '/w' });
    const loneServer = createServer(lone.handle);
    await new Promise<void>((resolve) => loneServer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(loneServer.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${url}/sns/auth`).then(async (r) => [r.status, await r.text()]))[0]).toBe(404);
      expect(((await fetch(`${url}/w/sns/auth`).then((r) => r.json())) as { errcode: number }).errcode).toBe(41001);
    } finally {
      await new Promise<void>((resolve) => {
        loneServer.close(() => resolve());
        loneServer.closeAllConnections();
      });
    }
  });
});
