import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * Ends a request with a redirect from inside a guard. A guard that wrote the redirect itself and returned false
 * would make Nest throw 403 on an already-answered response; the exception filter answers this one instead.
 */
export class RedirectException extends HttpException {
  constructor(
    /** A same-site path or an absolute URL. */
    readonly location: string,
    status: HttpStatus.FOUND | HttpStatus.SEE_OTHER = HttpStatus.FOUND,
  ) {
    super({ statusCode: status, message: `Redirecting to ${location}` }, status);
  }
}
