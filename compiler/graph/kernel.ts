import { DeepPowersError, fail } from '../errors';
import { describeNode, ML_DOMAIN, ONNX_DOMAIN, type AttributeValue, type Node, type ValueType } from './graph';
import type { Tensor, Value } from './tensor';

/**
 * A node together with what an operator implementation needs to read it: the opset version in
 * force for its domain and typed attribute accessors whose errors name the node.
 */
export class NodeView {
  constructor(
    readonly node: Node,
    readonly opset: number,
    readonly opsets: ReadonlyMap<string, number>,
  ) {}

  get opType(): string {
    return this.node.opType;
  }

  describe(): string {
    return describeNode(this.node, this.opsets);
  }

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

  private get(name: string, expected: AttributeValue['type']): AttributeValue | undefined {
    const a = this.node.attributes.get(name);
    if (a === undefined) return undefined;
    if (a.type !== expected) {
      // ONNX writers sometimes store an int attribute as float or vice versa; accept the numeric ones.
      if (expected === 'float' && a.type === 'int') return { type: 'float', value: a.value };
      if (expected === 'floats' && a.type === 'ints') return { type: 'floats', value: a.value };
      fail('BAD_GRAPH', `${this.describe()}: attribute "${name}" should be ${expected}, found ${a.type}`);
    }
    return a;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.get(name, 'int');
    return a && a.type === 'int' ? a.value : fallback;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    const a = this.get(name, 'float');
    return a && a.type === 'float' ? a.value : fallback;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const a = this.get(name, 'string');
    return a && a.type === 'string' ? a.value : fallback;
  }

  ints(name: string): readonly number[] | undefined {
    const a = this.get(name, 'ints');
    return a && a.type === 'ints' ? a.value : undefined;
  }

  floats(name: string): readonly number[] | undefined {
    const a = this.get(name, 'floats');
    return a && a.type === 'floats' ? a.value : undefined;
  }

  strings(name: string): readonly string[] | undefined {
    const a = this.get(name, 'strings');
    return a && a.type === 'strings' ? a.value : undefined;
  }

  tensor(name: string): Tensor | undefined {
    const a = this.get(name, 'tensor');
    return a && a.type === 'tensor' ? a.value : undefined;
  }

  /** Refuse an attribute value this implementation does not cover, naming it. */
  unsupported(what: string): never {
    fail('UNSUPPORTED_ATTRIBUTE', `${this.describe()}: ${what} is not supported`);
  }

  /** A structural error in the model (wrong arity, incompatible shapes). */
  invalid(what: string): never {
    fail('BAD_GRAPH', `${this.describe()}: ${what}`);
  }
}

/**
 * One ONNX operator. `validate` runs at import time so unsupported attribute combinations are
 * refused before anything executes; `infer` gives output types from input types (and from
 * constant inputs when an output shape depends on them, e.g. Reshape); `run` computes in float64.
 */
export interface OpKernel {
  readonly opType: string;
  readonly domain: string;
  /** Oldest opset version of this domain whose semantics `run` implements. */
  readonly minOpset: number;
  /** Attributes holding a subgraph that `run` evaluates (Scan's body); any other subgraph is refused at import. */
  readonly subgraphs?: readonly string[];
  validate?(node: NodeView): void;
  infer(node: NodeView, inputs: ReadonlyArray<ValueType | undefined>, constants: ReadonlyArray<Tensor | undefined>): ValueType[];
  run(node: NodeView, inputs: ReadonlyArray<Value | undefined>): Value[];
}

/** What an operator does, apart from which operator it is: the parts `onnxKernel` and `onnxMlKernel` complete. */
export type KernelParts = Omit<OpKernel, 'opType' | 'domain' | 'minOpset'>;

/** An operator of the default ONNX domain (ai.onnx), implemented from opset `minOpset` on. */
export function onnxKernel(opType: string, minOpset: number, parts: KernelParts): OpKernel {
  return { opType, domain: ONNX_DOMAIN, minOpset, ...parts };
}

/** An operator of the ONNX-ML domain (ai.onnx.ml), implemented from opset `minOpset` on. */
export function onnxMlKernel(opType: string, minOpset: number, parts: KernelParts): OpKernel {
  return { opType, domain: ML_DOMAIN, minOpset, ...parts };
}

/**
 * `kernel.run` on one node, an unexpected exception (a JavaScript error inside the kernel) turned
 * into a one-line BAD_GRAPH error that names the node; the kernels' own errors pass as they are.
 */
export function runKernel(kernel: OpKernel, view: NodeView, inputs: ReadonlyArray<Value | undefined>): Value[] {
  try {
    return kernel.run(view, inputs);
  } catch (e) {
    if (e instanceof DeepPowersError) throw e;
    return fail('BAD_GRAPH', `${view.describe()}: ${(e as Error).message}`);
  }
}

export function kernelKey(domain: string, opType: string): string {
  return `${domain}::${opType}`;
}
