/**
 * The server-side Softmax and LayerNorm (compiler/approx/softmax.ts, layer-norm.ts, emitted by
 * compiler/circuit/transformer-lowering.ts) on SEAL: each construct alone as a batch-layout body,
 * parameters from the search, scales assigned and checked, 3 rows encrypted, evaluated and
 * decrypted. The results are the float64 references within the plan's bound plus CKKS noise,
 * and the simulation of the same circuit within CKKS noise.
 */
import { describe, expect, it } from 'vitest';
import { layerNormReference, planLayerNorm } from '../../compiler/approx/layer-norm';
import { planSoftmax, softmaxReference } from '../../compiler/approx/softmax';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import type { Circuit } from '../../compiler/circuit/ir';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { emitLayerNorm, emitSoftmax } from '../../compiler/circuit/transformer-lowering';
import { selectParameters } from '../../compiler/params/select';
import type { CkksParameters } from '../../compiler/params/types';
import { simulateSamples } from '../../runtime/backends/simulate';
import { fheBackend } from '../../runtime/run/run-encrypted';

/** A batch-layout body of n inputs through `emit` (`depth` levels: the plan's), on the parameters the search picks for it. */
function body(n: number, depth: number, emit: (b: CircuitBuilder, xs: number[]) => number[]): { circuit: Circuit; parameters: CkksParameters } {
  const parameters = selectParameters({ depth, slotsNeeded: 8, rotationSteps: [] });
  const b = new CircuitBuilder(parameters.slots);
  const xs = Array.from({ length: n }, (_v, i) => b.input({ kind: 'feature', feature: i }));
  emit(b, xs).forEach((y, i) => b.output(y, { kind: 'feature', element: i }));
  const circuit = assignScales(b.finish('batch', n, n, 1), parameters.primesApprox.slice(1, parameters.levels + 1).reverse());
  return { circuit, parameters };
}

/** CKKS noise per unit of output at these parameters (as activations-seal.test.ts), grown by the construct's depth. */
function noise(p: CkksParameters): number {
  return 2 ** (Math.log2(p.polyModulusDegree) + 10 - p.scaleBits) + 2 ** -p.expectedPrecisionBits;
}

async function encrypted(m: { circuit: Circuit; parameters: CkksParameters }, rows: Float64Array[]): Promise<Float64Array[]> {
  return fheBackend({ ...m, modelHash: 'ab'.repeat(32) }).backend(rows);
}

describe('server-side transformer constructs on SEAL', () => {
  it('softmax over rows of 4 scores: 3 rows', async () => {
    const rows = [Float64Array.of(0.5, -1, 1.5, 0), Float64Array.of(-2, -1.5, 1, 2), Float64Array.of(0, 0.1, -0.1, 0.2)];
    const plan = planSoftmax(4, { scores: [-2, 2], sums: [0.5, 4] }, { maxError: 1e-2 });
    const m = body(4, plan.depth, (b, xs) => emitSoftmax(b, xs, plan));
    const got = await encrypted(m, rows);
    const sim = simulateSamples(m.circuit, rows);
    rows.forEach((x, r) => {
      const want = softmaxReference(x);
      got[r]!.forEach((v, i) => {
        expect(Math.abs(v - want[i]!), `row ${r} element ${i}`).toBeLessThan(plan.maxError + noise(m.parameters));
        expect(Math.abs(v - sim[r]![i]!)).toBeLessThan(noise(m.parameters));
      });
    });
  }, 120_000);

  it('LayerNorm over tokens of 4 features: 3 rows', async () => {
    const rows = [Float64Array.of(0.5, -1, 1.5, 0), Float64Array.of(-2, -1.5, 1, 2), Float64Array.of(0, 1, -1, 0.5)];
    const affine = { epsilon: 1e-5, gamma: [1, 0.5, -2, 1.5], beta: [0, 0.1, -0.2, 0.3] };
    const plan = planLayerNorm(4, { variance: [0.4, 2.8] }, affine, { maxError: 1e-2 });
    const m = body(4, plan.depth, (b, xs) => emitLayerNorm(b, xs, plan));
    const got = await encrypted(m, rows);
    const sim = simulateSamples(m.circuit, rows);
    rows.forEach((x, r) => {
      const want = layerNormReference(x, affine);
      got[r]!.forEach((v, i) => {
        expect(Math.abs(v - want[i]!), `row ${r} element ${i}`).toBeLessThan(plan.maxError + noise(m.parameters));
        expect(Math.abs(v - sim[r]![i]!)).toBeLessThan(noise(m.parameters));
      });
    });
  }, 120_000);
});
