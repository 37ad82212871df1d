import type { Circuit, InputSpec, Op, OutputSpec } from '../../compiler/circuit/ir';
import { deriveMeta, type ValueMeta } from '../../compiler/circuit/op-rules';
import { createCoeffModulus } from '../../compiler/params/primes';
import type { SealParameterSpec } from '../../runtime/backends/seal/context';

/**
 * Small circuits written op by op for the SEAL tests, independent of the lowering. Levels,
 * sizes and scales are filled in by the compiler's own op rules (the arithmetic SEAL does), so a
 * circuit that runs here also passes the compiler's checker.
 */
export type OpDraft = Op extends infer T ? (T extends Op ? Omit<T, 'level' | 'scale' | 'size'> : never) : never;

export function testSpec(n: number, bits: number[]): SealParameterSpec {
  const primes = createCoeffModulus(n, bits);
  return { polyModulusDegree: n, coeffModulusBits: bits, primes, parameterId: `test-${n}-${bits.join('.')}` };
}

export function buildCircuit(
  spec: SealParameterSpec,
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

/** Plain float64 slot semantics of the same ops, for expected values (rotation: slot i+k → slot i). */
export function evaluatePlain(circuit: Circuit, inputs: readonly Float64Array[]): Float64Array[] {
  const n = circuit.slots;
  const vals: Float64Array[] = [];
  const outs: Float64Array[] = [];
  const tile = (c: Float64Array) => Float64Array.from({ length: n }, (_, i) => c[i % c.length]!);
  const map2 = (a: Float64Array, b: Float64Array, f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]!));
  for (const op of circuit.ops) {
    let v: Float64Array;
    switch (op.op) {
      case 'input':
        v = inputs[op.input]!;
        break;
      case 'add':
        v = map2(vals[op.a]!, vals[op.b]!, (x, y) => x + y);
        break;
      case 'sub':
        v = map2(vals[op.a]!, vals[op.b]!, (x, y) => x - y);
        break;
      case 'mul':
        v = map2(vals[op.a]!, vals[op.b]!, (x, y) => x * y);
        break;
      case 'neg':
        v = vals[op.a]!.map((x) => -x);
        break;
      case 'relin':
      case 'rescale':
      case 'modswitch':
        v = vals[op.a]!;
        break;
      case 'rotate': {
        const a = vals[op.a]!;
        v = a.map((_, i) => a[(i + op.k) % n]!);
        break;
      }
      case 'mulPlain':
        v = map2(vals[op.a]!, tile(circuit.constants[op.c]!), (x, y) => x * y);
        break;
      case 'addPlain':
        v = map2(vals[op.a]!, tile(circuit.constants[op.c]!), (x, y) => x + y);
        break;
      case 'mulScalar':
        v = vals[op.a]!.map((x) => x * op.value);
        break;
      case 'addScalar':
        v = vals[op.a]!.map((x) => x + op.value);
        break;
      case 'output':
        outs[op.output] = vals[op.a]!;
        v = new Float64Array(0);
        break;
    }
    vals.push(v);
  }
  return outs;
}
