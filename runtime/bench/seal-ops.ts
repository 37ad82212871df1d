import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Ciphertext, GaloisKeys, Plaintext, RelinKeys } from 'node-seal';
import { DeepPowersError, fail } from '../../compiler/errors';
import { parameterId } from '../../compiler/params/parameter-id';
import { createCoeffModulus } from '../../compiler/params/primes';
import { createSealContext, freeAll } from '../backends/seal/context';
import { sealErrorMessage } from '../backends/seal/seal-module';

/**
 * Per-operation node-seal costs at one N and modulus chain: the numbers the cost model multiplies
 * op counts by, and the microbenchmark table of `npm run bench`. Each op gets one untimed warm-up
 * call, then `reps` timed calls; only the op itself is inside the timed window.
 */
export type SealOpName =
  | 'encode'
  | 'encrypt'
  | 'add'
  | 'multiplyPlain'
  | 'multiply'
  | 'relinearize'
  | 'rescale'
  | 'rotate'
  | 'decryptDecode';

export interface SealOpsBenchOptions {
  readonly polyModulusDegree: number;
  /** Bit sizes as for CoeffModulus.Create: first, scale primes, special prime. */
  readonly coeffModulusBits: readonly number[];
  readonly scaleBits: number;
  /** Timed calls per op (default 20). */
  readonly reps?: number;
  /**
   * Level the evaluator ops run at (default: the top, a fresh ciphertext's). Costs shrink with the
   * primes left, roughly linearly for element-wise ops and quadratically for key switching.
   * encode, encrypt and decrypt always run at the top level.
   */
  readonly level?: number;
}

export interface SealOpsBenchResult {
  readonly polyModulusDegree: number;
  readonly coeffModulusBits: readonly number[];
  readonly level: number;
  readonly reps: number;
  /** Mean milliseconds per call; rescale is null at level 0, where there is no prime to drop. */
  readonly ms: Readonly<Record<SealOpName, number | null>>;
}

function meanMs(reps: number, op: () => void): number {
  op();
  let total = 0;
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    op();
    total += performance.now() - start;
  }
  return total / reps;
}

export async function benchSealOps(options: SealOpsBenchOptions): Promise<SealOpsBenchResult> {
  const reps = options.reps ?? 20;
  if (!Number.isInteger(reps) || reps < 1) fail('BAD_ARGUMENT', `reps must be a positive integer, got ${reps}`);
  const n = options.polyModulusDegree;
  const bits = [...options.coeffModulusBits];
  const primes = createCoeffModulus(n, bits).map((p) => p.toString());
  const ctx = await createSealContext({
    polyModulusDegree: n,
    coeffModulusBits: bits,
    primes,
    parameterId: parameterId({ polyModulusDegree: n, primes }),
  });
  const level = options.level ?? ctx.maxLevel;
  if (!Number.isInteger(level) || level < 0 || level > ctx.maxLevel) {
    ctx.dispose();
    fail('BAD_ARGUMENT', `level ${level} is outside the modulus chain 0..${ctx.maxLevel}`);
  }
  const { seal, encoder, evaluator } = ctx;
  const keygen = new seal.KeyGenerator(ctx.context);
  const secretKey = keygen.secretKey();
  const publicKey = keygen.createPublicKey();
  let relinKeys: RelinKeys | undefined;
  let galoisKeys: GaloisKeys | undefined;
  const owned: Array<Ciphertext | Plaintext> = [];
  const ct = (): Ciphertext => {
    const c = new seal.Ciphertext();
    owned.push(c);
    return c;
  };
  const pt = (): Plaintext => {
    const p = new seal.Plaintext();
    owned.push(p);
    return p;
  };
  const encryptor = new seal.Encryptor(ctx.context, publicKey);
  const decryptor = new seal.Decryptor(ctx.context, secretKey);
  try {
    relinKeys = keygen.createRelinKeys();
    galoisKeys = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
    const values = Float64Array.from({ length: ctx.slots }, (_, i) => Math.sin(i));
    // Products must stay inside the primes left at `level`; op cost does not depend on the scale.
    const levelBits = bits.slice(0, level + 1).reduce((x, y) => x + y, 0);
    const scale = 2 ** Math.min(options.scaleBits, Math.floor((levelBits - 2) / 2));

    const plain = pt();
    const encodeOut = pt();
    const encode = meanMs(reps, () => encoder.encode(values, scale, encodeOut));
    encoder.encode(values, scale, plain);
    const encryptOut = ct();
    const encrypt = meanMs(reps, () => encryptor.encrypt(plain, encryptOut));

    // Decrypt at the top level, then move the operands down to the requested level.
    const a = ct();
    const b = ct();
    encryptor.encrypt(plain, a);
    encryptor.encrypt(plain, b);
    const decrypted = pt();
    const decryptDecode = meanMs(reps, () => {
      decryptor.decrypt(a, decrypted);
      encoder.decodeFloat64(decrypted);
    });
    const check = encoder.decodeFloat64(decrypted) as Float64Array;
    if (Math.abs(check[1]! - Math.sin(1)) > 1e-2) {
      fail('IO', `node-seal decoded ${check[1]} for sin(1) at N=${n}: the benchmark's parameters are broken`);
    }
    if (level < ctx.maxLevel) {
      const id = ctx.parmsIdAt(level);
      evaluator.cipherModSwitchToInplace(a, id);
      evaluator.cipherModSwitchToInplace(b, id);
      evaluator.plainModSwitchToInplace(plain, id);
    }

    const sum = ct();
    const add = meanMs(reps, () => evaluator.add(a, b, sum));
    const plainProduct = ct();
    const multiplyPlain = meanMs(reps, () => evaluator.multiplyPlain(a, plain, plainProduct));
    const product = ct();
    const multiply = meanMs(reps, () => evaluator.multiply(a, b, product));
    const relinearized = ct();
    const relinearize = meanMs(reps, () => evaluator.relinearize(product, relinKeys!, relinearized));
    const rescaled = ct();
    const rescale = level === 0 ? null : meanMs(reps, () => evaluator.rescaleToNext(plainProduct, rescaled));
    const rotated = ct();
    const rotate = meanMs(reps, () => evaluator.rotateVector(a, 1, galoisKeys!, rotated));

    return {
      polyModulusDegree: n,
      coeffModulusBits: bits,
      level,
      reps,
      ms: { encode, encrypt, add, multiplyPlain, multiply, relinearize, rescale, rotate, decryptDecode },
    };
  } catch (e) {
    if (e instanceof DeepPowersError) throw e;
    throw new DeepPowersError('IO', `node-seal benchmark failed at N=${n}: ${sealErrorMessage(seal, e)}`);
  } finally {
    freeAll(...owned, encryptor, decryptor, relinKeys, galoisKeys, publicKey, secretKey, keygen);
    ctx.dispose();
  }
}

function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

// `npx tsx runtime/bench/seal-ops.ts --n 8192 --bits 60,40,40,60 --scale 40 [--reps 20] [--level L]`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const level = argValue(args, '--level');
  const result = await benchSealOps({
    polyModulusDegree: Number(argValue(args, '--n') ?? 8192),
    coeffModulusBits: (argValue(args, '--bits') ?? '60,40,40,60').split(',').map(Number),
    scaleBits: Number(argValue(args, '--scale') ?? 40),
    reps: Number(argValue(args, '--reps') ?? 20),
    ...(level !== undefined ? { level: Number(level) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
