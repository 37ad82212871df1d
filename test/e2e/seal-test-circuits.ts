import { createHash } from 'node:crypto';
import type { Circuit, InputSpec, Layout, Op, OutputSpec } from '../../compiler/circuit/ir';
import { circuitDepth, lowerChain } from '../../compiler/circuit/lower';
import { deriveMeta, type ValueMeta } from '../../compiler/circuit/op-rules';
import { assignScales } from '../../compiler/circuit/passes-scales';
import { createCoeffModulus } from '../../compiler/params/primes';
import { selectParameters } from '../../compiler/params/select';
import type { CkksParameters } from '../../compiler/params/types';
import type { AffineStage, ApproxStage } from '../../compiler/chain/stages';
import type { ContextSpec } from '../../runtime/backends/backend';

/**
 * Small circuits written op by op for the SEAL tests, independent of the lowering. Levels,
 * sizes and scales are filled in by the compiler's own op rules (the arithmetic SEAL does), so a
 * circuit that runs here also passes the compiler's checker.
 */
export type OpDraft = Op extends infer T ? (T extends Op ? Omit<T, 'level' | 'scale' | 'size'> : never) : never;

export function testSpec(n: number, bits: number[]): ContextSpec {
  const primes = createCoeffModulus(n, bits);
  return { polyModulusDegree: n, coeffModulusBits: bits, primes, parameterId: `test-${n}-${bits.join('.')}` };
}

export function buildCircuit(
  spec: ContextSpec,
  draft: {
    readonly layout?: 'vector' | 'batch';
    readonly inputs: readonly InputSpec[];
    readonly outputs: readonly OutputSpec[];
    readonly inputScale: number;
    readonly ops: readonly OpDraft[];
    readonly constants?: readonly Float64Array[];
  },
): Circuit {
  const topLevel = spec.coeffModulusBits.length - 2;
  // [q_top, …, q_1] as doubles, the order the IR stores them in.
  const primes = spec.primes.slice(1, topLevel + 1).map((p) => Number(BigInt(p))).reverse();
  const metas: ValueMeta[] = [];
  const ops: Op[] = [];
  draft.ops.forEach((d, i) => {
    const provisional = { ...d, level: topLevel, scale: draft.inputScale, size: 2 } as Op;
    const meta = deriveMeta(i, provisional, (v) => metas[v]!, { topLevel, primes });
    metas.push(meta);
    ops.push({ ...d, ...meta } as Op);
  });
  const rotationSteps = [...new Set(ops.flatMap((op) => (op.op === 'rotate' ? [op.k] : [])))].sort((a, b) => a - b);
  const depth = topLevel - Math.min(...ops.map((op) => op.level));
  const slots = spec.polyModulusDegree / 2;
  return {
    layout: draft.layout ?? 'vector',
    slots,
    minSlots: slots,
    samplesPerCiphertext: 1,
    inputSize: 0,
    outputSize: 0,
    inputs: draft.inputs,
    outputs: draft.outputs,
    ops,
    constants: draft.constants ?? [],
    rotationSteps,
    depth,
    topLevel,
    primes,
  };
}

/** A compiled toy model: affine → polynomial activation → affine, lowered by the real compiler passes. */
export interface CompiledToy {
  readonly circuit: Circuit;
  readonly params: CkksParameters;
  readonly modelHash: string;
}

export function compileToy(layout: Layout, options: { polyModulusDegree?: number; seed?: number } = {}): CompiledToy {
  const n = options.polyModulusDegree ?? 8192;
  const seed = options.seed ?? 7;
  const stages: ApproxStage[] = [
    affineStage(4, 6, seed, 3),
    // t ↦ 0.3 + 0.5·T1 + 0.25·T2 + 0.05·T3: degree 3, depth 2.
    { kind: 'poly', sources: ['act'], fn: 'relu', size: 4, range: [-1, 1], method: 'chebyshev', chebyshev: Float64Array.from([0.3, 0.5, 0.25, 0.05]), degree: 3, maxError: 0 },
    affineStage(2, 4, seed + 1, 4),
  ];
  const lowered = lowerChain(stages, { layout, slots: n / 2 });
  const params = selectParameters({ depth: circuitDepth(lowered), slotsNeeded: n / 2, rotationSteps: lowered.rotationSteps, preferN: n });
  const droppable = params.primesApprox.slice(1, 1 + params.levels).reverse();
  const circuit = assignScales(lowered, droppable);
  const modelHash = createHash('sha256').update(JSON.stringify({ layout, n, seed, ops: circuit.ops })).digest('hex');
  return { circuit, params, modelHash };
}

/** Weights of size ~gain/cols, so samples in [−1, 1] give activations and outputs of O(1) that differ clearly between samples. */
function affineStage(rows: number, cols: number, seed: number, gain = 1): AffineStage {
  let s = seed >>> 0;
  const r = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const weights = Float64Array.from({ length: rows * cols }, () => ((r() - 0.5) * gain) / cols);
  const bias = Float64Array.from({ length: rows }, () => ((r() - 0.5) * gain) / 4);
  return { kind: 'affine', sources: [`fc${rows}x${cols}`], inSize: cols, outSize: rows, weights, bias };
}

/** Deterministic samples in [−1, 1]. */
export function toySamples(count: number, size: number, seed: number): Float64Array[] {
  let s = seed >>> 0;
  const r = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return Array.from({ length: count }, () => Float64Array.from({ length: size }, () => 2 * r() - 1));
}

/**
 * Tolerance per unit of output magnitude, from the scale. The floor is key switching: a rotation
 * adds noise of about N·σ·(a few) in absolute terms, whatever the scale, so a rotation done at
 * scale Δ costs ~2^(log2 N + 5)/Δ (measured: 3e-4 to 7e-4 per rotation at N = 8192, Δ = 2^29,
 * and several rotations add up). 2^(log2 N + 8 − scaleBits) ≈ 3.9e-3 bounds that with margin,
 * plus the rounding to the output precision; a packing or rotation bug is off by O(|output|).
 */
export function tolerance(toy: CompiledToy): number {
  return 2 ** (Math.log2(toy.params.polyModulusDegree) + 8 - toy.params.scaleBits) + 2 ** -toy.params.expectedPrecisionBits;
}
