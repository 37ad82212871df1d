/**
 * Hand-made one-node ONNX models for operator tests, encoded with onnx-proto, and a runner that
 * evaluates them with both the float64 reference and onnxruntime-node so a test can pin the
 * reference to onnxruntime's behaviour on exactly the edge case it cares about.
 */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import onnxProto from 'onnx-proto';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { numeric, type Value } from '../../compiler/graph/tensor';
import { importModel } from '../../compiler/onnx/import';
import type { DeepPowersError } from '../../compiler/errors';
import { refusalOf } from './refusal';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;

/** Attribute values by ONNX kind; plain numbers are ints unless wrapped. */
export type Attr =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] }
  | { readonly doubles: readonly number[] }; // a float64 tensor, for the *_as_tensor attributes

type ElemType = 'float32' | 'float64' | 'int64' | 'string';
const ELEM: Record<ElemType, number> = { float32: 1, float64: 11, int64: 7, string: 8 };

export interface IoSpec {
  readonly name: string;
  readonly type: ElemType | 'seq-map-int64' | 'seq-map-string';
  /** Tensor shape; a string is a symbolic dim, omitted means unknown rank. */
  readonly shape?: readonly (number | string)[];
}

export interface OneNodeModel {
  readonly opType: string;
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, Attr>>;
  readonly inputs: readonly IoSpec[];
  readonly outputs: readonly IoSpec[];
  /** Extra inputs fed from initializers: name → [shape, int64 values]. */
  readonly int64Initializers?: Readonly<Record<string, { shape: number[]; values: number[] }>>;
  readonly mlOpset?: number;
}

const utf8 = new TextEncoder();

function attribute(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  if ('int' in a) return { name, type: A.INT, i: a.int };
  if ('float' in a) return { name, type: A.FLOAT, f: a.float };
  if ('string' in a) return { name, type: A.STRING, s: utf8.encode(a.string) };
  if ('ints' in a) return { name, type: A.INTS, ints: [...a.ints] };
  if ('floats' in a) return { name, type: A.FLOATS, floats: [...a.floats] };
  if ('strings' in a) return { name, type: A.STRINGS, strings: a.strings.map((s) => utf8.encode(s)) };
  return { name, type: A.TENSOR, t: { dataType: ELEM.float64, dims: [a.doubles.length], doubleData: [...a.doubles] } };
}

function valueInfo(io: IoSpec): onnxProto.onnx.IValueInfoProto {
  if (io.type === 'seq-map-int64' || io.type === 'seq-map-string') {
    const keyType = io.type === 'seq-map-int64' ? ELEM.int64 : ELEM.string;
    const value = { tensorType: { elemType: ELEM.float32 } };
    return { name: io.name, type: { sequenceType: { elemType: { mapType: { keyType, valueType: value } } } } };
  }
  const shape = io.shape ? { dim: io.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined;
  return { name: io.name, type: { tensorType: { elemType: ELEM[io.type], shape } } };
}

export function oneNodeModel(m: OneNodeModel): Uint8Array {
  const domain = m.domain ?? 'ai.onnx.ml';
  const inits = Object.entries(m.int64Initializers ?? {});
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'deeppowers-tests',
    opsetImport: [
      { domain: '', version: 15 },
      { domain: 'ai.onnx.ml', version: m.mlOpset ?? 1 },
    ],
    graph: {
      name: `${m.opType}-test`,
      node: [
        {
          opType: m.opType,
          domain,
          name: 'n0',
          input: [...m.inputs.map((i) => i.name), ...inits.map(([name]) => name)],
          output: m.outputs.map((o) => o.name),
          attribute: Object.entries(m.attributes ?? {}).map(([k, v]) => attribute(k, v)),
        },
      ],
      initializer: inits.map(([name, t]) => ({ name, dataType: ELEM.int64, dims: t.shape, int64Data: t.values })),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Rows of float32 features as the reference's input tensor. */
export function floatRows(rows: readonly (readonly number[])[]): Value {
  return numeric('float32', [rows.length, rows[0]?.length ?? 0], Float32Array.from(rows.flat()));
}

/** Plain JS view of a value: numbers or strings row-major, maps as arrays of [key, value]. */
export type Plain = { readonly shape: readonly number[]; readonly data: readonly (number | string)[] } | { readonly maps: ReadonlyArray<ReadonlyArray<readonly [string | number, number]>> };

export function plain(v: Value): Plain {
  if (v.kind === 'sequence-of-maps') return { maps: v.maps.map((m) => [...m.entries()]) };
  return { shape: [...v.shape], data: v.kind === 'string' ? [...v.data] : Array.from(v.data) };
}

/** The reference's outputs for a model and one float32 input. */
export function runReference(bytes: Uint8Array, inputName: string, rows: readonly (readonly number[])[]): Map<string, Value> {
  return runGraph(importModel(bytes, 'test model'), new Map([[inputName, floatRows(rows)]]));
}

/** The DeepPowersError importing the model raises; fails the test if the model is accepted. */
export function importRefusal(bytes: Uint8Array): DeepPowersError {
  return refusalOf(() => importModel(bytes, 'test model'));
}

/** onnxruntime-node's tensor outputs for the same model and rows. */
export async function runOnnxruntime(bytes: Uint8Array, inputName: string, rows: readonly (readonly number[])[], fetches: readonly string[]): Promise<Map<string, Plain>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const x = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0]?.length ?? 0]);
    const out = await session.run({ [inputName]: x }, [...fetches]);
    const result = new Map<string, Plain>();
    for (const name of fetches) {
      const t = out[name]!;
      const data = Array.from(t.data as ArrayLike<number | bigint | string>, (d) => (typeof d === 'bigint' ? Number(d) : d));
      result.set(name, { shape: t.dims.map(Number), data });
    }
    return result;
  } finally {
    await session.release();
  }
}

/** Same values: numbers within 1e-5 relative to max(1, |expected|) (NaN matches NaN), strings exactly. */
export function expectSameValues(actual: readonly (number | string)[], expected: readonly (number | string)[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (typeof a === 'number' && typeof e === 'number') {
      const ok = (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= 1e-5 * Math.max(1, Math.abs(e));
      expect(ok, `${what}[${i}]: ${a} vs ${e}`).toBe(true);
    } else expect(a, `${what}[${i}]`).toBe(e);
  });
}

/** The reference interpreter and onnxruntime agree on every output of a one-node model: shapes exactly, values by expectSameValues. */
export async function expectAgreesWithOrt(bytes: Uint8Array, inputName: string, rows: number[][], outputs: string[]): Promise<void> {
  const ours = runReference(bytes, inputName, rows);
  const theirs = await runOnnxruntime(bytes, inputName, rows, outputs);
  for (const name of outputs) {
    const a = plain(ours.get(name)!);
    const b = theirs.get(name)!;
    if (!('shape' in a) || !('shape' in b)) throw new Error('tensor outputs expected');
    expect(a.shape, name).toEqual(b.shape);
    expectSameValues(a.data, b.data, name);
  }
}
