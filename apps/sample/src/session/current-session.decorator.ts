import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { RequestWithSession } from './session.guard.js';

/** The session {@link SessionGuard} verified; use it only on routes the guard protects. */
export const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return context.switchToHttp().getRequest<RequestWithSession>().session;
});
