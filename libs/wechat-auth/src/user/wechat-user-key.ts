import type { WechatAuthUser } from '../strategy/wechat-auth-user.js';

/**
 * What identifies a WeChat user in your database:
 * - `unionid`: one person across every app bound to one Open Platform account (your Official Account and your
 *   website app alike). Present with `snsapi_userinfo` / `snsapi_login` when the app is bound.
 * - `openid`: one person within one app only (`appId`): the same person has another openid in every other app.
 * - `snapshot`: a snapshot-page virtual user (朋友圈快照页, `is_snapshotuser: 1`). WeChat made its openid and unionid
 *   up; it is nobody. Never create an account for it, never link it to one.
 */
export type WechatUserKeyKind = 'unionid' | 'openid' | 'snapshot';

/** How to find (or create) the account of a signed-in WeChat user. See {@link wechatUserKey}. */
export interface WechatUserKey {
  readonly kind: WechatUserKeyKind;
  /** The unionid (`kind: 'unionid'`) or the openid (`openid`, `snapshot`). */
  readonly value: string;
  /** The app the user signed in through. Part of the key for an openid, which only means something within its app. */
  readonly appId: string;
  /**
   * One string to store and compare (a unique column): `unionid:<unionid>`, `openid:<appId>:<openid>` or
   * `snapshot:<appId>:<openid>`. Keys of different kinds never compare equal, so a snapshot user can never be
   * matched to a real account, and an openid of one app is never taken for an openid of another.
   */
  readonly id: string;
}

/** The fields {@link wechatUserKey} reads: a `WechatAuthUser`, or what your session kept of one. */
export type WechatUserKeySource = Pick<WechatAuthUser, 'openid' | 'appId' | 'isSnapshotUser'> & { unionid?: string | undefined };

/**
 * The key that identifies a signed-in WeChat user: the unionid when WeChat gave one (the same person through your
 * Official Account and your website QR login resolves to the same key), the openid (scoped to its app) otherwise,
 * and a `snapshot` key, which matches nothing real, for a snapshot-page virtual user.
 *
 * @example
 * const key = wechatUserKey(user);
 * if (key.kind === 'snapshot') return askToOpenThePageForReal();
 * const account = await accounts.findOrCreateByWechatKey(key.id);
 * @throws TypeError when `openid` or `appId` is missing or empty (a user the library did not produce).
 */
export function wechatUserKey(user: WechatUserKeySource): WechatUserKey {
  if (typeof user?.openid !== 'string' || user.openid.length === 0) throw new TypeError('wechatUserKey: user.openid is required');
  if (typeof user.appId !== 'string' || user.appId.length === 0) throw new TypeError('wechatUserKey: user.appId is required');
  if (user.isSnapshotUser === true) {
    // Its unionid is as fake as its openid: keying it by unionid could match a real person's account.
    return freeze('snapshot', user.openid, user.appId, `snapshot:${user.appId}:${user.openid}`);
  }
  if (typeof user.unionid === 'string' && user.unionid.length > 0) {
    return freeze('unionid', user.unionid, user.appId, `unionid:${user.unionid}`);
  }
  return freeze('openid', user.openid, user.appId, `openid:${user.appId}:${user.openid}`);
}

/**
 * Whether two signed-in users are the same real person: the same unionid when both carry one, else the same openid
 * in the same app (a `snsapi_base` login carries no unionid, yet its openid still names the person within its app).
 * Always false when either is a snapshot-page virtual user.
 */
export function isSameWechatUser(a: WechatUserKeySource, b: WechatUserKeySource): boolean {
  if (wechatUserKey(a).kind === 'snapshot' || wechatUserKey(b).kind === 'snapshot') return false;
  if (a.unionid && b.unionid) return a.unionid === b.unionid;
  return a.appId === b.appId && a.openid === b.openid;
}

function freeze(kind: WechatUserKeyKind, value: string, appId: string, id: string): WechatUserKey {
  return Object.freeze({ kind, value, appId, id });
}
