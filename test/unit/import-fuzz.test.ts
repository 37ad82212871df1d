import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepPowersError } from '../../compiler/errors';
import { kernels } from '../../compiler/graph/ops/index';
import { importModel } from '../../compiler/onnx/import';
import onnxProto from 'onnx-proto';
import { mulberry32 } from '../helpers/random';

/**
 * Byte-level fuzzing of the importer on real exports: whatever the bytes, importModel either
 * returns a graph or throws DeepPowersError, and it does so quickly. The PRNG is seeded so a
 * failure names a case that can be replayed exactly.
 */
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const CASES = 3000;
const STRUCTURED_CASES = 2000;
const SEED = 0x5eed2;
/** Far above a normal import (about a millisecond); a case this slow means a near-hang. */
const SLOW_MS = 2000;

type Mutation = 'flip' | 'overwrite' | 'special' | 'insert' | 'delete' | 'duplicate' | 'truncate';
const MUTATIONS: readonly Mutation[] = ['flip', 'overwrite', 'special', 'insert', 'delete', 'duplicate', 'truncate'];
/** Bytes that mean something to protobuf: zero, varint continuation, maximal and sign bits. */
const SPECIAL = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a, 0x22, 0x3a];

function mutate(input: Uint8Array, rand: () => number): { bytes: Uint8Array; steps: string[] } {
  let b = input;
  const steps: string[] = [];
  const int = (n: number) => Math.floor(rand() * n);
  const count = 1 + int(4);
  for (let s = 0; s < count && b.length > 0; s++) {
    const kind = MUTATIONS[int(MUTATIONS.length)]!;
    const at = int(b.length);
    const len = 1 + int(Math.min(16, b.length - at));
    switch (kind) {
      case 'flip': {
        b = b.slice();
        b[at] = b[at]! ^ (1 << int(8));
        break;
      }
      case 'overwrite': {
        b = b.slice();
        for (let i = 0; i < len; i++) b[at + i] = int(256);
        break;
      }
      case 'special': {
        b = b.slice();
        b[at] = SPECIAL[int(SPECIAL.length)]!;
        break;
      }
      case 'insert': {
        const extra = Uint8Array.from({ length: len }, () => int(256));
        b = concat(b.subarray(0, at), extra, b.subarray(at));
        break;
      }
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + len));
        break;
      case 'duplicate':
        b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
    }
    steps.push(`${kind}@${at}${kind === 'flip' || kind === 'special' || kind === 'truncate' ? '' : `+${len}`}`);
  }
  return { bytes: b, steps };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Outcome {
  readonly imported: number;
  readonly refused: Map<string, number>;
  readonly slowest: { ms: number; name: string };
}

function importOrRefuse(bytes: Uint8Array, name: string, outcome: Outcome): void {
  const t0 = performance.now();
  try {
    importModel(bytes, name);
    (outcome as { imported: number }).imported++;
  } catch (e) {
    if (!(e instanceof DeepPowersError)) {
      throw new Error(`${name}: importModel threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`);
    }
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message).not.toContain('\n');
    outcome.refused.set(e.code, (outcome.refused.get(e.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  if (ms > outcome.slowest.ms) Object.assign(outcome.slowest, { ms, name });
}

/**
 * Mutations of the decoded ModelProto that keep it well-formed protobuf, so that they get past
 * decoding and reach the operator checks, shape inference and constant folding of the kernels.
 */
const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type NodeProto = onnxProto.onnx.NodeProto;
type AttributeProto = onnxProto.onnx.AttributeProto;
type TensorProto = onnxProto.onnx.TensorProto;
type ValueInfoProto = onnxProto.onnx.ValueInfoProto;
const OPS = [...kernels.keys()].map((k) => k.split('::') as [string, string]);
const ODD_INTS = [-1, 0, 1, 2, 3, -3, 7, 1 << 30, -(2 ** 31), 2 ** 40];
const ODD_FLOATS = [0, -1, 1e-30, 1e30, NaN, Infinity, -Infinity, 0.5];

function mutateStructure(model: ModelProto, rand: () => number): string {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  // Decoded messages hold every repeated field as an array; the I* interfaces do not say so.
  const g = model.graph as onnxProto.onnx.GraphProto;
  const nodes = g.node as NodeProto[];
  const initializers = g.initializer as TensorProto[];
  const inputs = g.input as ValueInfoProto[];
  const node = nodes.length > 0 ? pick(nodes) : undefined;
  const attributes = (node?.attribute ?? []) as AttributeProto[];
  switch (int(8)) {
    case 0: {
      if (!node) return 'no node';
      const [domain, op] = pick(OPS);
      node.opType = op;
      node.domain = domain === 'ai.onnx' ? '' : domain;
      return `${node.name}: op → ${op}`;
    }
    case 1: {
      const a = attributes.length > 0 ? pick(attributes) : undefined;
      if (!a) return 'no attribute';
      a.i = pick(ODD_INTS);
      a.f = pick(ODD_FLOATS);
      if (a.ints.length > 0) a.ints = int(2) ? a.ints.slice(0, int(a.ints.length)) : a.ints.map(() => pick(ODD_INTS));
      if (a.floats.length > 0) a.floats = int(2) ? a.floats.slice(0, int(a.floats.length)) : [...a.floats, pick(ODD_FLOATS)];
      if (a.strings.length > 0) a.strings = a.strings.map(() => new TextEncoder().encode(pick(['', 'X', 'LOGISTIC', 'NONE', 'BRANCH_LEQ', 'LEAF'])));
      if (a.s && a.s.length > 0) a.s = new TextEncoder().encode(pick(['', 'SAME_UPPER', 'VALID', 'reflect', 'SOFTMAX_ZERO', 'L3']));
      return `${node!.name}: attribute ${a.name}`;
    }
    case 2: {
      const t = initializers.length > 0 ? pick(initializers) : undefined;
      if (!t || t.dims.length === 0) return 'no initializer';
      // Same element count, other shape: data stays valid, shapes stop fitting.
      t.dims = int(2) ? [...t.dims].reverse() : [1, ...t.dims];
      return `initializer ${t.name} dims`;
    }
    case 3: {
      if (!node) return 'no node';
      if (node.input.length > 0 && int(2)) node.input.splice(int(node.input.length), 1);
      else node.input.push(pick([...initializers.map((t) => t.name), ...inputs.map((i) => i.name)]));
      return `${node.name}: inputs`;
    }
    case 4: {
      const dims = inputs[0]?.type?.tensorType?.shape?.dim as onnxProto.onnx.TensorShapeProto.Dimension[] | undefined;
      if (!dims || dims.length === 0) return 'no input shape';
      const d = pick(dims);
      delete (d as { dimParam?: string }).dimParam;
      d.dimValue = pick([0, 1, 2, 5, 1 << 20]);
      return 'graph input dim';
    }
    case 5: {
      const o = pick(model.opsetImport as onnxProto.onnx.OperatorSetIdProto[]);
      o.version = pick([1, 2, 5, 7, 9, 11, 13, 18, 21, 30]);
      return `opset ${o.domain || 'ai.onnx'} → ${o.version}`;
    }
    case 6: {
      if (!node || attributes.length === 0) return 'no attribute';
      attributes.splice(int(attributes.length), 1);
      return `${node.name}: attribute dropped`;
    }
    default: {
      if (nodes.length < 2) return 'one node';
      const [n] = nodes.splice(int(nodes.length), 1);
      nodes.splice(int(nodes.length + 1), 0, n!);
      return 'node order';
    }
  }
}

const fixtures = existsSync(FIXTURES)
  ? readdirSync(FIXTURES)
      .filter((d) => existsSync(join(FIXTURES, d, 'model.onnx')))
      .sort()
      .map((d) => ({ name: d, bytes: new Uint8Array(readFileSync(join(FIXTURES, d, 'model.onnx'))) }))
  : [];

describe('importer fuzzing', () => {
  it('has fixture models to mutate', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it('imports or cleanly refuses truncations of every fixture', () => {
    const outcome: Outcome = { imported: 0, refused: new Map(), slowest: { ms: 0, name: '' } };
    for (const f of fixtures) {
      // Every prefix for small models; an even spread of cut points for larger ones.
      const step = Math.max(1, Math.floor(f.bytes.length / 400));
      for (let cut = 0; cut < f.bytes.length; cut += step) importOrRefuse(f.bytes.subarray(0, cut), `${f.name} truncated to ${cut} bytes`, outcome);
    }
    expect(outcome.slowest.ms, `slowest: ${outcome.slowest.name}`).toBeLessThan(SLOW_MS);
  }, 60_000);

  it(`survives ${CASES} seeded random byte mutations`, () => {
    const rand = mulberry32(SEED);
    const outcome: Outcome = { imported: 0, refused: new Map(), slowest: { ms: 0, name: '' } };
    for (let i = 0; i < CASES; i++) {
      const f = fixtures[i % fixtures.length]!;
      const { bytes, steps } = mutate(f.bytes, rand);
      importOrRefuse(bytes, `case ${i} (${f.name}: ${steps.join(', ')})`, outcome);
    }
    // Both outcomes occur: mutations that keep the model valid and ones that break it.
    expect(outcome.refused.size).toBeGreaterThan(0);
    expect(outcome.slowest.ms, `slowest: ${outcome.slowest.name}`).toBeLessThan(SLOW_MS);
    console.log(`byte fuzz: ${outcome.imported} imported, refused ${JSON.stringify(Object.fromEntries(outcome.refused))}, slowest ${outcome.slowest.ms.toFixed(1)} ms`);
  }, 60_000);

  it(`survives ${STRUCTURED_CASES} seeded structural mutations of decoded models`, () => {
    const rand = mulberry32(SEED + 1);
    const outcome: Outcome = { imported: 0, refused: new Map(), slowest: { ms: 0, name: '' } };
    for (let i = 0; i < STRUCTURED_CASES; i++) {
      const f = fixtures[i % fixtures.length]!;
      const model = onnx.ModelProto.decode(f.bytes);
      const steps = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => mutateStructure(model, rand));
      importOrRefuse(onnx.ModelProto.encode(model).finish(), `structural case ${i} (${f.name}: ${steps.join('; ')})`, outcome);
    }
    expect(outcome.imported).toBeGreaterThan(0);
    expect(outcome.refused.size).toBeGreaterThan(1);
    expect(outcome.slowest.ms, `slowest: ${outcome.slowest.name}`).toBeLessThan(SLOW_MS);
    console.log(`structural fuzz: ${outcome.imported} imported, refused ${JSON.stringify(Object.fromEntries(outcome.refused))}, slowest ${outcome.slowest.ms.toFixed(1)} ms`);
  }, 60_000);
});
