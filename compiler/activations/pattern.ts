/**
 * Subgraph patterns: how an exporter writes an activation that ONNX has no single operator for
 * (or had none at the exporter's opset), e.g. torch's SiLU as Mul(x, Sigmoid(x)). A pattern is a
 * tree over the activation's one input; passes/fuse-activations.ts finds its matches and replaces
 * each by one node.
 */
import type { ActivationParams } from './registry';

export type Pattern =
  /** The activation's input; every `input` leaf of a match reads the same value. */
  | { readonly kind: 'input' }
  /** A constant holding this one value (any shape that broadcasts as a scalar), to float32 precision. */
  | { readonly kind: 'scalar'; readonly value: number }
  /** A default-domain ONNX node; Add and Mul match their inputs in either order. */
  | { readonly kind: 'op'; readonly opType: string; readonly inputs: readonly Pattern[]; readonly attributes: Readonly<Record<string, number>> }
  | { readonly kind: 'either'; readonly options: readonly Pattern[] };

export interface OnnxPattern {
  /** For the support table and the docs. */
  readonly description: string;
  /** The node that computes the activation's output, and what feeds it. */
  readonly root: Pattern;
  /** The parameters of the activation the pattern computes. */
  readonly params: ActivationParams;
}

export const input: Pattern = { kind: 'input' };

export function scalar(value: number): Pattern {
  return { kind: 'scalar', value };
}

/** A node; `attributes` are float attributes the node must carry with these values (to float32 precision). */
export function op(opType: string, ...args: [...Pattern[]] | [...Pattern[], Readonly<Record<string, number>>]): Pattern {
  const last = args[args.length - 1];
  const hasAttributes = last !== undefined && !('kind' in last);
  const inputs = (hasAttributes ? args.slice(0, -1) : args) as Pattern[];
  return { kind: 'op', opType, inputs, attributes: hasAttributes ? (last as Readonly<Record<string, number>>) : {} };
}

export function either(...options: Pattern[]): Pattern {
  return { kind: 'either', options };
}
