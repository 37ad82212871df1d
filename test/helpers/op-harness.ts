/**
 * Drives one ai.onnx kernel the way the importer and interpreter do (validate → infer → run)
 * without a model file, plus a tiny ModelProto builder for checks that must go through the
 * importer (refusals at import time, inferred graph types).
 */
import onnxProto from 'onnx-proto';
import { ONNX_DOMAIN, type AttributeValue, type Dim, type Graph, type ValueType } from '../../compiler/graph/graph';
import { NodeView } from '../../compiler/graph/kernel';
import { findKernel } from '../../compiler/graph/ops/index';
import { numeric, type DType, type NumericTensor, type Tensor, type Value } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';

export const int = (value: number): AttributeValue => ({ type: 'int', value });
export const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
export const float = (value: number): AttributeValue => ({ type: 'float', value });
export const str = (value: string): AttributeValue => ({ type: 'string', value });

export interface OpCall {
  readonly opset?: number;
  readonly attrs?: Readonly<Record<string, AttributeValue>>;
  /** Number of outputs the node names (MaxPool's Indices, BatchNormalization's training outputs). */
  readonly outputs?: number;
}

function nodeView(opType: string, call: OpCall, inputCount: number, present: readonly boolean[]): NodeView {
  const opset = call.opset ?? 13;
  const node = {
    name: `test_${opType}`,
    opType,
    domain: ONNX_DOMAIN,
    inputs: Array.from({ length: inputCount }, (_v, i) => (present[i] ? `in${i}` : '')),
    outputs: Array.from({ length: call.outputs ?? 1 }, (_v, i) => `out${i}`),
    attributes: new Map(Object.entries(call.attrs ?? {})),
  };
  return new NodeView(node, opset, new Map([[ONNX_DOMAIN, opset]]));
}

function kernel(opType: string) {
  const k = findKernel(ONNX_DOMAIN, opType);
  if (!k) throw new Error(`no kernel for ${opType}`);
  return k;
}

/** validate + run; `undefined` inputs are omitted optional inputs. */
export function runOp(opType: string, call: OpCall, ...inputs: (Tensor | undefined)[]): Value[] {
  const view = nodeView(opType, call, inputs.length, inputs.map((x) => x !== undefined));
  const k = kernel(opType);
  k.validate?.(view);
  return k.run(view, inputs);
}

export function runNumeric(opType: string, call: OpCall, ...inputs: (Tensor | undefined)[]): NumericTensor {
  const [out] = runOp(opType, call, ...inputs);
  if (!out || out.kind !== 'numeric') throw new Error(`${opType} did not return a numeric tensor`);
  return out;
}

export interface TypedInput {
  readonly dtype: DType;
  readonly shape: readonly Dim[] | null;
  /** A constant input (an initializer or a folded Constant), as the importer passes it to infer. */
  readonly value?: Tensor;
}

/** validate + infer, as the importer calls them. */
export function inferOp(opType: string, call: OpCall, ...inputs: (TypedInput | undefined)[]): ValueType[] {
  const view = nodeView(opType, call, inputs.length, inputs.map((x) => x !== undefined));
  const k = kernel(opType);
  k.validate?.(view);
  const types = inputs.map((t): ValueType | undefined => (t ? { kind: 'tensor', dtype: t.dtype, shape: t.shape } : undefined));
  return k.infer(view, types, inputs.map((t) => t?.value));
}

/** The static shape of the first output. */
export function inferShape(opType: string, call: OpCall, ...inputs: (TypedInput | undefined)[]): readonly Dim[] | null {
  const [t] = inferOp(opType, call, ...inputs);
  if (!t || t.kind !== 'tensor') throw new Error(`${opType} inferred no tensor type`);
  return t.shape;
}

export const f64 = (shape: number[], data: number[]): NumericTensor => numeric('float64', shape, data);
export const f32 = (shape: number[], data: number[]): NumericTensor => numeric('float32', shape, data.map(Math.fround));
export const i64 = (shape: number[], data: number[]): NumericTensor => numeric('int64', shape, data);

/** Arange-filled tensor: 0, 1, 2, … in `shape`. */
export function iota(shape: number[], dtype: NumericTensor['dtype'] = 'float64'): NumericTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return numeric(dtype, shape, Array.from({ length: n }, (_v, i) => i));
}

// ------------------------------------------------------------------ model builder

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;
const ELEM: Partial<Record<DType, number>> = { float32: 1, int64: 7, bool: 9, float64: 11 };

export interface GraphSpec {
  readonly opset: number;
  readonly nodes: readonly { opType: string; inputs: string[]; outputs: string[]; attrs?: Record<string, AttributeValue> }[];
  readonly inputs: readonly { name: string; dtype: DType; shape: readonly (number | string)[] }[];
  /** Output names, declared float32 unless a dtype is given. */
  readonly outputs: readonly (string | { name: string; dtype: DType })[];
  readonly initializers?: Readonly<Record<string, NumericTensor>>;
}

function attributeProto(name: string, a: AttributeValue): onnxProto.onnx.IAttributeProto {
  switch (a.type) {
    case 'int':
      return { name, type: A.INT, i: a.value };
    case 'ints':
      return { name, type: A.INTS, ints: [...a.value] };
    case 'float':
      return { name, type: A.FLOAT, f: a.value };
    case 'floats':
      return { name, type: A.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: A.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      if (a.value.kind !== 'numeric') throw new Error('string tensor attributes are not needed by these tests');
      return { name, type: A.TENSOR, t: tensorProto('', a.value) };
    default:
      throw new Error(`attribute type ${a.type} is not needed by these tests`);
  }
}

function tensorProto(name: string, t: NumericTensor): onnxProto.onnx.ITensorProto {
  const dataType = ELEM[t.dtype];
  if (!dataType) throw new Error(`initializer dtype ${t.dtype} is not needed by these tests`);
  const values = Array.from(t.data);
  return {
    name,
    dataType,
    dims: [...t.shape],
    ...(t.dtype === 'int64' ? { int64Data: values } : t.dtype === 'bool' ? { int32Data: values } : t.dtype === 'float32' ? { floatData: values } : { doubleData: values }),
  };
}

/** Encode a small ai.onnx graph as ModelProto bytes. */
export function encodeGraph(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'deeppowers-tests',
    opsetImport: [{ domain: '', version: spec.opset }],
    graph: {
      name: 'ops-test',
      node: spec.nodes.map((n, i) => ({
        name: `n${i}`,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attributeProto(k, v)),
      })),
      input: spec.inputs.map((x) => ({
        name: x.name,
        type: { tensorType: { elemType: ELEM[x.dtype], shape: { dim: x.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
      })),
      output: spec.outputs.map((o) => {
        const { name, dtype } = typeof o === 'string' ? { name: o, dtype: 'float32' as DType } : o;
        return { name, type: { tensorType: { elemType: ELEM[dtype] } } };
      }),
      initializer: Object.entries(spec.initializers ?? {}).map(([k, v]) => tensorProto(k, v)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Encode a small ai.onnx graph and run it through the real importer. */
export function importGraph(spec: GraphSpec): Graph {
  return importModel(encodeGraph(spec), 'ops-test');
}
