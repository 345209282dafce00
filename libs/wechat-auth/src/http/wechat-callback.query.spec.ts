import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { InvalidCallbackError } from '../errors/wechat-auth.errors.js';
import { isCallbackQuery, parseCallbackQuery, queryParamsOf } from './wechat-callback.query.js';

function problemsOf(query: unknown): string[] {
  try {
    parseCallbackQuery(query);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidCallbackError);
    return (error as InvalidCallbackError).problems;
  }
  throw new Error('expected InvalidCallbackError');
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
