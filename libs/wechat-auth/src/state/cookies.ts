import type { ServerResponse } from 'node:http';

/** At most this many same-named cookies are considered (a browser may hold one per path/domain). */
const MAX_SAME_NAME_COOKIES = 4;

/**
 * The values of every cookie called `name` in a Cookie header, in header order. Parsed here so that apps need
 * no cookie-parser. Values are returned raw (no percent-decoding): the library's own cookies never need it.
 */
export function readCookieValues(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join('; ') : header;
  const values: string[] = [];
  let start = 0;
  while (start < text.length && values.length < MAX_SAME_NAME_COOKIES) {
    let end = text.indexOf(';', start);
    if (end === -1) end = text.length;
    const pair = text.slice(start, end);
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      values.push(value);
    }
    start = end + 1;
  }
  return values;
}

/** Attributes of a Set-Cookie header. */
export interface SetCookieAttributes {
  maxAgeSeconds: number;
  path: string;
  domain?: string;
  secure: boolean;
  sameSite: 'lax' | 'none';
}

/** Serializes a Set-Cookie header; the cookie is always HttpOnly (scripts have no business reading login state). */
export function serializeSetCookie(name: string, value: string, attributes: SetCookieAttributes): string {
  const parts = [`${name}=${value}`, `Max-Age=${attributes.maxAgeSeconds}`, `Path=${attributes.path}`];
  if (attributes.domain !== undefined) parts.push(`Domain=${attributes.domain}`);
  parts.push('HttpOnly');
  if (attributes.secure) parts.push('Secure');
  parts.push(attributes.sameSite === 'none' ? 'SameSite=None' : 'SameSite=Lax');
  return parts.join('; ');
}

/** Adds a Set-Cookie header without dropping the ones already set (by the app or by another strategy). */
export function appendSetCookie(res: Pick<ServerResponse, 'getHeader' | 'setHeader'>, cookie: string): void {
  const existing = res.getHeader('Set-Cookie');
  if (existing === undefined) res.setHeader('Set-Cookie', [cookie]);
  else if (Array.isArray(existing)) res.setHeader('Set-Cookie', [...existing, cookie]);
  else res.setHeader('Set-Cookie', [String(existing), cookie]);
}
