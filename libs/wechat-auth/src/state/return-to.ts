import { MAX_RETURN_TO_LENGTH } from '../wechat-auth.constants.js';

/**
 * True when `value` is a same-site path the callback may redirect to: it starts with a single `/`, holds only
 * printable ASCII without spaces or backslashes, and is at most {@link MAX_RETURN_TO_LENGTH} characters.
 *
 * Why so strict: browsers read `//host` and `/\host` as another origin (backslash is treated like a slash), and a
 * redirect target is the classic open-redirect vector. Non-ASCII paths must arrive percent-encoded; a raw one is
 * refused rather than guessed at.
 */
export function isSafeReturnTo(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO_LENGTH) return false;
  if (value[0] !== '/') return false;
  if (value.length > 1 && (value[1] === '/' || value[1] === '\\')) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // 0x21..0x7e: printable ASCII without space; backslash (0x5c) excluded anywhere.
    if (c < 0x21 || c > 0x7e || c === 0x5c) return false;
  }
  return true;
}

/** The first candidate that {@link isSafeReturnTo} accepts, else `fallback`. */
export function pickReturnTo(fallback: string, ...candidates: unknown[]): string {
  for (const candidate of candidates) {
    if (isSafeReturnTo(candidate)) return candidate;
  }
  return fallback;
}
