import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isSameWechatUser, wechatUserKey } from './wechat-user-key.js';

const MP = 'wx5e1f0c0d1e2f3a4b';
const WEB = 'wx7a3c9e1f5b2d4608';

describe('wechatUserKey', () => {
  it('keys by unionid when present, by openid within its app otherwise, and flags snapshot users', () => {
    expect(wechatUserKey({ openid: 'oMp1', unionid: 'oU1', appId: MP, isSnapshotUser: false })).toEqual({
      kind: 'unionid',
      value: 'oU1',
      appId: MP,
      id: 'unionid:oU1',
    });
    expect(wechatUserKey({ openid: 'oMp1', appId: MP, isSnapshotUser: false })).toEqual({
      kind: 'openid',
      value: 'oMp1',
      appId: MP,
      id: `openid:${MP}:oMp1`,
    });
    expect(wechatUserKey({ openid: 'oFake', unionid: 'oU1', appId: MP, isSnapshotUser: true })).toEqual({
      kind: 'snapshot',
      value: 'oFake',
      appId: MP,
      id: `snapshot:${MP}:oFake`,
    });
    expect(Object.isFrozen(wechatUserKey({ openid: 'o', appId: MP, isSnapshotUser: false }))).toBe(true);
  });

  it('treats an empty unionid as absent and refuses a user without openid or appId', () => {
    expect(wechatUserKey({ openid: 'o1', unionid: '', appId: MP, isSnapshotUser: false }).kind).toBe('openid');
    expect(() => wechatUserKey({ openid: '', appId: MP, isSnapshotUser: false })).toThrow(TypeError);
    expect(() => wechatUserKey({ openid: 'o1', appId: '', isSnapshotUser: false })).toThrow(TypeError);
    expect(() => wechatUserKey(undefined as never)).toThrow(TypeError);
  });

  it('never gives a snapshot user the key of a real user, whatever ids WeChat made up (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/);
    const app = fc.constantFrom(MP, WEB);
    fc.assert(
      fc.property(id, fc.option(id, { nil: undefined }), app, id, fc.option(id, { nil: undefined }), app, (o1, u1, a1, o2, u2, a2) => {
        const snapshot = wechatUserKey({ openid: o1, unionid: u1, appId: a1, isSnapshotUser: true });
        const real = wechatUserKey({ openid: o2, unionid: u2, appId: a2, isSnapshotUser: false });
        expect(snapshot.id).not.toBe(real.id);
        expect(isSameWechatUser({ openid: o1, unionid: u1, appId: a1, isSnapshotUser: true }, { openid: o2, unionid: u2, appId: a2, isSnapshotUser: false })).toBe(false);
      }),
    );
  });

  it('never confuses an openid of one app with the same string in another app, nor with a unionid', () => {
    const inMp = wechatUserKey({ openid: 'oSame', appId: MP, isSnapshotUser: false });
    const inWeb = wechatUserKey({ openid: 'oSame', appId: WEB, isSnapshotUser: false });
    const asUnion = wechatUserKey({ openid: 'oOther', unionid: 'oSame', appId: MP, isSnapshotUser: false });
    expect(new Set([inMp.id, inWeb.id, asUnion.id]).size).toBe(3);
  });
});

describe('isSameWechatUser', () => {
  it('matches one person across apps by unionid, and within an app by openid', () => {
    const mp = { openid: 'oMp', unionid: 'oU', appId: MP, isSnapshotUser: false };
    const web = { openid: 'oWeb', unionid: 'oU', appId: WEB, isSnapshotUser: false };
    const mpSilent = { openid: 'oMp', appId: MP, isSnapshotUser: false };
    expect(isSameWechatUser(mp, web)).toBe(true);
    expect(isSameWechatUser(mpSilent, mp)).toBe(true);
    expect(isSameWechatUser(mpSilent, web)).toBe(false);
    expect(isSameWechatUser(mp, { ...web, unionid: 'oOther' })).toBe(false);
    expect(isSameWechatUser({ ...mp, isSnapshotUser: true }, mp)).toBe(false);
  });
});
