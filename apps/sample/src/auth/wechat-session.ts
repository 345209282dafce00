import { wechatUserKey, type WechatAuthUser } from 'nestjs-wechat-auth';
import type { SessionSubject } from '../session/session-codec.js';

/**
 * What a session keeps of a signed-in WeChat user, whichever app signed them in. `account` is the library's
 * `wechatUserKey()`: the unionid when WeChat gave one (so the same person through the Official Account and through
 * the website QR login is one account), the openid within its app otherwise, and a key that matches nothing for a
 * snapshot-page virtual user, which is flagged and never linked to an account.
 */
export function sessionSubjectOf(user: WechatAuthUser): SessionSubject {
  const key = wechatUserKey(user);
  return {
    openid: user.openid,
    unionid: user.unionid,
    nickname: user.profile?.nickname,
    headimgurl: user.profile?.headimgurl || undefined,
    appId: user.appId,
    account: key.id,
    ...(key.kind === 'snapshot' ? { snapshot: true as const } : {}),
  };
}
