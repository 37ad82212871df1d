/**
 * The ONNX backend node tests (Debian's libonnx-testdata) against the float64 reference: which
 * test directories our kernels cover, and the outcome of each. Shared by the conformance test
 * and test/tools/onnx-node-report.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { DeepPowersError } from '../../compiler/errors';
import { ONNX_DOMAIN } from '../../compiler/graph/graph';
import { runGraph } from '../../compiler/graph/ops/interpreter';
import { findKernel } from '../../compiler/graph/ops/index';
import { isFloatType, type Tensor, type Value } from '../../compiler/graph/tensor';
import { decodeTensorBytes } from '../../compiler/onnx/decode';
import { importModel } from '../../compiler/onnx/import';

export const NODE_TEST_ROOT = '/usr/share/libonnx-testdata/data/node';

/** ONNX's own tolerances for backend node tests (onnx/backend/test/runner). */
export const RTOL = 1e-3;
export const ATOL = 1e-5;

export type Outcome = 'passed' | 'rejected' | 'failed' | 'skipped';

export interface NodeCase {
  readonly name: string;
  readonly dir: string;
  /** Distinct operators of the model, as `Op` (default domain) or `domain:Op`. */
  readonly ops: readonly string[];
  /** Why the case is not run at all: an operator without a kernel, or values the reference cannot hold. */
  readonly skipReason?: string;
}

export interface CaseResult {
  readonly name: string;
  readonly ops: readonly string[];
  readonly outcome: Outcome;
  readonly detail: string;
}

const { onnx } = onnxProto;

function opLabel(domain: string, opType: string): string {
  return domain === ONNX_DOMAIN ? opType : `${domain}:${opType}`;
}

/**
 * Read one test directory's model just far enough to classify it. The raw protobuf is used, not
 * the importer, so that classification never depends on what is being tested.
 */
export function describeCase(root: string, name: string): NodeCase {
  const dir = join(root, name);
  const model = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')));
  const graph = model.graph;
  const ops = new Map<string, boolean>();
  for (const n of graph?.node ?? []) {
    const domain = !n.domain || n.domain === ONNX_DOMAIN ? ONNX_DOMAIN : n.domain;
    ops.set(opLabel(domain, n.opType ?? ''), findKernel(domain, n.opType ?? '') !== undefined);
  }
  const missing = [...ops].filter(([, ok]) => !ok).map(([op]) => op);
  const io = [...(graph?.input ?? []), ...(graph?.output ?? [])];
  // Sequence and optional values (test_identity_sequence, test_identity_opt) are not tensors;
  // the reference holds tensors and ZipMap's sequence of maps only.
  const nonTensor = io.filter((v) => !v.type?.tensorType).map((v) => v.name);
  const skipReason = missing.length
    ? `no kernel for ${missing.join(', ')}`
    : nonTensor.length
      ? `non-tensor graph values (${nonTensor.join(', ')})`
      : undefined;
  return { name, dir, ops: [...ops.keys()].sort(), ...(skipReason ? { skipReason } : {}) };
}

export function listCases(root = NODE_TEST_ROOT): NodeCase[] {
  return readdirSync(root)
    .filter((d) => d.startsWith('test_') && existsSync(join(root, d, 'model.onnx')))
    .sort()
    .map((d) => describeCase(root, d));
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => join(dir, f));
}

/**
 * Older ONNX releases wrote bfloat16 test tensors with data_type UINT16 holding the raw bits.
 * When the model says bfloat16 and the file says uint16, read the bits as bfloat16.
 */
function asDeclared(t: Tensor, declared: string | undefined): Tensor {
  if (declared !== 'bfloat16' || t.kind !== 'numeric' || t.dtype !== 'uint16') return t;
  const view = new DataView(new ArrayBuffer(4));
  const data = t.data.map((bits) => {
    view.setUint32(0, (bits << 16) >>> 0);
    return view.getFloat32(0);
  });
  return { kind: 'numeric', dtype: 'bfloat16', shape: t.shape, data };
}

/** Why `actual` differs from `expected`, or undefined when it matches. */
export function mismatch(actual: Value, expected: Tensor): string | undefined {
  if (actual.kind === 'sequence-of-maps') return 'got a sequence of maps, expected a tensor';
  if (actual.dtype !== expected.dtype) return `dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape.join(', ')}], expected [${expected.shape.join(', ')}]`;
  const exact = !isFloatType(expected.dtype);
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (a === e) continue;
    if (typeof a === 'number' && typeof e === 'number') {
      if (Number.isNaN(a) && Number.isNaN(e)) continue;
      if (!exact && Math.abs(a - e) <= ATOL + RTOL * Math.abs(e)) continue;
      // ONNX 1.12 (the Debian test data) made its float→bfloat16 expectations by truncating the
      // float32 bits; ONNX ≥ 1.14 and onnxruntime round to nearest even, as the reference does.
      // The two differ by at most one bfloat16 unit in the last place (2^-7 relative).
      if (expected.dtype === 'bfloat16' && Math.abs(a - e) <= 2 ** (Math.floor(Math.log2(Math.abs(e))) - 7)) continue;
    }
    return `element ${i}: got ${String(a)}, expected ${String(e)}`;
  }
  return undefined;
}

export function runCase(c: NodeCase): CaseResult {
  const result = (outcome: Outcome, detail: string): CaseResult => ({ name: c.name, ops: c.ops, outcome, detail });
  if (c.skipReason) return result('skipped', c.skipReason);
  let graph;
  try {
    graph = importModel(readFileSync(join(c.dir, 'model.onnx')), c.name);
  } catch (e) {
    if (e instanceof DeepPowersError && (e.code === 'UNSUPPORTED_OP' || e.code === 'UNSUPPORTED_ATTRIBUTE')) return result('rejected', e.message);
    return result('failed', `import: ${describeError(e)}`);
  }
  const sets = readdirSync(c.dir).filter((d) => d.startsWith('test_data_set_')).sort();
  if (sets.length === 0) return result('failed', 'no test_data_set_* directory');
  for (const set of sets) {
    const dir = join(c.dir, set);
    const inputs = numbered(dir, 'input_');
    const outputs = numbered(dir, 'output_');
    if (inputs.length !== graph.inputs.length) return result('failed', `${set}: ${inputs.length} input files for ${graph.inputs.length} graph inputs`);
    const feeds = new Map<string, Value>();
    for (const [i, input] of graph.inputs.entries()) {
      const declared = input.type.kind === 'tensor' ? input.type : undefined;
      const feed = asDeclared(decodeTensorBytes(readFileSync(inputs[i]!), inputs[i]), declared?.dtype);
      // ONNX 1.12's test_castlike_*BFLOAT16*_expanded declare input "like" as [3, 4] but ship a
      // [1] tensor: the data contradicts the model file itself, so there is nothing to test.
      const declaredShape = declared?.shape;
      if (declaredShape && (declaredShape.length !== feed.shape.length || declaredShape.some((d, k) => typeof d === 'number' && d !== feed.shape[k]))) {
        return result('skipped', `${set}: test data for input "${input.name}" has shape [${feed.shape.join(', ')}], the model declares [${declaredShape.join(', ')}]`);
      }
      feeds.set(input.name, feed);
    }
    let values: Map<string, Value>;
    try {
      values = runGraph(graph, feeds);
    } catch (e) {
      return result('failed', `${set}: run: ${describeError(e)}`);
    }
    for (let i = 0; i < outputs.length; i++) {
      const out = graph.outputs[i];
      if (!out) return result('failed', `${set}: ${outputs.length} output files for ${graph.outputs.length} graph outputs`);
      const declared = out.type.kind === 'tensor' ? out.type.dtype : undefined;
      const expected = asDeclared(decodeTensorBytes(readFileSync(outputs[i]!), outputs[i]), declared);
      const why = mismatch(values.get(out.name)!, expected);
      if (why) return result('failed', `${set}: output "${out.name}": ${why}`);
    }
  }
  return result('passed', `${sets.length} data set(s)`);
}

function describeError(e: unknown): string {
  if (e instanceof DeepPowersError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export interface OpCounts {
  passed: number;
  rejected: number;
  failed: number;
  skipped: number;
}

/** Per-operator counts; a test counts once for every distinct operator its model uses. */
export function countByOp(results: readonly CaseResult[]): Map<string, OpCounts> {
  const table = new Map<string, OpCounts>();
  for (const r of results) {
    for (const op of r.ops) {
      const row = table.get(op) ?? { passed: 0, rejected: 0, failed: 0, skipped: 0 };
      row[r.outcome]++;
      table.set(op, row);
    }
  }
  return table;
}
