import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '../../../../test/support/thrown.js';
import { WechatApiClient } from './wechat-api.client.js';

const client = new WechatApiClient({ appId: 'wx7a3c9e1f5b2d4608', appSecret: 'S'.repeat(32), oauthBaseURL: 'https://open.weixin.qq.com/' });

describe('WechatApiClient.buildQrConnectUrl', () => {
  it('builds /connect/qrconnect in WeChat\'s parameter order with snsapi_login and #wechat_redirect', () => {
    expect(client.buildQrConnectUrl({ redirectUri: 'https://shop.example.com/auth/wechat/web/callback?x=1&y=2', state: 'abc123' })).toBe(
      'https://open.weixin.qq.com/connect/qrconnect?appid=wx7a3c9e1f5b2d4608' +
        '&redirect_uri=https%3A%2F%2Fshop.example.com%2Fauth%2Fwechat%2Fweb%2Fcallback%3Fx%3D1%26y%3D2' +
        '&response_type=code&scope=snsapi_login&state=abc123#wechat_redirect',
    );
  });

  it.each([
    ['a base64 state', { redirectUri: 'https://a.example/cb', state: 'ab+/=' }, 'ab+/='],
    ['a long state', { redirectUri: 'https://a.example/cb', state: 'a'.repeat(129) }, 'a'.repeat(129)],
    ['a relative redirect', { redirectUri: '/cb-relative', state: 'a' }, '/cb-relative'],
    ['a javascript: redirect', { redirectUri: 'javascript:alert(1)', state: 'a' }, 'alert(1)'],
  ])('refuses %s without echoing it', (_what, params, offending) => {
    const { message } = thrownBy(() => client.buildQrConnectUrl(params), TypeError);
    expect(message).toMatch(/^buildQrConnectUrl: /);
    expect(message).not.toContain(offending);
  });
});
