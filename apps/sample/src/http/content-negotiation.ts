import type { Request } from 'express';

/**
 * True when the client explicitly prefers HTML (a browser navigation: `Accept: text/html,...,*\/*;q=0.8`).
 * `*\/*`, a missing Accept header and `application/json` all get JSON: API clients and tools read errors as data.
 */
export function prefersHtml(req: Request): boolean {
  if (!req.headers.accept) return false;
  return req.accepts(['json', 'html']) === 'html';
}

/**
 * True when the client explicitly prefers JSON over HTML (`Accept: application/json`). Page routes redirect
 * everyone else (browsers, `*\/*`, no Accept) to the login.
 */
export function prefersJson(req: Request): boolean {
  if (!req.headers.accept) return false;
  return req.accepts(['html', 'json']) === 'json';
}
