import type { Ciphertext } from 'node-seal';
import { fail } from '../../../compiler/errors';
import type { CiphertextExpectation } from '../backend';
import { freeAll, type SealCkksContext } from './context';
import { copyBytes } from './keys';
import { sealErrorMessage } from './seal-module';

const SCALE_TOLERANCE = 1e-9;

export function saveCiphertext(ctx: SealCkksContext, ct: Ciphertext): Uint8Array {
  return copyBytes(ct.saveToArray(ctx.seal.ComprModeType.zstd));
}

/**
 * Load one serialized ciphertext and check it is a proper ciphertext of this context where the
 * circuit expects it. SEAL's loader already refuses malformed buffers and data for other
 * parameters; what it lets through (a valid ciphertext at the wrong level or scale, a
 * transparent one that would reveal its plaintext, a relinearization-pending size-3 one) is
 * refused here. The caller owns the result.
 */
export function loadCiphertext(ctx: SealCkksContext, bytes: Uint8Array, want: CiphertextExpectation): Ciphertext {
  const ct = new ctx.seal.Ciphertext();
  try {
    try {
      ct.loadFromArray(ctx.context, bytes);
    } catch (e) {
      fail('BAD_CIPHERTEXT', `${want.label} is not a ciphertext for parameter set ${ctx.spec.parameterId}: ${sealErrorMessage(ctx.seal, e)}`);
    }
    const id = ct.parmsId();
    const level = ctx.levelOfParmsId(id);
    id.delete();
    if (level === undefined) fail('BAD_CIPHERTEXT', `${want.label} belongs to no level of parameter set ${ctx.spec.parameterId}`);
    if (level !== want.level) fail('BAD_CIPHERTEXT', `${want.label} is at level ${level}, expected ${want.level}`);
    if (ct.isTransparent()) fail('BAD_CIPHERTEXT', `${want.label} is transparent (not encrypted)`);
    if (ct.size() !== 2) fail('BAD_CIPHERTEXT', `${want.label} has ${ct.size()} polynomials, expected 2`);
    if (!ct.isNttForm()) fail('BAD_CIPHERTEXT', `${want.label} is not in NTT form, as CKKS ciphertexts are`);
    const scale = ct.scale();
    if (!(Math.abs(scale - want.scale) <= SCALE_TOLERANCE * want.scale)) {
      fail('BAD_CIPHERTEXT', `${want.label} has scale 2^${Math.log2(scale).toFixed(4)}, expected 2^${Math.log2(want.scale).toFixed(4)}`);
    }
    return ct;
  } catch (e) {
    ct.delete();
    throw e;
  }
}

/** Load many; on any failure the ones already loaded are freed before the error propagates. */
export function loadCiphertexts(ctx: SealCkksContext, parts: readonly Uint8Array[], want: (index: number) => CiphertextExpectation): Ciphertext[] {
  const out: Ciphertext[] = [];
  try {
    parts.forEach((bytes, i) => out.push(loadCiphertext(ctx, bytes, want(i))));
    return out;
  } catch (e) {
    freeAll(...out);
    throw e;
  }
}
