import { describe, expect, it } from 'vitest';
import type { Circuit, Op } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { checkCircuit } from '../../compiler/circuit/passes-check';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { DeepPowersError } from '../../compiler/errors';
import type { ApproxStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { simulateCircuit } from '../../runtime/backends/simulate';

const stages: ApproxStage[] = [
  { kind: 'affine', sources: ['fc1'], inSize: 4, outSize: 4, weights: Float64Array.from({ length: 16 }, (_, i) => ((i * 5) % 7) / 10 - 0.3), bias: new Float64Array(4).fill(0.1) },
  { kind: 'poly', sources: ['act'], fn: 'tanh', size: 4, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.1, 0.8, 0.2, -0.1]), degree: 3, maxError: 0 },
  { kind: 'affine', sources: ['fc2'], inSize: 4, outSize: 2, weights: Float64Array.from([0.5, -0.25, 0.125, 1, 0.3, 0.2, -0.1, 0.4]), bias: new Float64Array(2) },
];

function good(): Circuit {
  const lowered = lowerChain(stages, { layout: 'vector', slots: 16 });
  return assignScales(lowered, nttPrimes(32, 40, lowered.depth).map(Number));
}

function withOp(c: Circuit, index: number, change: (op: Op) => Op): Circuit {
  return { ...c, ops: c.ops.map((op, i) => (i === index ? change(op) : op)) };
}

function firstIndex(c: Circuit, pred: (op: Op) => boolean): number {
  const i = c.ops.findIndex(pred);
  if (i < 0) throw new Error('no such op');
  return i;
}

function expectRejected(c: Circuit, message: RegExp): void {
  expect(() => checkCircuit(c)).toThrow(DeepPowersError);
  expect(() => checkCircuit(c)).toThrow(message);
  // The simulator applies the same rules op by op.
  const inputs = c.inputs.map(() => new Float64Array(c.slots).fill(0.5));
  expect(() => simulateCircuit(c, inputs)).toThrow(DeepPowersError);
}

describe('checkCircuit', () => {
  it('accepts what lowering and assignScales produce', () => {
    expect(() => checkCircuit(good())).not.toThrow();
  });

  it('catches an addition of operands at different levels (a missing modswitch)', () => {
    const c = good();
    // Rewire an add's right operand to the input, which sits higher up the chain.
    const i = firstIndex(c, (op) => op.op === 'add' && op.level < c.topLevel);
    expectRejected(withOp(c, i, (op) => ({ ...op, b: 0 }) as Op), /levels differ/);
  });

  it('catches a plaintext encoded at the wrong scale', () => {
    const c = good();
    const i = firstIndex(c, (op) => op.op === 'mulPlain');
    expectRejected(withOp(c, i, (op) => ({ ...op, encodeScale: (op as Op & { encodeScale: number }).encodeScale * 1.001 }) as Op), /scale/);
  });

  it('catches a rotation of an unrelinearised product', () => {
    const c = good();
    const m = firstIndex(c, (op) => op.op === 'mul');
    const product = c.ops[m]!;
    const rotate: Op = { op: 'rotate', a: m, k: 1, level: product.level, scale: product.scale, size: 3 };
    expect(() => checkCircuit({ ...c, ops: [...c.ops, rotate] })).toThrow(/relinearised/);
  });

  it('catches a recorded level that SEAL would not produce', () => {
    const c = good();
    const i = firstIndex(c, (op) => op.op === 'rescale');
    expectRejected(withOp(c, i, (op) => ({ ...op, level: op.level + 1 })), /level/);
  });

  it('catches a rotation-step list that does not match the ops', () => {
    const c = good();
    expect(() => checkCircuit({ ...c, rotationSteps: [...c.rotationSteps, 3] })).toThrow(/rotation steps/);
  });

  it('catches a reference to a value defined later', () => {
    const c = good();
    expect(() => checkCircuit(withOp(c, 1, (op) => ({ ...op, a: 5 }) as Op))).toThrow(/not defined before/);
  });

  it('catches a rescale below level 0 (a circuit deeper than its chain)', () => {
    const c = good();
    const last = firstIndex(c, (op) => op.op === 'output');
    const src = c.ops[last]!;
    const extra: Op = { op: 'rescale', a: (src as Op & { a: number }).a, target: -1, level: -1, scale: 1, size: 2 };
    expect(() => checkCircuit({ ...c, ops: [...c.ops, extra] })).toThrow(DeepPowersError);
  });
});
