/**
 * Catching the error a spec expects, checked to be of the expected class: for specs that go on to assert on the
 * error's own fields (problems, failure kind, errcode) or on what its message must not echo (secrets).
 */
import { expect } from '@jest/globals';

/** An error class, whatever its constructor takes. */
type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** The error `fn` throws, asserted to be a `type`; fails the test when `fn` returns instead. */
export function thrownBy<E extends Error>(fn: () => unknown, type: ErrorClass<E>): E {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected a ${type.name} to be thrown`);
}

/** The error `promise` rejects with, asserted to be a `type` (any Error by default); fails the test when it resolves. */
export async function rejectionOf<E extends Error = Error>(promise: Promise<unknown>, type?: ErrorClass<E>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (type) expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected a rejection${type ? ` with a ${type.name}` : ''}`);
}
