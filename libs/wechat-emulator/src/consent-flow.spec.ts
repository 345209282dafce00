import { describe, expect, it } from '@jest/globals';
import { runInNewContext } from 'node:vm';
import { queryWithDefaults, serveEmulatorToSpecFile } from '../../../test/support/emulator-spec.js';
import { DEMO_APP, DEMO_USERS } from './demo-data.js';
import { WechatEmulator } from './wechat-emulator.js';

const REDIRECT = 'http://127.0.0.1:3000/auth/wechat/callback';

let clock = Date.now();
const emulator = new WechatEmulator({
  apps: [{ ...DEMO_APP }, { appId: 'wx0000000000000d04', appSecret: 'domainSecretA1s2D3f4G5h6J7k8L9zz', authorizedDomains: ['app.example.com'] }],
  duplicateCallback: { enabled: true, abortAfterMs: 19 },
  now: () => clock,
});
let origin: string;

const authorizeQuery = queryWithDefaults({
  appid: DEMO_APP.appId,
  redirect_uri: REDIRECT,
  response_type: 'code',
  scope: 'snsapi_userinfo',
  state: 'St4te',
});

async function authorizePage(query: string): Promise<{ status: number; html: string; headers: Headers }> {
  const response = await fetch(`${origin}/connect/oauth2/authorize?${query}`);
  return { status: response.status, html: await response.text(), headers: response.headers };
}

function confirmFields(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    appid: DEMO_APP.appId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'snsapi_userinfo',
    state: 'St4te',
    forcePopup: '',
    user: 'panda',
    nickname: '',
    abortAfterMs: '19',
    action: 'allow',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
}

async function confirm(fields: Record<string, string> | string): Promise<Response> {
  return fetch(`${origin}/connect/oauth2/authorize/confirm`, {
    method: 'POST',
    body: typeof fields === 'string' ? fields : new URLSearchParams(fields),
    headers: typeof fields === 'string' ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined,
    redirect: 'manual',
  });
}

async function exchange(code: string): Promise<Record<string, unknown>> {
  const response = await fetch(
    `${origin}/sns/oauth2/access_token?appid=${DEMO_APP.appId}&secret=${DEMO_APP.appSecret}&code=${code}&grant_type=authorization_code`,
  );
  return (await response.json()) as Record<string, unknown>;
}

async function profile(code: string): Promise<Record<string, unknown>> {
  const token = await exchange(code);
  const response = await fetch(`${origin}/sns/userinfo?access_token=${token.access_token}&openid=${token.openid}&lang=zh_CN`);
  return { ...token, ...((await response.json()) as Record<string, unknown>) };
}

serveEmulatorToSpecFile(emulator, { listening: (at) => (origin = at), beforeEachTest: () => (clock = Date.now()) });

describe('GET /connect/oauth2/authorize', () => {
  it('serves a consent page with the demo users, escaped, and the request carried in hidden fields', async () => {
    const page = await authorizePage(authorizeQuery({ forcePopup: 'true' }));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.html).toContain('<meta name="viewport"');
    expect(page.html).toContain('微信用户🐼');
    expect(page.html).toContain('允许 Allow');
    expect(page.html).toContain('拒绝 Deny');
    // The third demo nickname is an HTML injection attempt: it must arrive as text.
    expect(DEMO_USERS[2]?.nickname).toContain('<b>');
    expect(page.html).toContain('Zoë &quot;&lt;b&gt;测试&lt;/b&gt;&quot; &amp; Co 🚀');
    expect(page.html).not.toContain('<b>测试</b>');
    expect(page.html).toContain(`<input type="hidden" name="redirect_uri" value="${REDIRECT}">`);
    expect(page.html).toContain('<input type="hidden" name="state" value="St4te">');
    expect(page.html).toContain('<input type="hidden" name="forcePopup" value="true">');
    expect(page.html).toContain('action="/connect/oauth2/authorize/confirm"');
    // Duplicate-callback controls, prefilled from the options.
    expect(page.html).toMatch(/<input type="checkbox" name="duplicate" value="on" checked>/);
    expect(page.html).toContain('name="abortAfterMs" min="0" max="60000" value="19"');
    expect(page.html).toContain('name="snapshot"');
    expect(emulator.counters().authorizePageViews).toBe(1);
  });

  it('escapes whatever the redirect_uri carries', async () => {
    const page = await authorizePage(authorizeQuery({ redirect_uri: `${REDIRECT}?next="><script>alert(1)</script>` }));
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<script>alert(1)');
    expect(page.html).toContain('&quot;&gt;&lt;script&gt;');
  });

  it('accepts no state, and ignores connect_redirect', async () => {
    expect((await authorizePage(authorizeQuery({}, ['appid', 'redirect_uri', 'response_type', 'scope']))).status).toBe(200);
    expect((await authorizePage(`${authorizeQuery()}&connect_redirect=1`)).status).toBe(200);
  });

  it.each([
    ['redirect_uri before appid', authorizeQuery({}, ['redirect_uri', 'appid', 'response_type', 'scope', 'state']), /参数顺序错误 \/ parameters out of order/],
    ['state before scope', authorizeQuery({}, ['appid', 'redirect_uri', 'response_type', 'state', 'scope']), /parameters out of order/],
    ['forcePopup before state', authorizeQuery({ forcePopup: 'true' }, ['appid', 'redirect_uri', 'response_type', 'scope', 'forcePopup', 'state']), /parameters out of order/],
    ['an unknown appid', authorizeQuery({ appid: 'wxffffffffffffffff' }), /errcode 40013/],
    ['scope snsapi_login', authorizeQuery({ scope: 'snsapi_login' }), /errcode 10005/],
    ['two scopes', authorizeQuery({ scope: 'snsapi_base,snsapi_userinfo' }), /errcode 10005/],
    ['no appid', authorizeQuery({}, ['redirect_uri', 'response_type', 'scope', 'state']), /missing parameter: appid/],
    ['no redirect_uri', authorizeQuery({}, ['appid', 'response_type', 'scope', 'state']), /missing parameter: redirect_uri/],
    ['no response_type', authorizeQuery({}, ['appid', 'redirect_uri', 'scope', 'state']), /missing parameter: response_type/],
    ['no scope', authorizeQuery({}, ['appid', 'redirect_uri', 'response_type', 'state']), /missing parameter: scope/],
    ['response_type=token', authorizeQuery({ response_type: 'token' }), /response_type must be &quot;code&quot;/],
    ['a base64 state', authorizeQuery({ state: 'abc+/=' }), /state must be/],
    ['a 129-character state', authorizeQuery({ state: 'a'.repeat(129) }), /state must be/],
    ['a javascript: redirect_uri', authorizeQuery({ redirect_uri: 'javascript:alert(1)' }), /must be http or https/],
    ['a relative redirect_uri', authorizeQuery({ redirect_uri: '/cb' }), /not an absolute URL/],
    ['an unencoded redirect_uri', `appid=${DEMO_APP.appId}&redirect_uri=${REDIRECT}&response_type=code&scope=snsapi_base&state=a`, /must be URL-encoded/],
    ['a repeated parameter', `${authorizeQuery()}&state=again`, /appears more than once/],
    ['broken percent-encoding', `${authorizeQuery()}&x=%E0%A4%A`, /percent-encoding/],
    ['a redirect_uri outside the authorized domains', authorizeQuery({ appid: 'wx0000000000000d04' }), /errcode 10003/],
  ])('refuses %s with an error page', async (_label, query, message) => {
    const page = await authorizePage(query);
    expect(page.status).toBe(400);
    expect(page.html).toMatch(message);
    expect(emulator.counters().authorizePageViews).toBe(0);
  });

  it('accepts a redirect_uri on an authorized domain', async () => {
    const page = await authorizePage(authorizeQuery({ appid: 'wx0000000000000d04', redirect_uri: 'https://app.example.com/cb' }));
    expect(page.status).toBe(200);
  });
});

describe('POST /connect/oauth2/authorize/confirm', () => {
  it('Allow: 302 to redirect_uri?code=CODE&state=STATE, and the code logs in the chosen user', async () => {
    const response = await confirm(confirmFields({ user: 'lihua' }));
    expect(response.status).toBe(302);
    const location = response.headers.get('location') as string;
    expect(location).toMatch(new RegExp(`^${REDIRECT}\\?code=[A-Za-z0-9]{32}&state=St4te$`));
    const code = new URL(location).searchParams.get('code') as string;
    expect(await profile(code)).toMatchObject({ nickname: '李华 Li Hua 👨‍👩‍👧', scope: 'snsapi_userinfo' });
    expect(emulator.counters().consent).toEqual({ allowed: 1, denied: 0 });
  });

  it('keeps an existing query and fragment of redirect_uri, and returns an empty state as state=', async () => {
    const response = await confirm(confirmFields({ redirect_uri: `${REDIRECT}?from=menu#top`, state: '' }));
    expect(response.headers.get('location')).toMatch(new RegExp(`^${REDIRECT}\\?from=menu&code=[A-Za-z0-9]{32}&state=#top$`));
  });

  it('Deny: 302 to redirect_uri?state=STATE with no code', async () => {
    const response = await confirm(confirmFields({ action: 'deny' }));
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${REDIRECT}?state=St4te`);
    expect(emulator.counters()).toMatchObject({ consent: { allowed: 0, denied: 1 }, codesMinted: 0 });
  });

  it('logs in a typed nickname, the same openid each time', async () => {
    const first = await confirm(confirmFields({ user: '__custom__', nickname: '  新用户 New 🦊  ' }));
    const firstCode = new URL(first.headers.get('location') as string).searchParams.get('code') as string;
    const second = await confirm(confirmFields({ user: '__custom__', nickname: '新用户 New 🦊' }));
    const secondCode = new URL(second.headers.get('location') as string).searchParams.get('code') as string;
    const a = await profile(firstCode);
    const b = await profile(secondCode);
    expect(a.nickname).toBe('新用户 New 🦊');
    expect(a.openid).toBe(b.openid);
  });

  it('prefers a typed nickname over the radio choice', async () => {
    const response = await confirm(confirmFields({ user: 'panda', nickname: '手写昵称' }));
    const code = new URL(response.headers.get('location') as string).searchParams.get('code') as string;
    expect((await profile(code)).nickname).toBe('手写昵称');
  });

  it('logs in a snapshot user when the box is ticked', async () => {
    const response = await confirm(confirmFields({ snapshot: 'on' }));
    const code = new URL(response.headers.get('location') as string).searchParams.get('code') as string;
    expect((await exchange(code)).is_snapshotuser).toBe(1);
  });

  it('snsapi_base codes carry the base scope', async () => {
    const response = await confirm(confirmFields({ scope: 'snsapi_base' }));
    const code = new URL(response.headers.get('location') as string).searchParams.get('code') as string;
    const token = await exchange(code);
    expect(token.scope).toBe('snsapi_base');
    expect(token).not.toHaveProperty('unionid');
  });

  describe('Android duplicate callback', () => {
    async function duplicatePage(abortAfterMs = '19') {
      const response = await confirm(confirmFields({ duplicate: 'on', abortAfterMs }));
      expect(response.status).toBe(200);
      const html = await response.text();
      const script = /<script nonce="([^"]+)">([\s\S]*?)<\/script>/.exec(html);
      expect(script).not.toBeNull();
      return { response, html, nonce: script?.[1] as string, script: script?.[2] as string };
    }

    it('serves a page that fetches the callback (with cookies), aborts it after abortAfterMs, then navigates to it', async () => {
      const { response, html, nonce, script } = await duplicatePage('23');
      const target = JSON.parse(/var target=("[^"]+")/.exec(script)?.[1] as string) as string;
      expect(target).toMatch(new RegExp(`^${REDIRECT}\\?code=[A-Za-z0-9]{32}&state=St4te$`));
      expect(html).toContain('Simulating Android double hit…');
      expect(script).toContain('var abortAfterMs=23;');
      expect(script).toContain("fetch(target,{credentials:'include',redirect:'manual',cache:'no-store',signal:controller.signal})");
      expect(script).toContain('setTimeout(function(){controller.abort();location.replace(target);},abortAfterMs)');
      const csp = response.headers.get('content-security-policy') as string;
      expect(csp).toContain(`script-src 'nonce-${nonce}'`);
      expect(csp).toContain('connect-src http://127.0.0.1:3000');
      expect(response.headers.get('cache-control')).toBe('no-store');
    });

    it('runs as intended: one aborted background hit, then the visible navigation, with the same code', async () => {
      const { script } = await duplicatePage('30');
      const calls: { what: string; url: string; aborted?: boolean; init?: Record<string, unknown>; at: number }[] = [];
      const started = Date.now();
      let signal: AbortSignal | undefined;
      const navigated = new Promise<void>((resolve) => {
        runInNewContext(script, {
          AbortController,
          setTimeout,
          fetch: (url: string, init: Record<string, unknown>) => {
            signal = init.signal as AbortSignal;
            calls.push({ what: 'fetch', url, init, at: Date.now() - started });
            return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));
          },
          location: {
            replace: (url: string) => {
              calls.push({ what: 'navigate', url, aborted: signal?.aborted, at: Date.now() - started });
              resolve();
            },
          },
        });
      });
      await navigated;
      expect(calls.map((c) => c.what)).toEqual(['fetch', 'navigate']);
      expect(calls[0]?.url).toBe(calls[1]?.url);
      expect(calls[0]?.init).toMatchObject({ credentials: 'include', redirect: 'manual' });
      expect(calls[1]?.aborted).toBe(true);
      expect(calls[1]?.at).toBeGreaterThanOrEqual(25);
      // The code behind both hits is one code, still unspent.
      const code = new URL(calls[0]?.url as string).searchParams.get('code') as string;
      expect((await exchange(code)).openid).toBeDefined();
    });

    it('is off when the box is not ticked, and follows setDuplicateCallback() for the prefill', async () => {
      const plain = await confirm(confirmFields());
      expect(plain.status).toBe(302);
      emulator.setDuplicateCallback({ enabled: false, abortAfterMs: 42 });
      const page = await authorizePage(authorizeQuery());
      expect(page.html).toMatch(/<input type="checkbox" name="duplicate" value="on">/);
      expect(page.html).toContain('value="42"');
    });

    it('escapes the callback URL inside the script', async () => {
      const response = await confirm(confirmFields({ duplicate: 'on', redirect_uri: `${REDIRECT}?x=</script><script>alert(1)//` }));
      const html = await response.text();
      expect(html).not.toContain('</script><script>alert(1)');
      expect(html.match(/<script/g)).toHaveLength(1);
    });
  });

  it.each([
    ['an unknown action', { action: 'maybe' }, /action must be allow or deny/],
    ['no action', { action: undefined }, /action must be allow or deny/],
    ['an unknown user', { user: 'mallory' }, /unknown user/],
    ['an empty typed nickname', { user: '__custom__', nickname: ' ' }, /nickname must be/],
    ['an oversized nickname', { user: '__custom__', nickname: '长'.repeat(65) }, /nickname must be/],
    ['a nickname with control characters', { user: '__custom__', nickname: 'a\u0007b' }, /nickname must be/],
    ['a bad abortAfterMs', { duplicate: 'on', abortAfterMs: '-1' }, /abortAfterMs must be/],
    ['a huge abortAfterMs', { duplicate: 'on', abortAfterMs: '60001' }, /abortAfterMs must be/],
    ['a bad checkbox value', { snapshot: 'yes please' }, /checkboxes/],
    ['a tampered state', { state: 'a+b' }, /state must be/],
    ['a tampered appid', { appid: 'wxffffffffffffffff' }, /errcode 40013/],
    ['a tampered scope', { scope: 'snsapi_login' }, /errcode 10005/],
    ['a tampered redirect_uri', { redirect_uri: 'javascript:alert(1)' }, /http or https/],
  ])('refuses %s with 400', async (_label, overrides, message) => {
    const response = await confirm(confirmFields(overrides));
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(message);
    expect(emulator.counters().codesMinted).toBe(0);
  });

  it('refuses repeated fields, other content types, oversized bodies and GET', async () => {
    const repeated = await confirm(`${new URLSearchParams(confirmFields())}&user=lihua`);
    expect(repeated.status).toBe(400);
    await repeated.arrayBuffer();
    const json = await fetch(`${origin}/connect/oauth2/authorize/confirm`, {
      method: 'POST',
      body: JSON.stringify(confirmFields()),
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(415);
    await json.arrayBuffer();
    const huge = await confirm(`${new URLSearchParams(confirmFields())}&pad=${'x'.repeat(20_000)}`);
    expect(huge.status).toBe(413);
    await huge.arrayBuffer();
    const get = await fetch(`${origin}/connect/oauth2/authorize/confirm`);
    expect(get.status).toBe(405);
    await get.arrayBuffer();
    expect(emulator.counters().codesMinted).toBe(0);
  });
});
