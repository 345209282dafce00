/** The longest errmsg kept: WeChat's are short; anything longer is not worth carrying around in logs. */
const MAX_ERRMSG_LENGTH = 200;

/** Values shorter than this are not redacted literally (they would shred ordinary words); patterns still apply. */
const MIN_LITERAL_SECRET_LENGTH = 6;

const RID_PATTERN = /[,;]?\s*\brid:\s*([A-Za-z0-9._-]+)/;
const HINTS_PATTERN = /[,;]?\s*\bhints:\s*\[\s*req_id:\s*([A-Za-z0-9._-]+)\s*\]/;

/**
 * Anything WeChat (or a proxy in front of it) might echo back after a secret-bearing parameter name.
 * `\b` keeps `errcode` from matching `code`.
 */
const SECRET_PARAMETER_PATTERN =
  /\b(appsecret|secret|code|access_token|refresh_token|token)(\s*[=:]\s*)"?[^\s,&;"'\]\)]+"?/gi;

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces secret-looking `name=value` pairs and the literal secret values the caller sent (app secret, code,
 * tokens) with `[redacted]`.
 */
export function redactSecrets(text: string, literals: readonly string[] = []): string {
  let redacted = text.replace(SECRET_PARAMETER_PATTERN, '$1$2[redacted]');
  for (const literal of literals) {
    if (literal.length < MIN_LITERAL_SECRET_LENGTH) continue;
    redacted = redacted.replace(new RegExp(escapeRegExp(literal), 'g'), '[redacted]');
  }
  return redacted;
}

/**
 * Splits WeChat's errmsg into the message and its trace id. WeChat writes the id as `…, rid: 6573f1a2-…` or, on
 * older gateways, `…, hints: [ req_id: VJFa2a0797ns49 ]`.
 */
export function splitErrmsg(raw: string): { errmsg: string; rid?: string } {
  let errmsg = raw;
  let rid: string | undefined;
  for (const pattern of [RID_PATTERN, HINTS_PATTERN]) {
    const match = pattern.exec(errmsg);
    if (match) {
      rid ??= match[1];
      errmsg = errmsg.slice(0, match.index) + errmsg.slice(match.index + match[0].length);
    }
  }
  errmsg = errmsg.trim().replace(/[,;]\s*$/, '').trim();
  return { errmsg, rid };
}

/** WeChat's errmsg made safe to carry: trace id split off, secrets redacted, length bounded, no control characters. */
export function cleanErrmsg(raw: unknown, literals: readonly string[]): { errmsg: string; rid?: string } {
  const text = typeof raw === 'string' ? raw : raw === undefined || raw === null ? '' : String(raw);
  const { errmsg, rid } = splitErrmsg(text);
  // Redact before truncating, so a secret cut in half cannot survive as a prefix.
  const safe = redactSecrets(errmsg, literals).replace(/\p{Cc}/gu, ' ');
  const bounded = safe.length > MAX_ERRMSG_LENGTH ? `${safe.slice(0, MAX_ERRMSG_LENGTH)}…` : safe;
  return { errmsg: bounded, rid: rid === undefined ? undefined : redactSecrets(rid, literals) };
}
