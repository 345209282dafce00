import type { AuthorizeProblem, AuthorizeRequest } from './authorize-request.js';
import { escapeHtml, scriptLiteral } from './html.js';
import type { DuplicateCallbackSettings, EmulatorUser } from './wechat-emulator.types.js';

/** The value of the consent form's `user` radio that means "the nickname typed below". */
export const CUSTOM_USER_CHOICE = '__custom__';

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 -apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei",sans-serif;background:#ededed;color:#191919}
main{max-width:480px;margin:0 auto;padding:24px 16px}
.card{background:#fff;border-radius:12px;padding:20px;margin-bottom:16px}
h1{font-size:20px;margin:0 0 4px}
.muted{color:#7f7f7f;font-size:14px;margin:0}
.tag{display:inline-block;background:#fff3e0;color:#c66a00;border-radius:4px;padding:0 6px;font-size:12px}
fieldset{border:0;padding:0;margin:0}
legend{font-weight:600;margin-bottom:8px}
label.user{display:flex;align-items:center;gap:12px;padding:10px 0;border-bottom:1px solid #f0f0f0}
label.user img{width:40px;height:40px;border-radius:6px}
input[type=text],input[type=number]{font:inherit;padding:8px;border:1px solid #d9d9d9;border-radius:6px;width:100%}
.opt{display:flex;align-items:flex-start;gap:8px;margin:10px 0}
.actions{display:flex;gap:12px}
button{flex:1;font:inherit;font-weight:600;padding:12px;border:0;border-radius:8px;cursor:pointer}
button.allow{background:#07c160;color:#fff}
button.deny{background:#f2f2f2;color:#06ae56}
code{word-break:break-all;font-size:13px}
.error{border-left:4px solid #fa5151}
`;

function layout(title: string, body: string, nonce?: string, script?: string): string {
  return (
    `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main>` +
    (script && nonce ? `<script nonce="${escapeHtml(nonce)}">${script}</script>` : '') +
    `</body></html>`
  );
}

function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}

/** The consent page WeChat shows for snsapi_userinfo (and, in the emulator only, for snsapi_base to pick a user). */
export function renderConsentPage(p: {
  request: AuthorizeRequest;
  users: readonly EmulatorUser[];
  confirmPath: string;
  duplicate: DuplicateCallbackSettings;
}): string {
  const { request, users, duplicate } = p;
  const userinfo = request.scope === 'snsapi_userinfo';
  const userRows = users
    .map(
      (user, index) =>
        `<label class="user"><input type="radio" name="user" value="${escapeHtml(user.id)}"` +
        `${index === 0 ? ' checked' : ''}>` +
        (user.headimgurl ? `<img src="${escapeHtml(user.headimgurl)}" alt="">` : '') +
        `<span>${escapeHtml(user.nickname)}${user.snapshot ? ' <span class="tag">快照 snapshot</span>' : ''}</span></label>`,
    )
    .join('');
  const body =
    `<div class="card"><h1>微信授权 WeChat authorization</h1>` +
    `<p class="muted">WeChat emulator · appid <code>${escapeHtml(request.appId)}</code></p>` +
    `<p class="muted">回调 redirect_uri <code>${escapeHtml(request.redirectUri)}</code></p>` +
    `<p>${
      userinfo
        ? '申请获取你的昵称、头像 / The app asks for your nickname and avatar (snsapi_userinfo).'
        : '静默授权，仅获取 openid / Silent login, openid only (snsapi_base): real WeChat shows no page; pick the user.'
    }</p></div>` +
    `<form method="post" action="${escapeHtml(p.confirmPath)}">` +
    hidden('appid', request.appId) +
    hidden('redirect_uri', request.redirectUri) +
    hidden('response_type', 'code') +
    hidden('scope', request.scope) +
    hidden('state', request.state) +
    hidden('forcePopup', request.forcePopup ? 'true' : '') +
    `<div class="card"><fieldset><legend>选择用户 Choose a user</legend>${userRows}` +
    `<label class="user"><input type="radio" name="user" value="${CUSTOM_USER_CHOICE}"${users.length === 0 ? ' checked' : ''}>` +
    `<span>输入昵称 Type a nickname <span class="muted">(填写后优先 / used when filled in)</span></span></label>` +
    `<p><input type="text" name="nickname" maxlength="64" placeholder="昵称 nickname" aria-label="nickname"></p>` +
    `</fieldset>` +
    `<label class="opt"><input type="checkbox" name="snapshot" value="on">` +
    `<span>快照页用户 Snapshot-page virtual user (<code>is_snapshotuser: 1</code>)</span></label>` +
    `<label class="opt"><input type="checkbox" name="duplicate" value="on"${duplicate.enabled ? ' checked' : ''}>` +
    `<span>模拟安卓重复回调 Simulate Android duplicate callback</span></label>` +
    `<label class="opt"><span>首次请求在 N 毫秒后中止 Abort the first hit after (ms)</span>` +
    `<input type="number" name="abortAfterMs" min="0" max="60000" value="${duplicate.abortAfterMs}"></label>` +
    `</div><div class="actions">` +
    `<button class="deny" type="submit" name="action" value="deny">拒绝 Deny</button>` +
    `<button class="allow" type="submit" name="action" value="allow">允许 Allow</button>` +
    `</div></form>`;
  return layout('微信授权 WeChat authorization', body);
}

/** The page WeChat shows instead of redirecting when the authorize request is wrong. */
export function renderErrorPage(problem: AuthorizeProblem): string {
  const code = problem.errcode === undefined ? '' : `<p class="muted">errcode ${problem.errcode}</p>`;
  return layout(
    '授权失败 Authorization error',
    `<div class="card error"><h1>Oops! Something went wrong :(</h1>${code}<p>${escapeHtml(problem.message)}</p></div>`,
  );
}

/**
 * The Android duplicate callback, reproduced in the browser: a background request to the callback URL (with
 * cookies, like the WeChat client's) is aborted after `abortAfterMs`, then the visible navigation requests the same
 * URL again. The aborted response never reaches the browser, so any Set-Cookie it carried is lost.
 */
export function renderDuplicateCallbackPage(p: { callbackUrl: string; abortAfterMs: number; nonce: string }): string {
  const script =
    `(function(){` +
    `var target=${scriptLiteral(p.callbackUrl)};` +
    `var abortAfterMs=${Math.trunc(p.abortAfterMs)};` +
    `var controller=new AbortController();` +
    `fetch(target,{credentials:'include',redirect:'manual',cache:'no-store',signal:controller.signal})` +
    `.catch(function(){});` +
    `setTimeout(function(){controller.abort();location.replace(target);},abortAfterMs);` +
    `})();`;
  const body =
    `<div class="card"><h1>Simulating Android double hit…</h1>` +
    `<p class="muted">模拟安卓重复回调：第一次请求将在 ${Math.trunc(p.abortAfterMs)} ms 后中止，随后再次请求同一回调地址。` +
    ` The first request is aborted after ${Math.trunc(p.abortAfterMs)} ms, then the same callback URL is requested again.</p>` +
    `<noscript><p><a href="${escapeHtml(p.callbackUrl)}">继续 Continue</a></p></noscript></div>`;
  return layout('正在跳转 Redirecting…', body, p.nonce, script);
}

/** The standalone emulator's home page. */
export function renderIndexPage(p: { basePath: string; apps: { appId: string; kind?: string }[] }): string {
  const apps = p.apps
    .map((app) => `<li><code>${escapeHtml(app.appId)}</code> ${escapeHtml(app.kind === 'website' ? '网站应用 website app' : '公众号 Official Account')}</li>`)
    .join('');
  return layout(
    'WeChat emulator',
    `<div class="card"><h1>WeChat emulator 微信网页授权模拟器</h1>` +
      `<p class="muted">Authorize: <code>${escapeHtml(p.basePath)}/connect/oauth2/authorize</code>; ` +
      `QR login: <code>${escapeHtml(p.basePath)}/connect/qrconnect</code>; ` +
      `sns API: <code>${escapeHtml(p.basePath)}/sns/…</code>; controls: <code>${escapeHtml(p.basePath)}/__emulator/…</code></p>` +
      `<p>Apps:</p><ul>${apps}</ul></div>`,
  );
}

// -------------------------------------------------------------------------------------------------------------------
// Website QR login (网站应用微信登录)

/** The QR login's states as the QR page and its poll see them. */
export type QrLoginStatus = 'waiting' | 'scanned' | 'confirmed' | 'denied' | 'expired';

const QR_SIZE = 29;
const QR_QUIET = 2;

/** The 7x7 finder pattern of a QR code, at its three corners. */
function isFinderModule(x: number, y: number): boolean | undefined {
  for (const [ox, oy] of [
    [0, 0],
    [QR_SIZE - 7, 0],
    [0, QR_SIZE - 7],
  ] as const) {
    const dx = x - ox;
    const dy = y - oy;
    if (dx >= -1 && dx <= 7 && dy >= -1 && dy <= 7) {
      if (dx < 0 || dy < 0 || dx > 6 || dy > 6) return false; // the separator
      const ring = Math.max(Math.abs(dx - 3), Math.abs(dy - 3));
      return ring !== 2;
    }
  }
  return undefined;
}

/**
 * A QR-looking SVG (finder patterns, timing lines, and modules drawn from `seed`): it encodes nothing, since
 * nobody scans it with a real phone; the page's "scan" link plays the phone.
 */
export function renderFakeQrSvg(seed: Uint8Array): string {
  let path = '';
  let bit = 0;
  for (let y = 0; y < QR_SIZE; y++) {
    for (let x = 0; x < QR_SIZE; x++) {
      let dark = isFinderModule(x, y);
      if (dark === undefined && (x === 6 || y === 6)) dark = (x + y) % 2 === 0;
      if (dark === undefined) {
        const byte = seed[(bit >> 3) % seed.length] ?? 0;
        dark = ((byte >> (bit & 7)) & 1) === 1;
        bit++;
      }
      if (dark) path += `M${x + QR_QUIET} ${y + QR_QUIET}h1v1h-1z`;
    }
  }
  const side = QR_SIZE + 2 * QR_QUIET;
  return (
    `<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side}" shape-rendering="crispEdges" ` +
    `role="img" aria-label="二维码 QR code"><rect width="${side}" height="${side}" fill="#fff"/>` +
    `<path d="${path}" fill="#111"/></svg>`
  );
}

const QR_STYLE = `
.qrcard{text-align:center}
.qr{width:240px;height:240px;display:block;margin:16px auto;border:1px solid #e5e5e5}
.status{font-size:15px;margin:8px 0}
.status.done{color:#06ae56}
.status.bad{color:#fa5151}
.scan{background:#f7f7f7;border-radius:8px;padding:10px;font-size:13px;text-align:left}
`;

const QR_TEXTS: Readonly<Record<QrLoginStatus | 'error', string>> = {
  waiting: '请使用微信扫描二维码登录 / Scan the QR code with WeChat',
  scanned: '扫描成功，请在微信中点击确认即可登录 / Scanned: confirm on your phone',
  confirmed: '已确认，正在登录… / Confirmed: signing you in…',
  denied: '你已取消此次登录 / You cancelled this login',
  expired: '二维码已过期，请刷新页面 / The QR code expired: reload the page',
  error: '网络错误，请刷新页面 / Network error: reload the page',
};

/**
 * The QR-login page (`/connect/qrconnect`): the app's name, a QR code, and the link a second tab opens to play the
 * phone that scans it. A script long-polls the emulator (bounded: `maxPolls` rounds) and, once the phone confirms,
 * replaces the page with the app's callback (`redirect_uri?code=…&state=…`), as WeChat's page does.
 */
export function renderQrConnectPage(p: {
  appId: string;
  redirectUri: string;
  qrSvg: string;
  scanUrl: string;
  pollUrl: string;
  continueUrl: string;
  reloadUrl: string;
  maxPolls: number;
  pollWaitMs: number;
  nonce: string;
}): string {
  const script =
    `(function(){` +
    `var pollUrl=${scriptLiteral(p.pollUrl)},reloadUrl=${scriptLiteral(p.reloadUrl)};` +
    `var texts=${scriptLiteral(QR_TEXTS)};` +
    `var maxPolls=${Math.trunc(p.maxPolls)},wait=${Math.trunc(p.pollWaitMs)};` +
    `var el=document.getElementById('qr-status'),again=document.getElementById('qr-again');` +
    `var last='waiting',polls=0,errors=0;` +
    `function show(status){el.textContent=texts[status]||status;el.setAttribute('data-status',status);` +
    `el.className='status'+(status==='confirmed'?' done':(status==='denied'||status==='expired'||status==='error'?' bad':''));` +
    `if(status==='denied'||status==='expired'||status==='error'){again.hidden=false;}}` +
    `function next(){if(++polls>maxPolls){show('expired');return;}` +
    `fetch(pollUrl+'&last='+encodeURIComponent(last)+'&wait='+wait,{cache:'no-store',credentials:'omit'})` +
    `.then(function(r){if(!r.ok)throw new Error('HTTP '+r.status);return r.json();})` +
    `.then(function(a){errors=0;last=a.status;show(a.status);` +
    `if(a.status==='confirmed'&&a.redirect){location.replace(a.redirect);return;}` +
    `if(a.status==='denied'||a.status==='expired')return;next();})` +
    `.catch(function(){if(++errors>5){show('error');return;}setTimeout(next,1000);});}` +
    `next();})();`;
  const body =
    `<div class="card qrcard"><h1>微信登录 WeChat login</h1>` +
    `<p class="muted">WeChat emulator · 网站应用 website app <code>${escapeHtml(p.appId)}</code></p>` +
    p.qrSvg +
    `<p id="qr-status" class="status" data-status="waiting" role="status" aria-live="polite">${escapeHtml(QR_TEXTS.waiting)}</p>` +
    `<p id="qr-again" hidden><a href="${escapeHtml(p.reloadUrl)}">刷新二维码 New QR code</a></p>` +
    `<noscript><p><a href="${escapeHtml(p.continueUrl)}">已在手机上确认？继续 / Confirmed on the phone? Continue</a></p></noscript>` +
    `</div>` +
    `<div class="card scan"><p><b>模拟扫码 Simulate the scan</b>: 在另一个标签页（“手机”）打开此链接 / open this link in another tab (the "phone"):</p>` +
    `<p><a id="qr-scan-link" href="${escapeHtml(p.scanUrl)}" target="_blank" rel="noopener noreferrer">${escapeHtml(p.scanUrl)}</a></p>` +
    `<p class="muted">回调 redirect_uri <code>${escapeHtml(p.redirectUri)}</code></p></div>`;
  return layout('微信登录 WeChat login', `<style>${QR_STYLE}</style>${body}`, p.nonce, script);
}

/**
 * The "phone" that scanned the QR code (`/connect/confirm?uuid=…`): which app asks, which WeChat user confirms, and
 * Allow / Deny, like WeChat's confirmation screen.
 */
export function renderQrConfirmPage(p: { uuid: string; appId: string; users: readonly EmulatorUser[]; confirmPath: string }): string {
  const userRows = p.users
    .map(
      (user, index) =>
        `<label class="user"><input type="radio" name="user" value="${escapeHtml(user.id)}"${index === 0 ? ' checked' : ''}>` +
        (user.headimgurl ? `<img src="${escapeHtml(user.headimgurl)}" alt="">` : '') +
        `<span>${escapeHtml(user.nickname)}</span></label>`,
    )
    .join('');
  const body =
    `<div class="card"><h1>登录确认 Confirm login</h1>` +
    `<p>网站申请使用你的微信帐号登录 / A website asks you to sign in with WeChat.</p>` +
    `<p class="muted">WeChat emulator · 扫码的“手机” the scanning "phone" · 网站应用 <code>${escapeHtml(p.appId)}</code></p></div>` +
    `<form method="post" action="${escapeHtml(p.confirmPath)}">` +
    hidden('uuid', p.uuid) +
    `<div class="card"><fieldset><legend>选择用户 Choose a user</legend>${userRows}` +
    `<label class="user"><input type="radio" name="user" value="${CUSTOM_USER_CHOICE}"${p.users.length === 0 ? ' checked' : ''}>` +
    `<span>输入昵称 Type a nickname <span class="muted">(填写后优先 / used when filled in)</span></span></label>` +
    `<p><input type="text" name="nickname" maxlength="64" placeholder="昵称 nickname" aria-label="nickname"></p>` +
    `</fieldset></div><div class="actions">` +
    `<button class="deny" type="submit" name="action" value="deny">拒绝 Deny</button>` +
    `<button class="allow" type="submit" name="action" value="allow">允许 Allow</button>` +
    `</div></form>`;
  return layout('登录确认 Confirm login', body);
}

/** What the "phone" shows after deciding, or when the QR code can no longer be used. */
export function renderQrDecisionPage(p: { status: QrLoginStatus; message?: string }): string {
  const text =
    p.message ??
    (p.status === 'confirmed'
      ? '已确认登录，请回到电脑上继续 / Confirmed: continue on your computer.'
      : p.status === 'denied'
        ? '已取消登录 / Login cancelled.'
        : QR_TEXTS[p.status]);
  return layout(
    '登录确认 Confirm login',
    `<div class="card${p.status === 'confirmed' ? '' : ' error'}"><h1>${escapeHtml(text)}</h1>` +
      `<p class="muted" id="qr-decision" data-status="${escapeHtml(p.status)}">WeChat emulator</p></div>`,
  );
}
