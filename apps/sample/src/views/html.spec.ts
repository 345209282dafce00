import { describe, expect, it } from '@jest/globals';
import { html, safeImageUrl } from './html.js';

describe('html', () => {
  it('escapes every interpolation, arrays included, and keeps nested templates', () => {
    const nickname = '<img src=x onerror=alert(1)>"\'&';
    const out = html`<p title="${nickname}">${nickname}</p>${[html`<b>${nickname}</b>`, nickname]}${undefined}${false}`;
    expect(out.value).toBe(
      '<p title="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;">&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</p>' +
        '<b>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</b>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;',
    );
  });

  it('keeps emoji and Chinese text intact', () => {
    expect(html`${'李华 Li Hua 👨‍👩‍👧'}`.value).toBe('李华 Li Hua 👨‍👩‍👧');
  });
});

describe('safeImageUrl', () => {
  it('accepts https and inline images, upgrades http, refuses the rest', () => {
    expect(safeImageUrl('https://thirdwx.qlogo.cn/mmopen/abc/132')).toBe('https://thirdwx.qlogo.cn/mmopen/abc/132');
    expect(safeImageUrl('http://thirdwx.qlogo.cn/mmopen/abc/132')).toBe('https://thirdwx.qlogo.cn/mmopen/abc/132');
    expect(safeImageUrl('data:image/svg+xml;base64,PHN2Zz4=')).toBe('data:image/svg+xml;base64,PHN2Zz4=');
    expect(safeImageUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeImageUrl('data:text/html;base64,PHNjcmlwdD4=')).toBeUndefined();
    expect(safeImageUrl('/relative.png')).toBeUndefined();
    expect(safeImageUrl('')).toBeUndefined();
    expect(safeImageUrl(undefined)).toBeUndefined();
  });
});
