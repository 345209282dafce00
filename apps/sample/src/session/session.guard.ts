import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { prefersJson } from '../http/content-negotiation.js';
import { RedirectException } from '../http/redirect.exception.js';
import type { SampleSession } from './session-codec.js';
import { SessionService } from './session.service.js';

/** Where {@link SessionGuard} puts the session on the request. */
export interface RequestWithSession extends Request {
  session?: SampleSession;
}

const LOGIN_REDIRECT = Symbol('LOGIN_REDIRECT');

/**
 * Marks an HTML page route: a browser without a session is sent to the WeChat login and comes back here
 * (`302 /auth/wechat?returnTo=<this path>`). Unmarked routes answer 401 JSON.
 */
export const RedirectToLogin = (): MethodDecorator & ClassDecorator => SetMetadata(LOGIN_REDIRECT, true);

/** The login route a page without a session redirects to. */
export const LOGIN_PATH = '/auth/wechat';

/**
 * The login URL that comes back to `returnTo` (this server's own path; the login route validates it again).
 * Slashes stay readable (`?returnTo=/profile`); everything else that could end the parameter is encoded.
 */
export function loginUrl(returnTo: string): string {
  return `${LOGIN_PATH}?returnTo=${encodeURIComponent(returnTo).replace(/%2F/gi, '/')}`;
}

/**
 * Requires the app's own session (not WeChat's: the WeChat login only creates it). API routes answer 401 JSON;
 * page routes marked {@link RedirectToLogin} redirect browsers to the login with `returnTo`, and answer 401 to a
 * client that explicitly asks for JSON.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly sessions: SessionService,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<RequestWithSession>();
    const session = this.sessions.read(req);
    if (session) {
      req.session = session;
      return true;
    }
    const redirect = this.reflector.getAllAndOverride<boolean | undefined>(LOGIN_REDIRECT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (redirect && !prefersJson(req) && (req.method === 'GET' || req.method === 'HEAD')) {
      throw new RedirectException(loginUrl(req.originalUrl));
    }
    throw new UnauthorizedException('Sign in with WeChat first: no valid session.');
  }
}
