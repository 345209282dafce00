import { html, SafeHtml } from './html.js';

const STYLE = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.55 -apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif;background:#ededed;color:#191919}
main{max-width:520px;margin:0 auto;padding:20px 16px 40px}
header{display:flex;align-items:center;justify-content:space-between;gap:8px;margin-bottom:16px}
header a{color:#191919;text-decoration:none;font-weight:600}
.badge{font-size:12px;border-radius:10px;padding:2px 8px;background:#fff3e0;color:#c66a00;white-space:nowrap}
.badge.prod{background:#e8f8ef;color:#06ae56}
.card{background:#fff;border-radius:12px;padding:20px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:17px;margin:0 0 8px}
p{margin:0 0 12px}
.muted{color:#7f7f7f;font-size:14px}
.btn{display:block;width:100%;text-align:center;font:inherit;font-weight:600;padding:12px 16px;border:0;border-radius:8px;cursor:pointer;text-decoration:none}
.btn.primary{background:#07c160;color:#fff}
.btn.secondary{background:#f2f2f2;color:#06ae56}
.btn+.btn,.btn+form,form+.btn{margin-top:10px}
.user{display:flex;align-items:center;gap:16px;margin-bottom:16px}
.avatar{width:72px;height:72px;border-radius:10px;background:#f2f2f2;flex:none;object-fit:cover}
.nickname{font-size:20px;font-weight:600;word-break:break-word}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px;margin:0 0 16px;font-size:14px}
dt{color:#7f7f7f}
dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.counters{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.counter{background:#f7f7f7;border-radius:8px;padding:10px}
.counter b{display:block;font-size:22px}
.counter span{font-size:12px;color:#7f7f7f}
.note{margin:10px 0 0}
.warn{border-left:4px solid #fa9d3b}
.warn-text{color:#c66a00;font-size:14px}
.choices{margin-top:10px}
.error{border-left:4px solid #fa5151}
code{font-size:13px;background:#f2f2f2;border-radius:4px;padding:0 4px;word-break:break-all}
a{color:#576b95}
footer{text-align:center;font-size:12px;color:#9e9e9e}
`;

/** A constant of this file, not user input. */
const STYLE_HTML = new SafeHtml(STYLE);

/** The page frame: UTF-8, zh-CN, mobile viewport, inline CSS (the CSP allows no other source). */
export function layout(p: { title: string; mode: 'demo' | 'production'; body: SafeHtml }): string {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<title>${p.title}</title>
<style>${STYLE_HTML}</style>
</head>
<body>
<main>
<header><a href="/">nestjs-wechat-auth 示例 Sample</a>${
    p.mode === 'demo' ? html`<span class="badge">演示模式 Demo</span>` : html`<span class="badge prod">WeChat</span>`
  }</header>
${p.body}
<footer>nestjs-wechat-auth · 微信网页授权</footer>
</main>
</body>
</html>
`.value;
}
