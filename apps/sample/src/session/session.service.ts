import { Inject, Injectable } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import type { SampleConfig } from '../config/sample-config.js';
import { SAMPLE_CONFIG } from '../config/sample-config.tokens.js';
import { readCookie } from '../http/cookies.js';
import { SessionCodec, type SampleSession, type SessionSubject } from './session-codec.js';

/** How long a session lasts: a working day and a night, then WeChat authorizes again (silently for followers). */
export const SESSION_MAX_AGE_SECONDS = 24 * 60 * 60;

/**
 * The app's own sessions: a signed cookie, stateless, so every instance sharing SESSION_SECRET accepts it.
 * WeChat's tokens are never stored in it; the app needs only who the user is.
 */
@Injectable()
export class SessionService {
  private readonly codec: SessionCodec;
  /** `__Host-` pins the cookie to this exact host, https only, Path=/ (browsers enforce it). */
  readonly cookieName: string;

  constructor(@Inject(SAMPLE_CONFIG) private readonly config: SampleConfig) {
    this.codec = new SessionCodec({
      secret: config.sessionSecret,
      // Both apps' users are this app's users: a QR login's session is as good as one from inside WeChat.
      appId: config.web ? [config.appId, config.web.appId] : config.appId,
      maxAgeSeconds: SESSION_MAX_AGE_SECONDS,
    });
    this.cookieName = config.secureCookies ? '__Host-wechat_sample_session' : 'wechat_sample_session';
  }

  /** The request's valid session, if any. */
  read(req: Request): SampleSession | undefined {
    return this.codec.decode(readCookie(req, this.cookieName));
  }

  /** Starts a session for `subject` (replacing any previous one) and returns it. */
  start(res: Response, subject: SessionSubject): SampleSession {
    const { token, session } = this.codec.encode(subject);
    res.cookie(this.cookieName, token, { ...this.cookieOptions(), maxAge: SESSION_MAX_AGE_SECONDS * 1000 });
    return session;
  }

  /** Ends the session (the cookie is stateless: logging out forgets it in this browser). */
  clear(res: Response): void {
    res.clearCookie(this.cookieName, this.cookieOptions());
  }

  private cookieOptions(): CookieOptions {
    // Lax, not Strict: the callback is a top-level navigation coming from WeChat, and the profile it redirects to
    // must see the session on the first load.
    return { httpOnly: true, sameSite: 'lax', secure: this.config.secureCookies, path: '/' };
  }
}
