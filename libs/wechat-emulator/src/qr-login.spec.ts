import { describe, expect, it } from '@jest/globals';
import { queryWithDefaults, serveEmulatorToSpecFile } from '../../../test/support/emulator-spec.js';
import { DEMO_APP, DEMO_USERS, DEMO_WEB_APP } from './demo-data.js';
import { WechatEmulator } from './wechat-emulator.js';

const REDIRECT = 'http://127.0.0.1:3000/auth/wechat/web/callback?from=qr';
const enc = encodeURIComponent;

let clock = Date.now();
const emulator = new WechatEmulator({
  apps: [
    { ...DEMO_APP },
    { ...DEMO_WEB_APP },
    { appId: 'wx00000000000000e1', appSecret: 'unboundWebSecretA1s2D3f4G5h6J7k8', kind: 'website', openPlatformBound: false },
  ],
  now: () => clock,
});
let origin: string;

const qrQuery = queryWithDefaults({
  appid: DEMO_WEB_APP.appId,
  redirect_uri: REDIRECT,
  response_type: 'code',
  scope: 'snsapi_login',
  state: 'Qr5tate',
});

interface QrPage {
  status: number;
  html: string;
  headers: Headers;
  /** The scan link's path and query (relative to the emulator). */
  scanPath: string;
  uuid: string;
}

async function openQrPage(query = qrQuery()): Promise<QrPage> {
  const response = await fetch(`${origin}/connect/qrconnect?${query}`);
  const html = await response.text();
  const scanPath = /id="qr-scan-link" href="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? '';
  return { status: response.status, html, headers: response.headers, scanPath, uuid: new URLSearchParams(scanPath.split('?')[1]).get('uuid') ?? '' };
}

async function poll(uuid: string, extra = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${origin}/connect/qrconnect/poll?uuid=${enc(uuid)}${extra}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function decide(uuid: string, fields: Record<string, string>): Promise<{ status: number; html: string }> {
  const response = await fetch(`${origin}/connect/confirm`, {
    method: 'POST',
    body: new URLSearchParams({ uuid, ...fields }),
    redirect: 'manual',
  });
  return { status: response.status, html: await response.text() };
}

async function exchange(app: { appId: string; appSecret: string }, code: string): Promise<Record<string, unknown>> {
  const response = await fetch(
    `${origin}/sns/oauth2/access_token?appid=${app.appId}&secret=${app.appSecret}&code=${code}&grant_type=authorization_code`,
  );
  return (await response.json()) as Record<string, unknown>;
}

/** Walks a whole QR login: page, scan, Allow as `user`; returns the callback URL the page is sent to. */
async function qrLogin(user = 'panda', query = qrQuery()): Promise<URL> {
  const page = await openQrPage(query);
  expect(page.status).toBe(200);
  expect((await fetch(`${origin}${page.scanPath}`)).status).toBe(200);
  expect((await decide(page.uuid, { user, action: 'allow' })).status).toBe(200);
  const answer = await poll(page.uuid);
  expect(answer.json.status).toBe('confirmed');
  return new URL(answer.json.redirect as string);
}

serveEmulatorToSpecFile(emulator, { listening: (at) => (origin = at), beforeEachTest: () => (clock = Date.now()) });

describe('GET /connect/qrconnect', () => {
  it('serves a QR page for a website app: a QR code, the scan link, a nonce-locked poll script', async () => {
    const page = await openQrPage();
    expect(page.status).toBe(200);
    expect(page.html).toContain('<svg class="qr"');
    expect(page.scanPath).toMatch(/^\/connect\/confirm\?uuid=[A-Za-z0-9_-]{16}$/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("connect-src 'self'");
    expect(page.html).toContain(`/connect/qrconnect/poll?uuid=${page.uuid}`);
    expect(emulator.counters().qrLogin.pageViews).toBe(1);
    // Every page view is a new QR code.
    expect((await openQrPage()).uuid).not.toBe(page.uuid);
  });

  it.each([
    ['parameters out of order', qrQuery({}, ['redirect_uri', 'appid', 'response_type', 'scope', 'state']), /parameters out of order/, undefined],
    ["an Official Account's appid", qrQuery({ appid: DEMO_APP.appId }), /not an Open Platform website app/, 10005],
    ['an Official Account scope', qrQuery({ scope: 'snsapi_userinfo' }), /scope must be snsapi_login/, 10005],
    ['an unknown appid', qrQuery({ appid: 'wx0000000000000000' }), /unknown appid/, 40013],
    ['a bad state', qrQuery({ state: 'a+b' }), /state must be/, undefined],
    ['an unencoded redirect_uri', `appid=${DEMO_WEB_APP.appId}&redirect_uri=${REDIRECT}&response_type=code&scope=snsapi_login&state=a`, /must be URL-encoded/, undefined],
    ['a missing response_type', qrQuery({}, ['appid', 'redirect_uri', 'scope', 'state']), /missing parameter: response_type/, undefined],
  ])('refuses %s with WeChat\'s error page', async (_what, query, message, errcode) => {
    const page = await openQrPage(query);
    expect(page.status).toBe(400);
    expect(page.html).toMatch(message);
    if (errcode !== undefined) expect(page.html).toContain(`errcode ${errcode}`);
    expect(emulator.counters().qrLogin.pageViews).toBe(0);
  });

  it("answers 10016 when a website app's appid is used on the Official Account authorize page", async () => {
    const response = await fetch(
      `${origin}/connect/oauth2/authorize?appid=${DEMO_WEB_APP.appId}&redirect_uri=${enc(REDIRECT)}&response_type=code&scope=snsapi_userinfo&state=s`,
    );
    const html = await response.text();
    expect(response.status).toBe(400);
    expect(html).toContain('errcode 10016');
    expect(emulator.counters().authorizePageViews).toBe(0);
  });
});

describe('scan, confirm, collect', () => {
  it('walks waiting → scanned → confirmed; the page learns the callback with code and state', async () => {
    const page = await openQrPage();
    expect((await poll(page.uuid)).json).toEqual({ status: 'waiting' });

    const scan = await fetch(`${origin}${page.scanPath}`);
    const scanHtml = await scan.text();
    expect(scan.status).toBe(200);
    expect(scanHtml).toContain(DEMO_WEB_APP.appId);
    expect(scanHtml).toContain(`name="uuid" value="${page.uuid}"`);
    for (const user of DEMO_USERS) expect(scanHtml).toContain(`value="${user.id}"`);
    expect((await poll(page.uuid)).json).toEqual({ status: 'scanned' });

    expect((await decide(page.uuid, { user: 'lihua', action: 'allow' })).status).toBe(200);
    const done = await poll(page.uuid);
    expect(done.json.status).toBe('confirmed');
    const callback = new URL(done.json.redirect as string);
    expect(`${callback.origin}${callback.pathname}`).toBe('http://127.0.0.1:3000/auth/wechat/web/callback');
    expect(callback.searchParams.get('from')).toBe('qr');
    expect(callback.searchParams.get('state')).toBe('Qr5tate');
    expect(callback.searchParams.get('code')).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(emulator.counters().qrLogin).toEqual({ pageViews: 1, scans: 1, allowed: 1, denied: 0 });

    // Without scripts, the page's "continue" link redirects the same way.
    const next = await fetch(`${origin}/connect/qrconnect/continue?uuid=${page.uuid}`, { redirect: 'manual' });
    expect(next.status).toBe(302);
    expect(next.headers.get('location')).toBe(done.json.redirect);

    // A QR code is used once: the phone cannot confirm it again.
    expect((await decide(page.uuid, { user: 'panda', action: 'allow' })).status).toBe(409);
    expect((await fetch(`${origin}${page.scanPath}`)).status).toBe(409);
  });

  it('holds a long poll until the status changes (bounded), and answers at once when it already differs', async () => {
    const page = await openQrPage();
    const started = Date.now();
    const held = poll(page.uuid, '&last=waiting&wait=5000');
    await new Promise((resolve) => setTimeout(resolve, 150));
    await fetch(`${origin}${page.scanPath}`);
    expect((await held).json).toEqual({ status: 'scanned' });
    expect(Date.now() - started).toBeLessThan(4000);

    // `last` differs from the current status: no wait at all.
    expect((await poll(page.uuid, '&last=waiting&wait=5000')).json).toEqual({ status: 'scanned' });
    // Nothing changes: the poll ends after `wait` with the same status.
    const quiet = Date.now();
    expect((await poll(page.uuid, '&last=scanned&wait=300')).json).toEqual({ status: 'scanned' });
    expect(Date.now() - quiet).toBeGreaterThanOrEqual(250);
  });

  it('Deny cancels the QR code: the page shows it, nothing is minted, no redirect', async () => {
    const page = await openQrPage();
    await fetch(`${origin}${page.scanPath}`);
    const denied = await decide(page.uuid, { action: 'deny' });
    expect(denied.status).toBe(200);
    expect((await poll(page.uuid)).json).toEqual({ status: 'denied' });
    expect(emulator.counters()).toMatchObject({ codesMinted: 0, qrLogin: { denied: 1, allowed: 0 } });
    const next = await fetch(`${origin}/connect/qrconnect/continue?uuid=${page.uuid}`, { redirect: 'manual' });
    expect(next.status).toBe(409);
  });

  it('expires an unused QR code (the page learns it; the phone can no longer scan it)', async () => {
    const page = await openQrPage();
    clock += 300_000;
    expect((await poll(page.uuid)).json).toEqual({ status: 'expired' });
    expect((await fetch(`${origin}${page.scanPath}`)).status).toBe(410);
    expect((await decide(page.uuid, { user: 'panda', action: 'allow' })).status).toBe(410);
  });

  it('refuses unknown or malformed uuids and bad decisions', async () => {
    expect((await poll('AAAAAAAAAAAAAAAA')).status).toBe(404);
    expect((await poll('../../etc/passwd')).status).toBe(404);
    expect((await fetch(`${origin}/connect/confirm?uuid=nope`)).status).toBe(404);
    const page = await openQrPage();
    expect((await decide(page.uuid, { action: 'maybe' })).status).toBe(400);
    expect((await decide(page.uuid, { user: 'nobody', action: 'allow' })).status).toBe(400);
    const twice = await fetch(`${origin}/connect/confirm`, { method: 'POST', body: `uuid=${page.uuid}&uuid=${page.uuid}&action=allow` ,
      headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(twice.status).toBe(400);
    expect((await fetch(`${origin}/connect/qrconnect`, { method: 'POST' })).status).toBe(405);
    expect(emulator.counters().codesMinted).toBe(0);
  });

  it('drops held polls on reset (nothing outlives the emulator)', async () => {
    const page = await openQrPage();
    const held = fetch(`${origin}/connect/qrconnect/poll?uuid=${page.uuid}&last=waiting&wait=20000`).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    emulator.reset();
    await expect(held).resolves.toBe('dropped');
  });
});

describe('a website app\'s codes and tokens', () => {
  it('exchanges a QR code for a snsapi_login token with the unionid; userinfo answers for it', async () => {
    const callback = await qrLogin('zoe');
    const token = await exchange(DEMO_WEB_APP, callback.searchParams.get('code')!);
    expect(token).toMatchObject({ scope: 'snsapi_login', expires_in: 7200 });
    expect(typeof token.unionid).toBe('string');
    const info = await (await fetch(`${origin}/sns/userinfo?access_token=${token.access_token}&openid=${token.openid}`)).json();
    expect(info).toMatchObject({ openid: token.openid, nickname: DEMO_USERS[2]!.nickname, unionid: token.unionid });
    const renewed = await (
      await fetch(`${origin}/sns/oauth2/refresh_token?appid=${DEMO_WEB_APP.appId}&grant_type=refresh_token&refresh_token=${token.refresh_token}`)
    ).json();
    expect(renewed).toMatchObject({ openid: token.openid, scope: 'snsapi_login' });
    expect(await (await fetch(`${origin}/sns/auth?access_token=${token.access_token}&openid=${token.openid}`)).json()).toEqual({
      errcode: 0,
      errmsg: 'ok',
    });
  });

  it('gives one demo user the same unionid in both demo apps and a different openid in each', async () => {
    const web = await exchange(DEMO_WEB_APP, (await qrLogin('panda')).searchParams.get('code')!);
    const mp = await exchange(DEMO_APP, emulator.mintCode({ appId: DEMO_APP.appId, userId: 'panda', scope: 'snsapi_userinfo' }));
    expect(web.unionid).toBe(mp.unionid);
    expect(web.openid).not.toBe(mp.openid);
    const other = await exchange(DEMO_WEB_APP, emulator.mintCode({ appId: DEMO_WEB_APP.appId, userId: 'lihua' }));
    expect(other.unionid).not.toBe(web.unionid);
  });

  it('omits the unionid for a website app that is explicitly not bound', async () => {
    const unbound = { appId: 'wx00000000000000e1', appSecret: 'unboundWebSecretA1s2D3f4G5h6J7k8' };
    const token = await exchange(unbound, emulator.mintCode({ appId: unbound.appId }));
    expect(token.scope).toBe('snsapi_login');
    expect(token.unionid).toBeUndefined();
  });

  it('keeps a QR code valid 600 s (an Official Account code: 300 s)', async () => {
    const webCode = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    const mpCode = emulator.mintCode({ appId: DEMO_APP.appId });
    const lateWebCode = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    clock += 300_000;
    expect((await exchange(DEMO_APP, mpCode)).errcode).toBe(42003);
    expect((await exchange(DEMO_WEB_APP, webCode)).scope).toBe('snsapi_login');
    clock += 300_000;
    expect((await exchange(DEMO_WEB_APP, lateWebCode)).errcode).toBe(42003);
  });

  it('a code of one app is invalid for the other (codes are per appid)', async () => {
    const webCode = emulator.mintCode({ appId: DEMO_WEB_APP.appId });
    expect((await exchange(DEMO_APP, webCode)).errcode).toBe(40029);
  });

  it('mints only the scopes an app\'s kind grants', () => {
    expect(() => emulator.mintCode({ appId: DEMO_WEB_APP.appId, scope: 'snsapi_userinfo' })).toThrow(/snsapi_login/);
    expect(() => emulator.mintCode({ appId: DEMO_APP.appId, scope: 'snsapi_login' })).toThrow(/website app/);
  });

  it('mints through the control API too', async () => {
    const minted = await fetch(`${origin}/__emulator/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appId: DEMO_WEB_APP.appId, userId: 'zoe' }),
    });
    const { code } = (await minted.json()) as { code: string };
    expect((await exchange(DEMO_WEB_APP, code)).scope).toBe('snsapi_login');
    const refused = await fetch(`${origin}/__emulator/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appId: DEMO_APP.appId, scope: 'snsapi_login' }),
    });
    expect(refused.status).toBe(400);
  });
});
