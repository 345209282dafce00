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
export function renderIndexPage(p: { basePath: string; apps: { appId: string }[] }): string {
  const apps = p.apps.map((app) => `<li><code>${escapeHtml(app.appId)}</code></li>`).join('');
  return layout(
    'WeChat emulator',
    `<div class="card"><h1>WeChat emulator 微信网页授权模拟器</h1>` +
      `<p class="muted">Authorize: <code>${escapeHtml(p.basePath)}/connect/oauth2/authorize</code>; ` +
      `sns API: <code>${escapeHtml(p.basePath)}/sns/…</code>; controls: <code>${escapeHtml(p.basePath)}/__emulator/…</code></p>` +
      `<p>Apps:</p><ul>${apps}</ul></div>`,
  );
}
