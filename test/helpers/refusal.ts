/**
 * Asserting that the compiler refuses something the way it promises to: with a DeepPowersError
 * (of a given code, where the test cares), not a crash and not silence.
 */
import { expect } from 'vitest';
import { DeepPowersError, type ErrorCode } from '../../compiler/errors';

/** The DeepPowersError `fn` throws; fails the test if it throws anything else, another code, or nothing. */
export function refusalOf(fn: () => unknown, code?: ErrorCode): DeepPowersError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DeepPowersError);
    if (code !== undefined) expect((e as DeepPowersError).code).toBe(code);
    return e as DeepPowersError;
  }
  throw new Error(`expected a ${code ?? 'DeepPowersError'} refusal, nothing was thrown`);
}

/** The message of the BAD_ARTIFACT refusal `fn` throws. */
export function artifactRefusal(fn: () => unknown): string {
  return refusalOf(fn, 'BAD_ARTIFACT').message;
}
