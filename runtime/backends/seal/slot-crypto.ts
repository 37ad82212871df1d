import type { Ciphertext, Plaintext, SecretKey } from 'node-seal';
import { plaintextCoefficients, plaintextOfCoefficients } from './coefficients';
import { DeepPowersError, fail } from '../../../compiler/errors';
import { freeAll, type SealCkksContext } from './context';
import { maxEncodable } from '../backend';
import { copyBytes } from './keys';
import { sealErrorMessage } from './seal-module';

/**
 * The client's secret-key operations on slot vectors. Inputs are encrypted symmetrically with
 * the secret key, which the client holds anyway: SEAL can then send the ciphertext's random half
 * as a seed, so uploads are about half the size of public-key ciphertexts. (node-seal's Encryptor
 * cannot be built without a public key, so one is derived from the secret key locally; it is
 * never used or sent.)
 */
export interface SlotCrypto {
  /** Seeded, zstd-compressed ciphertext of `values` (length ≤ slots, rest zero) at `level` and `scale`. */
  encrypt(values: Float64Array, level: number, scale: number): Uint8Array;
  /** All slots of a ciphertext. */
  decrypt(ct: Ciphertext): Float64Array;
  /** The decrypted polynomial's integer coefficients at the ciphertext's `level` (./coefficients.ts). */
  decryptCoefficients(ct: Ciphertext, level: number): bigint[];
  /** Seeded, zstd-compressed ciphertext of the polynomial with these integer coefficients at `level` and `scale`. */
  encryptCoefficients(coefficients: readonly bigint[], level: number, scale: number): Uint8Array;
  dispose(): void;
}

export function createSlotCrypto(ctx: SealCkksContext, secretKey: SecretKey): SlotCrypto {
  const { seal } = ctx;
  const keygen = new seal.KeyGenerator(ctx.context, secretKey);
  const publicKey = keygen.createPublicKey();
  keygen.delete();
  const encryptor = new seal.Encryptor(ctx.context, publicKey, secretKey);
  publicKey.delete();
  const decryptor = new seal.Decryptor(ctx.context, secretKey);
  let disposed = false;
  const alive = () => {
    if (disposed) fail('BAD_ARGUMENT', 'the client keys were used after being disposed');
  };
  // SEAL's own exceptions become one-line IO errors naming what failed; ours pass through.
  const sealStep = <T>(what: string, run: () => T): T => {
    try {
      return run();
    } catch (e) {
      if (e instanceof DeepPowersError) throw e;
      throw new DeepPowersError('IO', `SEAL could not ${what}: ${sealErrorMessage(seal, e)}`);
    }
  };
  /** `pt` encrypted with the secret key: the seeded, zstd-compressed bytes. */
  const encryptPlaintext = (pt: Plaintext): Uint8Array => {
    const serializable = encryptor.encryptSymmetricSerializable(pt);
    try {
      return copyBytes(serializable.saveToArray(seal.ComprModeType.zstd));
    } finally {
      serializable.delete();
    }
  };
  /** The plaintext `ct` decrypts to, handed to `read` and freed after. */
  const decrypted = <T>(ct: Ciphertext, read: (pt: Plaintext) => T): T => {
    const pt = new seal.Plaintext();
    try {
      decryptor.decrypt(ct, pt);
      return read(pt);
    } finally {
      pt.delete();
    }
  };
  return {
    encrypt(values, level, scale) {
      alive();
      if (values.length > ctx.slots) fail('BAD_ARGUMENT', `${values.length} values do not fit ${ctx.slots} slots`);
      const bound = maxEncodable(ctx.spec.coeffModulusBits, level, scale);
      for (const v of values) if (!(Math.abs(v) <= bound)) fail('BAD_DATA', `the value ${v} cannot be encoded at scale 2^${Math.log2(scale).toFixed(1)}: |x| must be at most ${bound.toExponential(3)}`);
      const slots = values.length === ctx.slots ? values : padded(values, ctx.slots);
      return sealStep('encrypt', () => {
        const pt = new seal.Plaintext();
        try {
          ctx.encoder.encode(slots, scale, pt);
          if (level < ctx.maxLevel) ctx.evaluator.plainModSwitchToInplace(pt, ctx.parmsIdAt(level));
          return encryptPlaintext(pt);
        } finally {
          pt.delete();
        }
      });
    },
    decrypt(ct) {
      alive();
      return sealStep('decrypt', () => decrypted(ct, (pt) => Float64Array.from(ctx.encoder.decodeFloat64(pt) as ArrayLike<number>)));
    },
    decryptCoefficients(ct, level) {
      alive();
      return sealStep('decrypt', () => decrypted(ct, (pt) => plaintextCoefficients(ctx, pt, level)));
    },
    encryptCoefficients(coefficients, level, scale) {
      alive();
      // No check on the values: they are decrypted ones a server chose (a refusal would be a reaction oracle); each is reduced mod the primes.
      return sealStep('encrypt', () => {
        const pt = plaintextOfCoefficients(ctx, coefficients, level, scale);
        try {
          return encryptPlaintext(pt);
        } finally {
          pt.delete();
        }
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      freeAll(encryptor, decryptor);
    },
  };
}

function padded(values: Float64Array, slots: number): Float64Array {
  const out = new Float64Array(slots);
  out.set(values);
  return out;
}
