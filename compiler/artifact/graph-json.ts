import { fail } from '../errors';
import type { AttributeValue, Dim, Node, ValueInfo, ValueType } from '../graph/graph';
import { numeric, sizeOf, strings, type DType, type Tensor } from '../graph/tensor';
import type { ConstantEntry } from './constants-bin';
import type { JsonAt } from './json-read';
import { floatToJson, type JsonObject, type JsonValue } from './json-text';

/**
 * Prologue and epilogue nodes, their constant tensors and ONNX value types as JSON. Tensors go
 * through a codec: in the compiled model their data sits in constants.bin (referenced by
 * index); in the client view sent over the wire it is written inline.
 */

export const DTYPES: readonly DType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
];

export type TensorWriter = (t: Tensor) => JsonValue;
export type TensorReader = (at: JsonAt) => Tensor;

/** Collects constants.bin entries; writes tensors as { dtype, shape, constant: index }. */
export class ConstantSink {
  readonly entries: ConstantEntry[] = [];

  add(entry: ConstantEntry): number {
    this.entries.push(entry);
    return this.entries.length - 1;
  }

  readonly tensor: TensorWriter = (t) => {
    const constant = t.kind === 'numeric' ? this.add({ kind: 'f64', data: t.data }) : this.add({ kind: 'strings', data: t.data });
    return { dtype: t.dtype, shape: [...t.shape], constant };
  };
}

/** Resolves the manifest's references into constants.bin entries. */
export class ConstantSource {
  constructor(private readonly entries: readonly ConstantEntry[]) {}

  /** The entry a manifest field refers to, checked for kind. */
  entry<K extends ConstantEntry['kind']>(at: JsonAt, kind: K): Extract<ConstantEntry, { kind: K }> {
    const index = at.integer(0);
    const e = this.entries[index];
    if (!e) at.bad(`constant ${index} is out of range: constants.bin holds ${this.entries.length}`);
    if (e.kind !== kind) at.bad(`constant ${index} holds ${e.kind === 'f64' ? 'numbers' : 'strings'}, expected ${kind === 'f64' ? 'numbers' : 'strings'}`);
    return e as Extract<ConstantEntry, { kind: K }>;
  }

  readonly tensor: TensorReader = (at) => {
    at.object(['dtype', 'shape', 'constant']);
    const { dtype, shape } = tensorHeader(at);
    const ref = at.field('constant');
    if (dtype === 'string') {
      const e = this.entry(ref, 'strings');
      if (e.data.length !== sizeOf(shape)) ref.bad(`${e.data.length} strings for shape [${shape.join(', ')}]`);
      return strings(shape, e.data);
    }
    const e = this.entry(ref, 'f64');
    if (e.data.length !== sizeOf(shape)) ref.bad(`${e.data.length} numbers for shape [${shape.join(', ')}]`);
    return numeric(dtype, shape, e.data);
  };
}

/** Tensors as { dtype, shape, data: [...] }, for JSON that travels without constants.bin. */
export const writeInlineTensor: TensorWriter = (t) => ({
  dtype: t.dtype,
  shape: [...t.shape],
  data: t.kind === 'numeric' ? Array.from(t.data, floatToJson) : [...t.data],
});

export const readInlineTensor: TensorReader = (at) => {
  at.object(['dtype', 'shape', 'data']);
  const { dtype, shape } = tensorHeader(at);
  const items = at.field('data').items();
  if (items.length !== sizeOf(shape)) at.field('data').bad(`${items.length} values for shape [${shape.join(', ')}]`);
  if (dtype === 'string') return strings(shape, items.map((x) => x.string()));
  return numeric(dtype, shape, Float64Array.from(items, (x) => x.float()));
};

function tensorHeader(at: JsonAt): { dtype: DType; shape: number[] } {
  const dtype = at.field('dtype').oneOf(DTYPES);
  const shape = at
    .field('shape')
    .items()
    .map((d) => d.integer(0));
  return { dtype, shape };
}

export function nodeToJson(node: Node, tensors: TensorWriter): JsonValue {
  // fromEntries, not assignment: a name such as "__proto__" must stay an ordinary key. Sorted so
  // tensor attributes reach constants.bin in an order independent of the map's insertion order.
  const attributes = Object.fromEntries(
    [...node.attributes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, a]) => [name, attributeToJson(a, tensors)]),
  );
  return {
    name: node.name,
    op: node.opType,
    domain: node.domain,
    inputs: [...node.inputs],
    outputs: [...node.outputs],
    attributes,
  };
}

export function nodeFromJson(at: JsonAt, tensors: TensorReader): Node {
  at.object(['name', 'op', 'domain', 'inputs', 'outputs', 'attributes']);
  const attributes = new Map<string, AttributeValue>();
  for (const [name, a] of at.field('attributes').record()) attributes.set(name, attributeFromJson(a, tensors));
  return {
    name: at.field('name').string(),
    opType: at.field('op').string(),
    domain: at.field('domain').string(),
    inputs: at
      .field('inputs')
      .items()
      .map((x) => x.string()),
    outputs: at
      .field('outputs')
      .items()
      .map((x) => x.string()),
    attributes,
  };
}

function attributeToJson(a: AttributeValue, tensors: TensorWriter): JsonObject {
  switch (a.type) {
    case 'int':
    case 'string':
      return { type: a.type, value: a.value };
    case 'float':
      return { type: a.type, value: floatToJson(a.value) };
    case 'ints':
    case 'strings':
      return { type: a.type, value: [...a.value] };
    case 'floats':
      return { type: a.type, value: a.value.map(floatToJson) };
    case 'tensor':
      return { type: a.type, value: tensors(a.value) };
    case 'graph':
      // Client graphs never hold a subgraph operator (Scan is neither a prologue nor an epilogue step).
      if (a.value) fail('NOT_ENCRYPTABLE', 'a subgraph attribute cannot be stored in a compiled model');
      return { type: a.type };
    case 'other':
      return { type: a.type, onnxType: a.onnxType };
  }
}

const ATTRIBUTE_TYPES = ['int', 'float', 'string', 'ints', 'floats', 'strings', 'tensor', 'graph', 'other'] as const;

function attributeFromJson(at: JsonAt, tensors: TensorReader): AttributeValue {
  const type = at.field('type').oneOf(ATTRIBUTE_TYPES);
  if (type === 'graph') {
    at.object(['type']);
    return { type };
  }
  if (type === 'other') {
    at.object(['type', 'onnxType']);
    return { type, onnxType: at.field('onnxType').string() };
  }
  at.object(['type', 'value']);
  const v = at.field('value');
  const int = (x: JsonAt): number => {
    const n = x.number();
    if (!Number.isInteger(n)) x.bad(`expected an integer, got ${n}`);
    return n;
  };
  switch (type) {
    case 'int':
      return { type, value: int(v) };
    case 'float':
      return { type, value: v.float() };
    case 'string':
      return { type, value: v.string() };
    case 'ints':
      return { type, value: v.items().map(int) };
    case 'floats':
      return { type, value: v.items().map((x) => x.float()) };
    case 'strings':
      return { type, value: v.items().map((x) => x.string()) };
    case 'tensor':
      return { type, value: tensors(v) };
  }
}

export function valueTypeToJson(t: ValueType): JsonValue {
  if (t.kind === 'tensor') return { kind: t.kind, dtype: t.dtype, shape: t.shape === null ? null : [...t.shape] };
  return { kind: t.kind, keyType: t.keyType, valueType: t.valueType };
}

export function valueTypeFromJson(at: JsonAt): ValueType {
  const kind = at.field('kind').oneOf(['tensor', 'sequence-of-maps'] as const);
  if (kind === 'tensor') {
    at.object(['kind', 'dtype', 'shape']);
    const shape = at.field('shape').nullable((s) =>
      s.items().map((d): Dim => (d.isNull() ? null : typeof d.value === 'string' ? d.string() : d.integer(0))),
    );
    return { kind, dtype: at.field('dtype').oneOf(DTYPES), shape };
  }
  at.object(['kind', 'keyType', 'valueType']);
  return { kind, keyType: at.field('keyType').oneOf(['int64', 'string'] as const), valueType: at.field('valueType').oneOf(DTYPES) };
}

export function valueInfoToJson(v: ValueInfo): JsonValue {
  return { name: v.name, type: valueTypeToJson(v.type) };
}

export function valueInfoFromJson(at: JsonAt): ValueInfo {
  at.object(['name', 'type']);
  return { name: at.field('name').string(), type: valueTypeFromJson(at.field('type')) };
}
