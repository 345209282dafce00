import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { thrownBy } from '../../../../test/support/thrown.js';
import { InvalidCallbackError } from '../errors/wechat-auth.errors.js';
import { WechatCallbackQuery, isCallbackQuery, parseCallbackQuery, queryParamsOf } from './wechat-callback.query.js';

function problemsOf(query: unknown): string[] {
  return thrownBy(() => parseCallbackQuery(query), InvalidCallbackError).problems;
}

describe('parseCallbackQuery', () => {
  it('accepts a code and a state, or a state alone (refusal)', () => {
    expect(parseCallbackQuery({ code: '011Abc-_9', state: 'abc123', other: ['x'] })).toEqual({ code: '011Abc-_9', state: 'abc123' });
    expect(parseCallbackQuery({ state: 'abc123' })).toEqual({ state: 'abc123' });
  });

  it.each([
    [{ code: 'abc' }, 'state is missing: a WeChat callback always carries the state the login sent'],
    [{ code: '', state: 's' }, 'code must not be empty'],
    [{ code: 'c', state: '' }, 'state must not be empty'],
    [{ code: ['a', 'b'], state: 's' }, 'code must appear exactly once, as a plain value'],
    [{ code: { nested: 'a' }, state: 's' }, 'code must appear exactly once, as a plain value'],
    [{ code: 'c', state: ['s', 's'] }, 'state must appear exactly once, as a plain value'],
    [{ code: 'a'.repeat(129), state: 's' }, 'code must be at most 128 characters'],
    [{ code: 'c', state: 's'.repeat(129) }, 'state must be at most 128 characters'],
    [{ code: 'abc\u0000', state: 's' }, 'code must contain only ASCII letters, digits, "-" and "_"'],
    [{ code: 'c', state: 's\r\nx' }, 'state must contain only ASCII letters, digits, "-" and "_"'],
    [{ code: '代码', state: 's' }, 'code must contain only ASCII letters, digits, "-" and "_"'],
    [{ code: 'a b', state: 's' }, 'code must contain only ASCII letters, digits, "-" and "_"'],
    [{ code: 'a%zz', state: 's' }, 'code must contain only ASCII letters, digits, "-" and "_"'],
  ])('refuses %j', (query, problem) => {
    expect(problemsOf(query)).toEqual([problem]);
  });

  it('reports both fields and never echoes a value', () => {
    const problems = problemsOf({ code: 'SECRETCODE\u0001', state: ['x'] });
    expect(problems).toHaveLength(2);
    expect(problems.join(' ')).not.toContain('SECRETCODE');
  });

  it('decides exactly as class-validator\'s validateSync does, for any input (the valid path skips only its overhead)', () => {
    const field = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,130}$/),
      fc.string({ maxLength: 140 }),
      fc.string({ unit: 'grapheme', maxLength: 10 }),
      fc.array(fc.stringMatching(/^[A-Za-z0-9]{1,8}$/), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
      fc.integer(),
      fc.boolean(),
    );
    fc.assert(
      fc.property(field, field, (code, state) => {
        const reference = validateSync(Object.assign(new WechatCallbackQuery(), { code, state }));
        const valid = reference.length === 0 && state !== undefined;
        let accepted: unknown;
        try {
          accepted = parseCallbackQuery({ code, state });
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidCallbackError);
          accepted = undefined;
        }
        expect({ code, state, valid: accepted !== undefined }).toEqual({ code, state, valid });
        if (valid) expect(accepted).toEqual(code === undefined ? { state } : { code, state });
      }),
      { numRuns: 3_000 },
    );
  });

  it('tells a callback from the start of a login', () => {
    expect(isCallbackQuery({})).toBe(false);
    expect(isCallbackQuery({ returnTo: '/x' })).toBe(false);
    expect(isCallbackQuery({ code: '' })).toBe(true);
    expect(isCallbackQuery({ state: 'x' })).toBe(true);
    expect(isCallbackQuery(undefined)).toBe(false);
  });
});

describe('queryParamsOf', () => {
  it('reads the named parameters from the raw URL, arrays for repeats, whatever the app\'s query parser', () => {
    expect(queryParamsOf('/cb?code=a&state=b&x=1', ['code', 'state'])).toEqual({ code: 'a', state: 'b' });
    expect(queryParamsOf('/cb?code=a&code=b', ['code', 'state'])).toEqual({ code: ['a', 'b'] });
    expect(queryParamsOf('/cb?code=&state=s#frag', ['code', 'state'])).toEqual({ code: '', state: 's' });
    expect(queryParamsOf('/cb?code[x]=1&state=%E4%BB%A3', ['code', 'state'])).toEqual({ state: '代' });
    expect(queryParamsOf('/cb', ['code'])).toEqual({});
    expect(queryParamsOf(undefined, ['code'])).toEqual({});
  });
});
