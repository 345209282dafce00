import type { SampleSession } from '../session/session-codec.js';
import { html, safeImageUrl, type SafeHtml } from './html.js';
import { layout } from './layout.js';

type Mode = 'demo' | 'production';

/** One number of the demo's counters panel. */
export interface CounterView {
  label: string;
  value: number;
  hint: string;
}

function signedInAs(session: SampleSession): SafeHtml {
  const avatar = safeImageUrl(session.headimgurl);
  return html`<div class="user">
${avatar ? html`<img class="avatar" src="${avatar}" alt="">` : html`<div class="avatar" aria-hidden="true"></div>`}
<div><div class="nickname">${session.nickname ?? '微信用户 WeChat user'}</div>
<div class="muted">openid <code>${session.openid}</code></div></div>
</div>`;
}

function logoutForm(): SafeHtml {
  return html`<form method="post" action="/auth/logout"><button class="btn secondary" type="submit">退出登录 Sign out</button></form>`;
}

/** `GET /`: sign in, or who is signed in; in demo mode, what to try and the counters. */
export function renderHomePage(p: {
  mode: Mode;
  session?: SampleSession;
  /** A website app is configured: "Sign in with WeChat" picks the login by user agent, and both are offered. */
  websiteLogin?: boolean;
  counters?: CounterView[];
  /** Set when the page was opened on another host than the callback's (the state cookie would not come back). */
  canonicalOrigin?: string;
}): string {
  const account = p.session
    ? html`<div class="card"><h1>已登录 Signed in</h1>${signedInAs(p.session)}
<a class="btn primary" href="/profile">查看资料 View profile</a>${logoutForm()}</div>`
    : p.websiteLogin
      ? html`<div class="card"><h1>微信登录 WeChat login</h1>
<p>登录后可查看你的微信资料。 Sign in to see your WeChat profile.</p>
<a class="btn primary" href="/auth/wechat/auto">使用微信登录 Sign in with WeChat</a>
<p class="muted note">在微信内打开时使用公众号授权，在其他浏览器中显示二维码。 Inside WeChat this uses the Official Account's
authorization; in any other browser it shows a QR code to scan with WeChat.</p>
<div class="choices">
<a class="btn secondary" href="/auth/wechat">公众号授权（微信内） Official Account (in WeChat)</a>
<a class="btn secondary" href="/auth/wechat/web">扫码登录（电脑） Scan a QR code (desktop)</a>
</div></div>`
      : html`<div class="card"><h1>微信网页授权 WeChat web login</h1>
<p>登录后可查看你的微信资料。 Sign in to see your WeChat profile.</p>
<a class="btn primary" href="/auth/wechat">使用微信登录 Sign in with WeChat</a></div>`;

  const hostWarning = p.canonicalOrigin
    ? html`<div class="card warn"><p>请使用 <a href="${p.canonicalOrigin}/">${p.canonicalOrigin}</a> 打开本页：
登录回调地址在该域名下，其他地址无法完成登录。</p>
<p class="muted">Open this page at <a href="${p.canonicalOrigin}/">${p.canonicalOrigin}</a>: the WeChat callback comes back
to that host, so a login started on another host cannot complete.</p></div>`
    : undefined;

  const demo =
    p.mode === 'demo'
      ? html`<div class="card"><h2>演示模式 Demo mode</h2>
<p>微信由内置模拟器扮演（<code>/__wechat</code>），无需公众号。</p>
<p class="muted">Two demo apps side by side, bound to one Open Platform account: an Official Account (the login inside
WeChat) and a website app (the QR login on desktop). On the QR page, open the "scan" link in another tab: it plays
the phone that scans the code. The same demo user gets the same unionid through both apps, hence the same account.</p>
<p class="muted">WeChat is played by the built-in emulator at <code>/__wechat</code>; no Official Account is needed.
On its consent page, tick <b>模拟安卓重复回调 Simulate Android duplicate callback</b>: the callback is requested twice
with the same one-time code, and the first request is aborted, as the Android WeChat client does. A naive app spends
the code on the aborted request and shows the user <code>40163 code been used</code>; this one signs you in, with
one exchange upstream.</p></div>`
      : undefined;

  const counters = p.counters?.length
    ? html`<div class="card"><h2>计数器 Counters</h2><div class="counters">${p.counters.map(
        (c) => html`<div class="counter" title="${c.hint}"><b>${c.value}</b><span>${c.label}</span></div>`,
      )}</div><p class="muted note">刷新页面更新 Reload to update.</p></div>`
    : undefined;

  return layout({ title: '微信登录示例 WeChat login sample', mode: p.mode, body: html`${hostWarning}${account}${demo}${counters}` });
}

/** `GET /profile`: the signed-in user. */
export function renderProfilePage(p: {
  mode: Mode;
  session: SampleSession;
  /** Which login the session came from, e.g. "网站应用扫码 Website QR login". */
  via?: string;
}): string {
  const s = p.session;
  const snapshot = s.snapshot
    ? html`<p class="warn-text">快照页虚拟用户：不是真实用户，不会关联任何账号。请在微信中打开完整页面后重新登录。
Snapshot-page virtual user: not a real person, never linked to an account. Open the full page in WeChat and sign in again.</p>`
    : undefined;
  const body = html`<div class="card"><h1>我的资料 Profile</h1>${signedInAs(s)}${snapshot}
<dl>
<dt>account</dt><dd class="account">${s.account ?? '—'}</dd>
<dt>openid</dt><dd>${s.openid}</dd>
<dt>unionid</dt><dd>${s.unionid ?? '—'}</dd>
<dt>appid</dt><dd>${s.appId}</dd>
${p.via ? html`<dt>via</dt><dd class="via">${p.via}</dd>` : undefined}
<dt>expires</dt><dd>${new Date(s.exp * 1000).toISOString()}</dd>
</dl>
<a class="btn secondary" href="/api/me">JSON: /api/me</a>${logoutForm()}</div>`;
  return layout({ title: `${s.nickname ?? s.openid} · 资料 Profile`, mode: p.mode, body });
}

/** The error page browsers get; API clients get JSON with the same facts. */
export function renderErrorPage(p: {
  mode: Mode;
  statusCode: number;
  error: string;
  message: string;
  errcode?: number;
  /** A link to start over (the login), for errors a new attempt can fix. */
  retryHref?: string;
}): string {
  const body = html`<div class="card error"><h1>${p.statusCode} ${p.error}</h1>
<p>${p.message}</p>
${p.errcode !== undefined ? html`<p class="muted">WeChat errcode <code>${p.errcode}</code></p>` : undefined}
${p.retryHref ? html`<a class="btn primary" href="${p.retryHref}">重新登录 Try again</a>` : undefined}
<a class="btn secondary" href="/">返回首页 Home</a></div>`;
  return layout({ title: `${p.statusCode} ${p.error}`, mode: p.mode, body });
}
