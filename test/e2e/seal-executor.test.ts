import type { Ciphertext } from 'node-seal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Circuit } from '../../compiler/circuit/ir';
import { DeepPowersError } from '../../compiler/errors';
import { loadCiphertexts } from '../../runtime/backends/seal/ciphertexts';
import { createSealContext, freeAll, type SealCkksContext } from '../../runtime/backends/seal/context';
import { executeCircuit } from '../../runtime/backends/seal/executor';
import { generateKeys, loadEvaluationKeys, type SealEvaluationKeys } from '../../runtime/backends/seal/keys';
import { plaintextBytesAt } from '../../compiler/params/sizes';
import { cachedPlaintextBytes, createPlaintextCache, type PlaintextCache } from '../../runtime/backends/seal/plaintext-cache';
import { createSlotCrypto, type SlotCrypto } from '../../runtime/backends/seal/slot-crypto';
import { simulateCircuit } from '../../runtime/backends/simulate';
import { buildCircuit, testSpec } from './seal-test-circuits';
import { checkCircuitFits } from '../../runtime/backends/backend';

const N = 8192;
const SCALE_BITS = 40;
const spec = testSpec(N, [60, SCALE_BITS, SCALE_BITS, 60]);
const DELTA = 2 ** SCALE_BITS;
const q = (level: number) => Number(BigInt(spec.primes[level]!));

/**
 * CKKS error bound for these shallow circuits, per unit of output magnitude: fresh-encryption,
 * rescale and key-switching noise are a few multiples of √N·σ / Δ, and products scale the
 * operands' errors by their magnitude. 2^(log2 N + 6) / Δ ≈ 4.8e-7 per unit leaves a margin over
 * the ~1e-8 per unit seen, while any slot, rotation or scale bug is off by O(1).
 */
const TOLERANCE = 2 ** (Math.log2(N) + 6 - SCALE_BITS);

/** Exercises every op kind: add, mulPlain+rescale, rotate, mul+relin+rescale, modswitch, sub, neg, scalars, addPlain. */
function allOpsCircuit(): Circuit {
  const slots = N / 2;
  return buildCircuit(spec, {
    inputs: [
      { kind: 'replicated', size: slots, period: slots },
      { kind: 'replicated', size: slots, period: slots },
    ],
    outputs: [{ kind: 'feature', element: 0 }, { kind: 'feature', element: 1 }, { kind: 'feature', element: 2 }],
    inputScale: DELTA,
    constants: [Float64Array.from([0.5, -1, 2, 0.25, 1, -0.5, 1.5, 3]), Float64Array.from({ length: slots }, (_, i) => Math.cos(i))],
    ops: [
      { op: 'input', input: 0 }, // 0: x
      { op: 'input', input: 1 }, // 1: y
      { op: 'add', a: 0, b: 1 }, // 2
      { op: 'mulPlain', a: 2, c: 0, encodeScale: q(2) }, // 3: lands exactly on Δ after the rescale
      { op: 'rescale', a: 3, target: 1 }, // 4
      { op: 'rotate', a: 4, k: 3 }, // 5
      { op: 'mul', a: 4, b: 5 }, // 6
      { op: 'relin', a: 6 }, // 7
      { op: 'rescale', a: 7, target: 0 }, // 8
      { op: 'output', a: 8, output: 0 }, // 9
      { op: 'modswitch', a: 1 }, // 10: y at level 1
      { op: 'sub', a: 10, b: 4 }, // 11
      { op: 'neg', a: 11 }, // 12
      { op: 'addScalar', a: 12, value: 0.5, encodeScale: DELTA }, // 13
      { op: 'mulScalar', a: 13, value: 3, encodeScale: q(1) }, // 14
      { op: 'rescale', a: 14, target: 0 }, // 15
      { op: 'addPlain', a: 15, c: 1, encodeScale: DELTA }, // 16
      { op: 'output', a: 16, output: 1 }, // 17
      { op: 'modswitch', a: 0 }, // 18
      { op: 'modswitch', a: 18 }, // 19
      { op: 'output', a: 19, output: 2 }, // 20
    ],
  });
}

function randomSlots(seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: N / 2 }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
}

describe('SEAL executor', () => {
  let ctx: SealCkksContext;
  let crypto: SlotCrypto;
  let keys: SealEvaluationKeys;
  let cache: PlaintextCache;
  const circuit = allOpsCircuit();

  beforeAll(async () => {
    ctx = await createSealContext(spec);
    checkCircuitFits(ctx.spec, circuit);
    const generated = generateKeys(ctx, { relin: true, rotationSteps: circuit.rotationSteps });
    crypto = createSlotCrypto(ctx, generated.secretKey);
    generated.secretKey.delete();
    keys = loadEvaluationKeys(ctx, generated.evaluationKeys, { relin: true, rotationSteps: circuit.rotationSteps });
    cache = createPlaintextCache(ctx);
  });
  afterAll(() => {
    cache.dispose();
    keys.dispose();
    crypto.dispose();
    ctx.dispose();
  });

  function encryptInputs(xs: readonly Float64Array[]): Ciphertext[] {
    const top = circuit.ops[0]!;
    const bytes = xs.map((x) => crypto.encrypt(x, top.level, top.scale));
    return loadCiphertexts(ctx, bytes, (i) => ({ level: top.level, scale: top.scale, label: `input ${i}` }));
  }

  test('every op kind agrees with the simulate backend within the scale-derived tolerance', () => {
    const xs = [randomSlots(1), randomSlots(2)];
    const inputs = encryptInputs(xs);
    const outputs = executeCircuit(ctx, circuit, inputs, keys, cache);
    const expected = simulateCircuit(circuit, xs);
    outputs.forEach((ct, k) => {
      const outOp = circuit.ops.find((op) => op.op === 'output' && op.output === k)!;
      expect(ct.scale()).toBeCloseTo(outOp.scale, -2);
      const got = crypto.decrypt(ct);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[k]![i]!));
      const magnitude = expected[k]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(worst, `output ${k}`).toBeLessThan(TOLERANCE * (1 + magnitude));
    });
    // Inputs stay the caller's: the executor must not have freed or moved them down the chain.
    expect(inputs.map((ct) => !ct.isDeleted() && ct.coeffModulusSize() - 1)).toEqual([2, 2]);
    freeAll(...outputs, ...inputs);
  });

  test('rotation follows the IR convention: slot i+k moves to slot i', () => {
    const xs = [Float64Array.from({ length: N / 2 }, (_, i) => i % 97), new Float64Array(N / 2)];
    const inputs = encryptInputs(xs);
    const seen: Float64Array[] = [];
    const outputs = executeCircuit(ctx, circuit, inputs, keys, cache, {
      observe: (index, _op, ct) => {
        if (index === 4 || index === 5) seen.push(crypto.decrypt(ct));
      },
    });
    const [before, rotated] = seen;
    for (const i of [0, 1, 100, N / 2 - 4]) expect(rotated![i]).toBeCloseTo(before![(i + 3) % (N / 2)]!, 5);
    freeAll(...outputs, ...inputs);
  });

  test('constants are encoded once per (constant, level, scale) and reused', () => {
    const before = cache.size;
    const inputs = encryptInputs([randomSlots(3), randomSlots(4)]);
    freeAll(...executeCircuit(ctx, circuit, inputs, keys, cache), ...inputs);
    expect(before).toBe(4); // c0, c1 and the two scalars
    expect(cache.size).toBe(before);
  });

  test('scalars past the byte budget are encoded per use and freed, with the same results', () => {
    const xs = [randomSlots(6), randomSlots(7)];
    const inputs = encryptInputs(xs);
    const cached = executeCircuit(ctx, circuit, inputs, keys, cache);
    const tight = createPlaintextCache(ctx, { scalarBudgetBytes: 0 });
    try {
      const uncached = executeCircuit(ctx, circuit, inputs, keys, tight);
      // The same encodings, so the same ciphertext contents up to fresh noise (none is added here).
      cached.forEach((ct, k) => expect(Array.from(crypto.decrypt(uncached[k]!))).toEqual(Array.from(crypto.decrypt(ct))));
      expect(tight.size).toBe(2); // the table constants only
      expect(tight.scalarBytes).toBe(0);
      expect(cachedPlaintextBytes(circuit, N, 0)).toBe(cachedPlaintextBytes(circuit, N) - 2 * plaintextBytesAt(N, 1));
      freeAll(...uncached);
    } finally {
      tight.dispose();
    }
    freeAll(...cached, ...inputs);
  });

  test('a ciphertext at a scale the circuit did not plan is refused before SEAL runs', () => {
    const top = circuit.ops[0]!;
    const bytes = crypto.encrypt(randomSlots(5), top.level, top.scale * 2);
    expect(() => loadCiphertexts(ctx, [bytes], () => ({ level: top.level, scale: top.scale, label: 'input 0' }))).toThrow(
      /input 0 has scale 2\^41\.0000, expected 2\^40\.0000/,
    );
    const low = crypto.encrypt(randomSlots(5), top.level - 1, top.scale);
    expect(() => loadCiphertexts(ctx, [low], () => ({ level: top.level, scale: top.scale, label: 'input 0' }))).toThrow(
      /input 0 is at level 1, expected 2/,
    );
  });

  test('a circuit whose scales disagree with SEAL is stopped at the first wrong op', () => {
    const bent: Circuit = { ...circuit, ops: circuit.ops.map((op, i) => (i === 4 ? { ...op, scale: op.scale * (1 + 1e-6) } : op)) };
    const inputs = encryptInputs([randomSlots(6), randomSlots(7)]);
    let error: unknown;
    try {
      executeCircuit(ctx, bent, inputs, keys, cache);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DeepPowersError);
    expect((error as Error).message).toMatch(/^op 4 \(rescale\) has scale/);
    freeAll(...inputs);
  });

  test('rotation without the matching Galois key is a clear error, not a silent split', () => {
    const noGalois = loadEvaluationKeysWithout(ctx);
    const inputs = encryptInputs([randomSlots(8), randomSlots(9)]);
    expect(() => executeCircuit(ctx, circuit, inputs, noGalois, cache)).toThrow(/op 5 rotates, but no Galois keys were loaded/);
    freeAll(...inputs);
    noGalois.dispose();
  });
});

function loadEvaluationKeysWithout(ctx: SealCkksContext): SealEvaluationKeys {
  const generated = generateKeys(ctx, { relin: true, rotationSteps: [] });
  generated.secretKey.delete();
  return loadEvaluationKeys(ctx, generated.evaluationKeys, { relin: true, rotationSteps: [] });
}
