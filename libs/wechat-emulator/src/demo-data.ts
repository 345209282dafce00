import { escapeHtml } from './html.js';
import type { EmulatorApp, EmulatorUser } from './wechat-emulator.types.js';

/** The demo Official Account every emulator knows unless told otherwise. Its secret is public: demo only. */
export const DEMO_APP: Readonly<Required<Pick<EmulatorApp, 'appId' | 'appSecret' | 'openPlatformBound'>>> = Object.freeze({
  appId: 'wx5e1f0c0d1e2f3a4b',
  appSecret: 'demoSecretE7q2Xk9Lm4Np8Rt1Vw5Yz3',
  openPlatformBound: true,
});

/**
 * The demo Open Platform website app (网站应用, the desktop QR login), bound to the same Open Platform account as
 * {@link DEMO_APP}: a demo user has the same unionid in both and a different openid in each. Demo only.
 */
export const DEMO_WEB_APP: Readonly<Required<Pick<EmulatorApp, 'appId' | 'appSecret' | 'openPlatformBound' | 'kind'>>> = Object.freeze({
  appId: 'wx7a3c9e1f5b2d4608',
  appSecret: 'demoWebSecretQ4r8T2y6U1i5O9p3A7s',
  kind: 'website',
  openPlatformBound: true,
});

const AVATAR_COLORS = ['#07c160', '#10aeff', '#fa9d3b', '#fa5151', '#6467f0', '#1485ee'];

/**
 * A self-contained avatar (an SVG data: URI with the nickname's first character), so demo profiles render with no
 * network and no image host.
 */
export function avatarFor(nickname: string): string {
  const first = Array.from(nickname.trim())[0] ?? '?';
  let hash = 0;
  for (const ch of nickname) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  const color = AVATAR_COLORS[hash % AVATAR_COLORS.length];
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">` +
    `<rect width="132" height="132" rx="12" fill="${color}"/>` +
    `<text x="66" y="66" dy=".35em" text-anchor="middle" font-family="sans-serif" font-size="64" fill="#fff">` +
    `${escapeHtml(first)}</text></svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

/**
 * Three demo users. Their nicknames carry what real ones do and naive apps get wrong: Chinese text, emoji (astral
 * plane, ZWJ sequences) and characters that must be escaped in HTML.
 */
export const DEMO_USERS: readonly Readonly<EmulatorUser>[] = Object.freeze([
  Object.freeze({ id: 'panda', nickname: '微信用户🐼', headimgurl: avatarFor('微信用户🐼') }),
  Object.freeze({ id: 'lihua', nickname: '李华 Li Hua 👨‍👩‍👧', headimgurl: avatarFor('李华') }),
  Object.freeze({ id: 'zoe', nickname: 'Zoë "<b>测试</b>" & Co 🚀', headimgurl: avatarFor('Zoë') }),
]);
