import { IsOptional, IsString, Matches, MaxLength, MinLength, getMetadataStorage, validateSync } from 'class-validator';
import type { ValidationArguments } from 'class-validator';
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

/** A property's rules, as class-validator holds them: conditions (`@IsOptional`) and synchronous validators. */
interface CompiledProperty {
  readonly property: string;
  readonly conditions: ReadonlyArray<(object: object, value: unknown) => boolean>;
  readonly validators: ReadonlyArray<{ validate(value: unknown, args: ValidationArguments): unknown; constraints: unknown[] }>;
}

let compiled: CompiledProperty[] | null | undefined;

/**
 * The rules of {@link WechatCallbackQuery}, read once from class-validator's metadata storage, with the validator
 * instances class-validator itself runs. Null when a rule is of a kind this shortcut does not evaluate (nested,
 * `each`, groups, a whitelist rule, an async validator...): every query then goes through `validateSync`.
 */
function compileCallbackQueryRules(): CompiledProperty[] | null {
  const storage = getMetadataStorage();
  const byProperty = new Map<string, { conditions: CompiledProperty['conditions'][number][]; validators: CompiledProperty['validators'][number][] }>();
  for (const metadata of storage.getTargetValidationMetadatas(WechatCallbackQuery, '', true, false)) {
    if (metadata.each || (metadata.groups?.length ?? 0) > 0 || metadata.always) return null;
    const rules = byProperty.get(metadata.propertyName) ?? { conditions: [], validators: [] };
    byProperty.set(metadata.propertyName, rules);
    if (metadata.type === 'conditionalValidation') {
      const condition = metadata.constraints?.[0] as unknown;
      if (typeof condition !== 'function') return null;
      rules.conditions.push(condition as (object: object, value: unknown) => boolean);
    } else if (metadata.type === 'customValidation') {
      const constraints = storage.getTargetValidatorConstraints(metadata.constraintCls);
      if (constraints.length !== 1 || constraints[0]?.async) return null;
      const instance = constraints[0]!.instance as CompiledProperty['validators'][number];
      rules.validators.push({ validate: (value, args) => instance.validate(value, args), constraints: metadata.constraints ?? [] });
    } else {
      return null;
    }
  }
  return [...byProperty].map(([property, rules]) => ({ property, ...rules }));
}

/**
 * Whether class-validator would accept `input`, by running its validators for the class's rules directly. It
 * decides "valid" only: anything it does not accept goes to `validateSync`, which decides and explains.
 */
function passesCompiledRules(input: WechatCallbackQuery, rules: readonly CompiledProperty[]): boolean {
  for (const { property, conditions, validators } of rules) {
    const value = (input as unknown as Record<string, unknown>)[property];
    if (conditions.some((condition) => !condition(input, value))) continue;
    for (const { validate, constraints } of validators) {
      const args: ValidationArguments = { value, constraints, targetName: 'WechatCallbackQuery', object: input, property };
      if (validate(value, args) !== true) return false;
    }
  }
  return true;
}

/**
 * Validates a callback's query string with class-validator (the rules of {@link WechatCallbackQuery}). A query that
 * passes is accepted after running those rules' validators directly; only one that fails goes through the full
 * `validateSync`, which explains what is wrong. Either way class-validator's rules and validators decide.
 * @throws InvalidCallbackError naming each bad field (never echoing its value).
 */
export function parseCallbackQuery(query: unknown): ValidCallbackQuery {
  const source = typeof query === 'object' && query !== null ? (query as Record<string, unknown>) : {};
  // Only the two fields matter; copying them as they are (no class-transformer conversion, which could turn an
  // array into a string) keeps other parameters and prototype tricks out of validation.
  const input = Object.assign(new WechatCallbackQuery(), { code: source.code, state: source.state });
  if (compiled === undefined) compiled = compileCallbackQueryRules();
  const problems: string[] = [];
  if (compiled === null || !passesCompiledRules(input, compiled)) {
    for (const error of validateSync(input, { validationError: { target: false, value: false } })) {
      const constraints = error.constraints ?? {};
      const first = CONSTRAINT_PRIORITY.find((name) => constraints[name] !== undefined);
      problems.push(first ? constraints[first]! : `${error.property} is invalid`);
    }
  }
  if (problems.length === 0 && input.state === undefined) {
    problems.push('state is missing: a WeChat callback always carries the state the login sent');
  }
  if (problems.length > 0) throw new InvalidCallbackError(problems);
  return { state: input.state!, ...(input.code === undefined ? {} : { code: input.code }) };
}
