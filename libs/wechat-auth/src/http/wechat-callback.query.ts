import { IsOptional, IsString, Matches, MaxLength, MinLength, validateSync } from 'class-validator';
import { InvalidCallbackError } from '../errors/wechat-auth.errors.js';
import { MAX_CALLBACK_PARAM_LENGTH } from '../wechat-auth.constants.js';

/**
 * The query string WeChat sends to the callback: `?code=CODE&state=STATE`, or `?state=STATE` alone when the user
 * refused. Both are short ASCII tokens; anything else (repeated, nested, empty, oversized, control or non-ASCII
 * characters) is refused with a 400 before any work, so malformed data never reaches the lock or WeChat.
 */
export class WechatCallbackQuery {
  /** The one-time authorization code. */
  @IsOptional()
  @IsString({ message: 'code must appear exactly once, as a plain value' })
  @MinLength(1, { message: 'code must not be empty' })
  @MaxLength(MAX_CALLBACK_PARAM_LENGTH, { message: `code must be at most ${MAX_CALLBACK_PARAM_LENGTH} characters` })
  @Matches(/^[A-Za-z0-9_-]*$/, { message: 'code must contain only ASCII letters, digits, "-" and "_"' })
  code?: string;

  /** The state the login sent to WeChat, returned unchanged. */
  @IsOptional()
  @IsString({ message: 'state must appear exactly once, as a plain value' })
  @MinLength(1, { message: 'state must not be empty' })
  @MaxLength(MAX_CALLBACK_PARAM_LENGTH, { message: `state must be at most ${MAX_CALLBACK_PARAM_LENGTH} characters` })
  @Matches(/^[A-Za-z0-9_-]*$/, { message: 'state must contain only ASCII letters, digits, "-" and "_"' })
  state?: string;
}

/** A callback query that passed validation: `state` always, `code` unless the user refused. */
export interface ValidCallbackQuery {
  code?: string;
  state: string;
}

// The first failing check of a field explains it best: "appears twice" says more than "is not a valid token".
const CONSTRAINT_PRIORITY = ['isString', 'minLength', 'maxLength', 'matches'];

/**
 * The named parameters of a request URL's query string, parsed here rather than taken from `req.query`: the result
 * must not depend on the app's query-parser setting (`simple`, `extended` or disabled). A repeated parameter comes
 * back as an array, which validation then refuses.
 */
export function queryParamsOf(url: string | undefined, names: readonly string[]): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
  const at = url?.indexOf('?') ?? -1;
  if (url === undefined || at === -1) return params;
  const hash = url.indexOf('#', at);
  const search = new URLSearchParams(url.slice(at + 1, hash === -1 ? undefined : hash));
  for (const name of names) {
    const values = search.getAll(name);
    if (values.length === 1) params[name] = values[0]!;
    else if (values.length > 1) params[name] = values;
  }
  return params;
}

/** True when the request is a callback (it carries `code` or `state`), not the start of a login. */
export function isCallbackQuery(query: unknown): boolean {
  return (
    typeof query === 'object' &&
    query !== null &&
    (Object.prototype.hasOwnProperty.call(query, 'code') || Object.prototype.hasOwnProperty.call(query, 'state'))
  );
}

/**
 * Validates a callback's query string.
 * @throws InvalidCallbackError naming each bad field (never echoing its value).
 */
export function parseCallbackQuery(query: unknown): ValidCallbackQuery {
  const source = typeof query === 'object' && query !== null ? (query as Record<string, unknown>) : {};
  // Only the two fields matter; copying them as they are (no class-transformer conversion, which could turn an
  // array into a string) keeps other parameters and prototype tricks out of validation.
  const input = Object.assign(new WechatCallbackQuery(), { code: source.code, state: source.state });
  const problems: string[] = [];
  for (const error of validateSync(input, { validationError: { target: false, value: false } })) {
    const constraints = error.constraints ?? {};
    const first = CONSTRAINT_PRIORITY.find((name) => constraints[name] !== undefined);
    problems.push(first ? constraints[first]! : `${error.property} is invalid`);
  }
  if (problems.length === 0 && input.state === undefined) {
    problems.push('state is missing: a WeChat callback always carries the state the login sent');
  }
  if (problems.length > 0) throw new InvalidCallbackError(problems);
  return { state: input.state!, ...(input.code === undefined ? {} : { code: input.code }) };
}
