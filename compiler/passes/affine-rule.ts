/**
 * What an affine rule is: given one ONNX node whose inputs are partly encrypted (body values, known
 * by their per-sample shape) and partly constant, say how its output is an affine function of the
 * encrypted inputs — or why it is not. Shared helpers for the rules live here too.
 *
 * Before → after (one node, two rules' outcomes):
 *   y = Gemm(x, W, b), x encrypted [4], W and b constant     { kind: 'map', inputs: [0], map: W·x + b, shape [3] }
 *   y = Mul(x, z), x and z both encrypted                      { kind: 'refused', reason: … }
 */
import type { NodeView } from '../graph/kernel';
import { stridesOf } from '../graph/ops/operands';
import { sizeOf, type NumericTensor, type Tensor } from '../graph/tensor';
import type { LocalMap } from './affine-map';

export interface AffineContext {
  readonly view: NodeView;
  /** Per node input: the per-sample shape (batch axis removed) of an encrypted input, else undefined. */
  readonly body: ReadonlyArray<readonly number[] | undefined>;
  /** Per node input: its value when constant, else undefined. */
  readonly constants: ReadonlyArray<Tensor | undefined>;
  /** The graph input's batch size when the model fixes it, null when it is symbolic. */
  readonly batch: number | null;
}

export type AffineOutcome =
  /** The output is input `input`'s flattened vector unchanged, with a new per-sample shape. */
  | { readonly kind: 'reshape'; readonly input: number; readonly shape: readonly number[] }
  /** The output is `map` applied to the listed encrypted inputs (node input indices, in column order). */
  | { readonly kind: 'map'; readonly inputs: readonly number[]; readonly map: LocalMap; readonly shape: readonly number[] }
  /** The operator is affine in general but not in this use; `reason` completes "… is not supported for encryption yet". */
  | { readonly kind: 'refused'; readonly reason: string };

export type AffineRule = (ctx: AffineContext) => AffineOutcome;

export function refused(reason: string): AffineOutcome {
  return { kind: 'refused', reason };
}

/** Thrown inside a rule to stop with a reason; the rule runner turns it into a 'refused' outcome. */
export class NotAffine extends Error {}

export function notAffine(reason: string): never {
  throw new NotAffine(reason);
}

/** The encrypted input at `index`, which the rule requires to be one. */
export function bodyShape(ctx: AffineContext, index: number): readonly number[] {
  const s = ctx.body[index];
  if (!s) notAffine(`input ${index} ("${ctx.view.node.inputs[index]}") must be the encrypted value`);
  return s;
}

/** A constant numeric input; `undefined` when the optional input is omitted. */
export function constantInput(ctx: AffineContext, index: number, what: string): NumericTensor | undefined {
  const name = ctx.view.node.inputs[index];
  if (!name) return undefined;
  if (ctx.body[index]) notAffine(`an encrypted ${what}`);
  const t = ctx.constants[index];
  if (!t) notAffine(`a ${what} that is not a constant`);
  if (t.kind !== 'numeric') ctx.view.invalid(`${what} must be numeric`);
  return t;
}

export function requiredConstant(ctx: AffineContext, index: number, what: string): NumericTensor {
  const t = constantInput(ctx, index, what);
  if (!t) ctx.view.invalid(`input ${index} (${what}) is required`);
  return t;
}

/** Numpy broadcasting of per-sample shapes; undefined when they do not broadcast. */
export function broadcastPair(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** For each flat index of `out`, the flat index of the element a (right-aligned, broadcast) `shape` gives it. */
export function broadcastSource(shape: readonly number[], out: readonly number[]): Int32Array {
  const n = sizeOf(out);
  const result = new Int32Array(n);
  const inStrides = stridesOf(shape);
  const offset = out.length - shape.length;
  const index = new Array<number>(out.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) src += index[d + offset]! * inStrides[d]!;
    result[i] = src;
    for (let d = out.length - 1; d >= 0; d--) {
      if (++index[d]! < out[d]!) break;
      index[d] = 0;
    }
  }
  return result;
}

/**
 * A constant operand seen per sample: a full-rank constant must have 1 on the batch axis (it would
 * otherwise differ between rows of a batch); a lower-rank one broadcasts from the right as it is.
 */
export function perSampleConstantShape(t: NumericTensor, sampleRank: number): number[] {
  if (t.shape.length > sampleRank + 1) notAffine(`a constant of shape [${t.shape.join(', ')}] that adds axes in front of the batch`);
  if (t.shape.length === sampleRank + 1) {
    if (t.shape[0] !== 1) notAffine(`a constant of shape [${t.shape.join(', ')}] that varies along the batch axis`);
    return t.shape.slice(1);
  }
  return [...t.shape];
}

/** Integer values of a constant (axes, pads, shapes). */
export function intsOf(t: NumericTensor): number[] {
  return Array.from(t.data, (v) => Math.trunc(v));
}
