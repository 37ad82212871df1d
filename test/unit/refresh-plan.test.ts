import { describe, expect, test } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel } from '../../compiler/artifact/codec';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { ApproxStage } from '../../compiler/chain/stages';
import { cutPoints, MASK_BITS } from '../../compiler/plan/refresh-plan';
import { drawMask } from '../../compiler/client-steps/masks';
import { REFRESH } from '../../compiler/client-steps/refresh';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';

/**
 * compile --refresh auto (compiler/plan/refresh-plan.ts): where the chain may be cut, what a
 * cut buys (a smaller N), that the artifact keeps the segments, and that the refreshed body in
 * simulation computes what the whole one does (and what PyTorch computed, data.json).
 */

const affine = (inSize: number, outSize: number, reads?: number[]): ApproxStage => ({
  kind: 'affine',
  sources: [],
  inSize,
  outSize,
  weights: new Float64Array(inSize * outSize),
  bias: new Float64Array(outSize),
  ...(reads ? { reads } : {}),
});
const poly = (size: number): ApproxStage => ({
  kind: 'poly',
  fn: 'relu',
  sources: [],
  size,
  range: [-1, 1],
  method: 'chebyshev',
  chebyshev: Float64Array.of(0, 1),
  degree: 1,
  maxError: 0,
});

describe('cut points', () => {
  test('before each affine map that follows an activation', () => {
    expect(cutPoints([affine(4, 3), poly(3), affine(3, 2), poly(2), affine(2, 1)])).toEqual([2, 4]);
    expect(cutPoints([affine(4, 3), affine(3, 2)])).toEqual([]);
  });
  test('none when a stage reads across (a DAG body)', () => {
    expect(cutPoints([affine(4, 3), poly(3), affine(7, 2, [-1, 1])])).toEqual([]);
  });
});

describe('the mask', () => {
  test('r is uniform in ±2^σ·B: within the bound, both signs, spread over it', () => {
    const r = drawMask(4096, MASK_BITS, 8);
    const bound = 2 ** MASK_BITS * 8;
    expect(r.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(r.filter((v) => v > 0).length).toBeGreaterThan(1800);
    expect(r.filter((v) => Math.abs(v) > bound / 2).length).toBeGreaterThan(1800);
  });
  test('adding and removing it costs at most the float64 rounding of |z| ≤ 2^σ·B (hand bound 2^(σ + log2 B − 52))', () => {
    const y = [Float64Array.of(0.1234567890123, -3.75, 7.999999)];
    const back = REFRESH.simulate(y, { kind: 'refresh' }, { maskBits: MASK_BITS, maskBound: 8 })[0]!;
    back.forEach((v, i) => expect(Math.abs(v - y[0]![i]!)).toBeLessThanOrEqual(2 ** (MASK_BITS + 3 - 52)));
  });
});

const NAME = 'pt_mlp_digits_relu';

function compiled(refresh: 'auto' | 'off'): CompiledModel {
  const f = loadFixture(NAME);
  return compiledFixture(f, { layout: 'vector', refresh });
}

describe(`${NAME} (two ReLU layers) with --refresh auto`, () => {
  const cut = compiled('auto');

  test('is cut in two at the second affine map and runs at a smaller N (16384, not 32768)', () => {
    expect(cut.refresh?.segments.map((s) => s.startStage)).toEqual([2]);
    expect(cut.parameters.polyModulusDegree).toBe(16384);
    expect(cut.calibration.precision.reached).toBe(true);
  });

  test('with --refresh off, one circuit at N = 32768 is refused in one line: its keys overflow the heap budget', () => {
    expect(() => compiled('off')).toThrow(/^with a key per rotation step, the body as one circuit needs about [\d.]+ GiB of WASM memory at N=32768 .*over the 3\.50 GiB budget.*--refresh off forbids the client steps.*; with keys for powers of two only \(tried by --rotation-keys auto\), the body as one circuit needs about [\d.]+ GiB .*over the 3\.50 GiB budget/);
  });

  test('the artifact keeps the segments and their hash', () => {
    const back = decodeCompiledModel(encodeCompiledModel(cut));
    expect(back.modelHash).toBe(cut.modelHash);
    expect(bodyCircuits(back).map((c) => c.ops.length)).toEqual(bodyCircuits(cut).map((c) => c.ops.length));
    const files = encodeCompiledModel(cut);
    const tampered = JSON.parse(files.manifest) as { refresh: { maskBits: number } };
    tampered.refresh.maskBits = 60;
    expect(() => decodeCompiledModel({ manifest: JSON.stringify(tampered), constants: files.constants })).toThrow(/modified after compilation/);
  });

  test('in simulation it agrees with PyTorch on 20 test rows', async () => {
    const f = loadFixture(NAME);
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, 20));
    const b = await runCompiled(cut, input, simulateBackend(cut));
    const bound = cut.calibration.precision.bound;
    const expected = f.data.expected['output'] as number[][];
    b.bodyOutputs.forEach((row, r) => {
      row.forEach((v, i) => {
        expect(Math.abs(v - expected[r]![i]!)).toBeLessThan(bound);
      });
    });
  });
});
