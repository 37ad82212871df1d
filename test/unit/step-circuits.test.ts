/**
 * A client step's circuits (compiler/client-steps/step-circuits.ts) are built and scaled like any
 * circuit and checked by checkCircuit: on hand-picked slot values they compute x + v,
 * rescale(x·a) + c and rescale((x + c)·a), land exactly on the input's scale a level down where
 * they rescale, and a circuit whose rescale misses the input scale is refused.
 */
import { describe, expect, it } from 'vitest';
import type { Circuit, Op } from '../../compiler/circuit/ir';
import { checkCircuit } from '../../compiler/circuit/passes-check';
import { addCircuit, affineCircuit, affineCircuits, outputOf, outputsOf, unaffineCircuit } from '../../compiler/client-steps/step-circuits';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateCircuit } from '../../runtime/backends/simulate';

const SLOTS = 8;
/** A model's segment as the step circuits see it: its slots and its primes (top first), nothing else. */
const BASE: Circuit = {
  layout: 'batch', slots: SLOTS, minSlots: 1, samplesPerCiphertext: 1, inputSize: 1, outputSize: 1,
  inputs: [{ kind: 'feature', feature: 0 }], outputs: [{ kind: 'feature', element: 0 }],
  ops: [], constants: [], rotationSteps: [], depth: 0, topLevel: 4, primes: nttPrimes(2 * SLOTS, 40, 4).map(Number),
};
const S = 2 ** 40;
const v = (...xs: number[]): Float64Array => Float64Array.from(xs);
const X = v(1, 2, -3, 0.5, 7, -8, 0, 4);

function expectClose(got: Float64Array, want: number[]): void {
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `slot ${i}: ${g} vs ${want[i]}`).toBeLessThan(1e-6));
}

describe('client-step circuits', () => {
  it('add: x + v at the given level and scale, no level spent', () => {
    const c = addCircuit(BASE, { level: 3, scale: S }, v(10, 10, 10, 10, -1, -1, -1, -1));
    expect(outputOf(c)).toEqual({ level: 3, scale: S });
    expectClose(simulateCircuit(c, [X])[0]!, [11, 12, 7, 10.5, 6, -9, -1, 3]);
  });

  it('add of zeros: no op at all (SEAL refuses a plaintext of zeros; a softmax step removes nothing from its rows)', () => {
    const c = addCircuit(BASE, { level: 3, scale: S }, new Float64Array(SLOTS));
    expect(c.ops.map((op) => op.op)).toEqual(['input', 'output']);
    expectClose(simulateCircuit(c, [X])[0]!, [...X]);
  });

  it('affine: rescale(x·a) + c lands one level down on exactly the input scale', () => {
    const a = v(3, 3, 2, 2, 1, 1, 16, 16);
    const off = v(100, 100, -40, -40, 0, 0, 5, 5);
    const c = affineCircuit(BASE, { level: 3, scale: S }, a, off);
    expect(outputOf(c)).toEqual({ level: 2, scale: S });
    expect(c.depth).toBe(1);
    expectClose(simulateCircuit(c, [X])[0]!, [103, 106, -46, -39, 7, -8, 5, 69]);
  });

  it('unaffine: rescale((x + c)·a) takes a fresh top-level ciphertext to the level below, same scale', () => {
    const c = unaffineCircuit(BASE, { level: 4, scale: S }, v(-100, -100, 40, 40, 0, 0, -5, -5), v(1 / 4, 1 / 4, 1 / 2, 1 / 2, 1, 1, 1 / 16, 1 / 16));
    expect(outputOf(c)).toEqual({ level: 3, scale: S });
    expectClose(simulateCircuit(c, [v(104, 108, -36, -38, 7, -8, 5, 69)])[0]!, [1, 2, 2, 1, 7, -8, 0, 4]);
  });

  it('over several ciphertexts: one circuit per level and scale, each ciphertext its own vectors, a vector two share encoded once', () => {
    const [a, c] = [v(3, 3, 2, 2, 1, 1, 16, 16), v(100, 100, -40, -40, 0, 0, 5, 5)];
    const [a2, c2] = [v(2, 2, 2, 2, 2, 2, 2, 2), v(1, 2, 3, 4, 5, 6, 7, 8)];
    const X2 = X.map((x) => -x);
    const groups = affineCircuits(BASE, [{ level: 3, scale: S }, { level: 2, scale: S }, { level: 3, scale: S }], [a, a2, Float64Array.from(a)], [c, c2, Float64Array.from(c)]);
    expect(groups.map((g) => g.ciphertexts)).toEqual([[0, 2], [1]]);
    const [both, alone] = [groups[0]!.circuit, groups[1]!.circuit];
    // Ciphertexts 0 and 2 share a and c (equal values): two constants in all, not four.
    expect(both.constants).toHaveLength(2);
    expect(outputsOf(both)).toEqual([{ level: 2, scale: S }, { level: 2, scale: S }]);
    const [y0, y2] = simulateCircuit(both, [X, X2]);
    expectClose(y0!, [103, 106, -46, -39, 7, -8, 5, 69]);
    expectClose(y2!, [97, 94, -34, -41, -7, 8, 5, -59]);
    expect(outputOf(alone)).toEqual({ level: 1, scale: S });
    expectClose(simulateCircuit(alone, [X])[0]!, [3, 6, -3, 5, 19, -10, 7, 16]);
  });

  it('a step circuit whose rescale lands off the input scale is refused, even with every scale consistent', () => {
    const c = affineCircuit(BASE, { level: 3, scale: S }, v(1, 1, 1, 1, 1, 1, 1, 1), v(0, 0, 0, 0, 0, 0, 0, 0));
    // Double the product's encode scale and every scale after it: SEAL's rules still hold, the landing does not.
    const mul = c.ops.findIndex((op) => op.op === 'mulPlain');
    const ops = c.ops.map((op, i): Op => {
      if (i < mul) return op;
      const scaled = { ...op, scale: op.scale * 2 };
      return 'encodeScale' in op ? ({ ...scaled, encodeScale: op.encodeScale * 2 } as Op) : scaled;
    });
    expect(() => checkCircuit({ ...c, ops }, { rescalesLand: 'on the input scale' })).toThrow(/lands on 2\^41.*not the input scale 2\^40/);
    expect(() => checkCircuit(c, { rescalesLand: 'on the input scale' })).not.toThrow();
  });
});
