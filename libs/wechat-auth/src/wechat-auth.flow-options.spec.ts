import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '../../../test/support/thrown.js';
import { WechatAuthOptionsError } from './errors/wechat-auth.errors.js';
import { validateWechatAuthOptions } from './wechat-auth.options.js';

const SECRET = 'W3bS3cretW3bS3cretW3bS3cretW3b12';
const WEB = {
  flow: 'website-qr',
  strategyName: 'wechat-web',
  appId: 'wx7a3c9e1f5b2d4608',
  appSecret: SECRET,
  callbackURL: 'https://example.com/auth/wechat/web/callback',
};

function problemsOf(raw: unknown): string[] {
  const error = thrownBy(() => validateWechatAuthOptions(raw), WechatAuthOptionsError);
  expect(error.message).not.toContain(SECRET);
  return error.problems;
}

describe('flow "website-qr" options', () => {
  it('resolves the QR login: snsapi_login, its own cookie, no secret in the options', () => {
    const { options, appSecret } = validateWechatAuthOptions(WEB);
    expect(options).toMatchObject({
      flow: 'website-qr',
      scope: 'snsapi_login',
      strategyName: 'wechat-web',
      stateCookie: { name: 'wechat_auth_state_wechat-web', secure: true },
      menuEntry: { enabled: false },
    });
    expect(appSecret).toBe(SECRET);
    expect(JSON.stringify(options)).not.toContain(SECRET);
    expect(validateWechatAuthOptions({ ...WEB, scope: 'snsapi_login' }).options.scope).toBe('snsapi_login');
  });

  it('defaults to the Official Account flow, whose scope stays an Official Account scope', () => {
    const { flow: _flow, strategyName: _name, ...official } = WEB;
    expect(validateWechatAuthOptions(official).options).toMatchObject({ flow: 'official-account', scope: 'snsapi_userinfo' });
    expect(problemsOf({ ...official, scope: 'snsapi_login' })).toEqual(['scope must be "snsapi_base" or "snsapi_userinfo" (default)']);
  });

  it('tells where a website app\'s AppID, AppSecret and callback domain are found', () => {
    expect(problemsOf({ flow: 'website-qr' })).toEqual([
      expect.stringMatching(/^appId is required: the website app's AppID from open\.weixin\.qq\.com/),
      expect.stringMatching(/^appSecret is required: the website app's AppSecret/),
      expect.stringMatching(/^callbackURL is required/),
    ]);
    expect(problemsOf({ ...WEB, callbackURL: 'ftp://x' })).toEqual([expect.stringMatching(/授权回调域/)]);
  });

  it('refuses an Official Account scope, menu-entry mode and an unknown flow, one line each', () => {
    expect(problemsOf({ ...WEB, scope: 'snsapi_base' })).toEqual([
      'scope must be "snsapi_login" (or unset) with flow "website-qr": it is the website QR login\'s only scope',
    ]);
    expect(problemsOf({ ...WEB, menuEntry: { enabled: true } })).toEqual([expect.stringMatching(/^menuEntry is for Official Account menus/)]);
    expect(problemsOf({ ...WEB, flow: 'qr' })).toEqual([expect.stringMatching(/^flow must be "official-account"/)]);
  });
});
