/**
 * ModelProto / TensorProto bytes → the typed structures of compiler/graph. Only decoding and
 * structural checks live here; operator semantics and shape inference are in compiler/graph.
 */
import onnxProto from 'onnx-proto';
import { DeepPowersError, fail } from '../errors';
import {
  ML_DOMAIN,
  ONNX_DOMAIN,
  type AttributeValue,
  type Dim,
  type Graph,
  type Node,
  type Subgraph,
  type ValueInfo,
  type ValueType,
} from '../graph/graph';
import { numeric, ONNX_DATA_TYPES, sizeOf, strings, type DType, type Tensor } from '../graph/tensor';

const { onnx } = onnxProto;

type Long = { toNumber(): number } | number;

/**
 * The decoded model before operator checks: what the file says, nothing inferred yet. A Graph
 * but for its types: nodes in file order (the importer sorts them), and only the declared value_info.
 */
export interface DecodedModel extends Omit<Graph, 'valueTypes'> {
  readonly valueInfo: readonly ValueInfo[];
}

/** Tensors larger than this are refused before any allocation: a corrupted dim must not OOM us. */
const MAX_TENSOR_ELEMENTS = 1 << 28;

const BYTES_PER_ELEMENT: Record<Exclude<DType, 'string'>, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
};

const utf8 = new TextDecoder('utf-8', { fatal: false });

function toNumber(v: Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function dtypeOf(code: number, where: string): DType {
  const dtype = ONNX_DATA_TYPES[code];
  if (!dtype) fail('BAD_MODEL', `${where}: unsupported tensor element type ${code} (complex or undefined)`);
  return dtype;
}

function domainOf(domain: string | null | undefined): string {
  return !domain || domain === ONNX_DOMAIN ? ONNX_DOMAIN : domain;
}

/** Decode a TensorProto (initializer, Constant value, or a test-data .pb file). */
export function decodeTensorProto(t: onnxProto.onnx.ITensorProto, where: string): Tensor {
  const name = t.name ? `${where} "${t.name}"` : where;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData && t.externalData.length > 0)) {
    fail(
      'EXTERNAL_DATA',
      `${name} stores its data in an external file; re-export the model with all tensors inside the .onnx file (onnx.save_model(model, path, save_as_external_data=False))`,
    );
  }
  if (t.segment) fail('BAD_MODEL', `${name}: segmented tensors are not supported`);
  const dtype = dtypeOf(t.dataType ?? 0, name);
  const shape = (t.dims ?? []).map((d) => toNumber(d as Long));
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail('BAD_MODEL', `${name}: invalid dimension ${d}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > MAX_TENSOR_ELEMENTS) fail('BAD_MODEL', `${name}: ${count} elements is larger than the ${MAX_TENSOR_ELEMENTS} supported`);

  if (dtype === 'string') {
    const raw = t.stringData ?? [];
    if (raw.length !== count) fail('BAD_MODEL', `${name}: ${raw.length} strings for shape [${shape.join(',')}]`);
    return strings(shape, raw.map((b) => utf8.decode(b)));
  }

  const rawBytes = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (rawBytes) {
    const width = BYTES_PER_ELEMENT[dtype];
    if (rawBytes.length !== count * width) {
      fail('BAD_MODEL', `${name}: raw_data holds ${rawBytes.length} bytes, shape [${shape.join(',')}] of ${dtype} needs ${count * width}`);
    }
    return numeric(dtype, shape, readRaw(rawBytes, dtype, count));
  }

  const typed = typedField(t, dtype);
  if (typed.length !== count) {
    fail('BAD_MODEL', `${name}: ${typed.length} values for shape [${shape.join(',')}] (${count} expected)`);
  }
  return numeric(dtype, shape, typed);
}

function typedField(t: onnxProto.onnx.ITensorProto, dtype: Exclude<DType, 'string'>): Float64Array {
  switch (dtype) {
    case 'float32':
      return Float64Array.from(t.floatData ?? []);
    case 'float64':
      return Float64Array.from(t.doubleData ?? []);
    case 'int64':
      return Float64Array.from((t.int64Data ?? []) as Long[], toNumber);
    case 'uint32':
    case 'uint64':
      return Float64Array.from((t.uint64Data ?? []) as Long[], (v) => {
        if (typeof v === 'number') return v;
        const long = v as unknown as { toNumber(): number; unsigned: boolean; toUnsigned?: () => { toNumber(): number } };
        return long.toUnsigned ? long.toUnsigned().toNumber() : long.toNumber();
      });
    case 'float16':
      return Float64Array.from(t.int32Data ?? [], halfToFloat);
    case 'bfloat16':
      return Float64Array.from(t.int32Data ?? [], bfloat16ToFloat);
    default:
      // int8/16/32, uint8/16 and bool are carried in int32_data.
      return Float64Array.from(t.int32Data ?? []);
  }
}

function readRaw(bytes: Uint8Array, dtype: Exclude<DType, 'string'>, count: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'float32': out[i] = view.getFloat32(i * 4, true); break;
      case 'float64': out[i] = view.getFloat64(i * 8, true); break;
      case 'float16': out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case 'bfloat16': out[i] = bfloat16ToFloat(view.getUint16(i * 2, true)); break;
      case 'int8': out[i] = view.getInt8(i); break;
      case 'uint8': out[i] = view.getUint8(i); break;
      case 'bool': out[i] = view.getUint8(i) ? 1 : 0; break;
      case 'int16': out[i] = view.getInt16(i * 2, true); break;
      case 'uint16': out[i] = view.getUint16(i * 2, true); break;
      case 'int32': out[i] = view.getInt32(i * 4, true); break;
      case 'uint32': out[i] = view.getUint32(i * 4, true); break;
      case 'int64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case 'uint64': out[i] = Number(view.getBigUint64(i * 8, true)); break;
    }
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function bfloat16ToFloat(b: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, (b & 0xffff) << 16);
  return buf.getFloat32(0);
}

function decodeType(t: onnxProto.onnx.ITypeProto | null | undefined, where: string): ValueType {
  if (t?.tensorType) {
    const tt = t.tensorType;
    const dtype = dtypeOf(tt.elemType ?? 0, where);
    const shape: Dim[] | null = tt.shape
      ? (tt.shape.dim ?? []).map((d) => {
          if (d.dimParam) return d.dimParam;
          if (d.dimValue !== null && d.dimValue !== undefined && (d as { value?: string }).value === 'dimValue') {
            const n = toNumber(d.dimValue as Long);
            return n >= 0 ? n : null;
          }
          return null;
        })
      : null;
    return { kind: 'tensor', dtype, shape };
  }
  const mapType = t?.sequenceType?.elemType?.mapType;
  if (mapType) {
    const key = dtypeOf(mapType.keyType ?? 0, where);
    const valueType = mapType.valueType?.tensorType ? dtypeOf(mapType.valueType.tensorType.elemType ?? 0, where) : 'float32';
    return { kind: 'sequence-of-maps', keyType: key === 'string' ? 'string' : 'int64', valueType };
  }
  fail('BAD_MODEL', `${where}: only tensor and sequence-of-map values are supported`);
}

function decodeValueInfo(v: onnxProto.onnx.IValueInfoProto, where: string): ValueInfo {
  const name = v.name ?? '';
  if (!name) fail('BAD_MODEL', `${where} has no name`);
  return { name, type: decodeType(v.type, `${where} "${name}"`) };
}

const A = onnx.AttributeProto.AttributeType;

function decodeAttribute(a: onnxProto.onnx.IAttributeProto, where: string): AttributeValue {
  let type = a.type ?? A.UNDEFINED;
  if (type === A.UNDEFINED) {
    // IR < 0.0.2 files leave `type` unset; infer it from the populated field.
    if (a.floats?.length) type = A.FLOATS;
    else if (a.ints?.length) type = A.INTS;
    else if (a.strings?.length) type = A.STRINGS;
    else if (a.t) type = A.TENSOR;
    else if (a.g) type = A.GRAPH;
    else if (a.s?.length) type = A.STRING;
    else if (a.i !== undefined && a.i !== null && toNumber(a.i as Long) !== 0) type = A.INT;
    else type = A.FLOAT;
  }
  switch (type) {
    case A.INT:
      return { type: 'int', value: toNumber(a.i as Long) };
    case A.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case A.STRING:
      return { type: 'string', value: utf8.decode(a.s ?? new Uint8Array()) };
    case A.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((v) => toNumber(v as Long)) };
    case A.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case A.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => utf8.decode(s)) };
    case A.TENSOR:
      if (!a.t) fail('BAD_MODEL', `${where}: tensor attribute without a tensor`);
      return { type: 'tensor', value: decodeTensorProto(a.t, where) };
    case A.GRAPH:
      if (!a.g) fail('BAD_MODEL', `${where}: graph attribute without a graph`);
      return { type: 'graph', value: decodeSubgraph(a.g, where) };
    case A.GRAPHS:
      return { type: 'graph' };
    default:
      return { type: 'other', onnxType: A[type] ?? String(type) };
  }
}

function decodeInitializers(g: onnxProto.onnx.IGraphProto, source: string): Map<string, Tensor> {
  if ((g.sparseInitializer ?? []).length > 0) fail('BAD_MODEL', `${source} uses sparse initializers, which are not supported`);
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) {
    const tensor = decodeTensorProto(t, 'initializer');
    if (!t.name) fail('BAD_MODEL', `${source} has an initializer without a name`);
    initializers.set(t.name, tensor);
  }
  return initializers;
}

function decodeSubgraph(g: onnxProto.onnx.IGraphProto, where: string): Subgraph {
  const initializers = decodeInitializers(g, where);
  return {
    name: g.name ?? 'body',
    inputs: (g.input ?? []).map((v) => decodeValueInfo(v, `${where} input`)).filter((v) => !initializers.has(v.name)),
    outputs: (g.output ?? []).map((v) => decodeValueInfo(v, `${where} output`)),
    initializers,
    nodes: (g.node ?? []).map(decodeNode),
  };
}

function decodeNode(n: onnxProto.onnx.INodeProto, index: number): Node {
  const opType = n.opType ?? '';
  if (!opType) fail('BAD_MODEL', `node #${index} has no op_type`);
  const where = `${opType} node "${n.name || `#${index}`}"`;
  const attributes = new Map<string, AttributeValue>();
  for (const a of n.attribute ?? []) {
    const aname = a.name ?? '';
    if (!aname) fail('BAD_MODEL', `${where} has an attribute without a name`);
    if (a.refAttrName) fail('BAD_MODEL', `${where}: attribute "${aname}" refers to a function attribute, which only model-local functions may use`);
    attributes.set(aname, decodeAttribute(a, `${where} attribute "${aname}"`));
  }
  return {
    name: n.name ?? '',
    opType,
    domain: domainOf(n.domain),
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes,
  };
}

/** Decode ONNX ModelProto bytes. Throws DeepPowersError('BAD_MODEL' | 'EXTERNAL_DATA') and nothing else. */
export function decodeModel(bytes: Uint8Array, source = 'model'): DecodedModel {
  if (bytes.length === 0) fail('BAD_MODEL', `${source} is empty`);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    fail('BAD_MODEL', `${source} is not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`);
  }
  try {
    return fromProto(model, source);
  } catch (e) {
    if (e instanceof DeepPowersError) throw e;
    // protobufjs leaves half-decoded messages whose fields can have surprising types.
    fail('BAD_MODEL', `${source} is not a valid ONNX model (${(e as Error).message})`);
  }
}

function fromProto(model: onnxProto.onnx.ModelProto, source: string): DecodedModel {
  const g = model.graph;
  if (!g) fail('BAD_MODEL', `${source} is not an ONNX model: it has no graph`);
  const irVersion = toNumber(model.irVersion as Long);

  const opsets = new Map<string, number>();
  for (const o of model.opsetImport ?? []) opsets.set(domainOf(o.domain), toNumber(o.version as Long));
  if (!opsets.has(ONNX_DOMAIN)) opsets.set(ONNX_DOMAIN, 1);

  const initializers = decodeInitializers(g, source);

  const inputs = (g.input ?? []).map((v) => decodeValueInfo(v, 'graph input')).filter((v) => !initializers.has(v.name));
  const outputs = (g.output ?? []).map((v) => decodeValueInfo(v, 'graph output'));
  if (outputs.length === 0) fail('BAD_MODEL', `${source} has no graph outputs`);
  const valueInfo = (g.valueInfo ?? []).map((v) => decodeValueInfo(v, 'value_info'));
  const nodes = (g.node ?? []).map(decodeNode);

  const usesMl = nodes.some((n) => n.domain === ML_DOMAIN);
  if (usesMl && !opsets.has(ML_DOMAIN)) opsets.set(ML_DOMAIN, 1);

  return {
    name: g.name ?? 'graph',
    irVersion,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets,
    inputs,
    outputs,
    initializers,
    nodes,
    valueInfo,
  };
}

/** Decode a serialized TensorProto (the ONNX test-data `input_0.pb` format). */
export function decodeTensorBytes(bytes: Uint8Array, source = 'tensor'): Tensor {
  let t: onnxProto.onnx.TensorProto;
  try {
    t = onnx.TensorProto.decode(bytes);
  } catch (e) {
    fail('BAD_MODEL', `${source} is not a valid TensorProto (${(e as Error).message})`);
  }
  return decodeTensorProto(t, source);
}

export { sizeOf };
