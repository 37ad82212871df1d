import { fail } from '../errors';
import type { Circuit, InputSpec, Op, OutputSpec } from './ir';
import { checkCircuit } from './passes-check';

/**
 * A circuit as plain JSON plus one Float64Array holding every constant back to back, for the
 * compiled model's manifest.json and constants.bin. JSON numbers round-trip doubles exactly, so
 * the scales and primes survive unchanged.
 */
export interface CircuitJSON {
  readonly format: 'deeppowers-circuit';
  readonly version: 1;
  readonly layout: Circuit['layout'];
  readonly slots: number;
  readonly minSlots: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly inputs: readonly InputSpec[];
  readonly outputs: readonly OutputSpec[];
  readonly ops: readonly Op[];
  /** Where each constant sits in the constants array, in float64 elements. */
  readonly constants: readonly { readonly offset: number; readonly length: number }[];
  readonly rotationSteps: readonly number[];
  readonly depth: number;
  readonly topLevel: number;
  readonly primes: readonly number[] | null;
}

export function circuitToJSON(c: Circuit): { json: CircuitJSON; constants: Float64Array } {
  const total = c.constants.reduce((s, v) => s + v.length, 0);
  const constants = new Float64Array(total);
  const index: { offset: number; length: number }[] = [];
  let offset = 0;
  for (const v of c.constants) {
    constants.set(v, offset);
    index.push({ offset, length: v.length });
    offset += v.length;
  }
  const json: CircuitJSON = {
    format: 'deeppowers-circuit',
    version: 1,
    layout: c.layout,
    slots: c.slots,
    minSlots: c.minSlots,
    inputSize: c.inputSize,
    outputSize: c.outputSize,
    inputs: c.inputs,
    outputs: c.outputs,
    ops: c.ops,
    constants: index,
    rotationSteps: c.rotationSteps,
    depth: c.depth,
    topLevel: c.topLevel,
    primes: c.primes,
  };
  return { json, constants };
}

const OP_FIELDS: Record<Op['op'], readonly string[]> = {
  input: ['input'],
  add: ['a', 'b'],
  sub: ['a', 'b'],
  mul: ['a', 'b'],
  neg: ['a'],
  relin: ['a'],
  modswitch: ['a'],
  rescale: ['a', 'target'],
  rotate: ['a', 'k'],
  mulPlain: ['a', 'c', 'encodeScale'],
  addPlain: ['a', 'c', 'encodeScale'],
  mulScalar: ['a', 'value', 'encodeScale'],
  addScalar: ['a', 'value', 'encodeScale'],
  output: ['a', 'output'],
};

function bad(why: string): never {
  fail('BAD_ARTIFACT', `circuit: ${why}`);
}

function isNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Rebuilds and fully checks a circuit read from a compiled model. */
export function circuitFromJSON(raw: unknown, constants: Float64Array): Circuit {
  if (typeof raw !== 'object' || raw === null) bad('not an object');
  const j = raw as Record<string, unknown>;
  if (j.format !== 'deeppowers-circuit' || j.version !== 1) bad(`unknown format ${String(j.format)} version ${String(j.version)}`);
  if (j.layout !== 'vector' && j.layout !== 'batch') bad(`unknown layout ${String(j.layout)}`);
  for (const k of ['slots', 'minSlots', 'inputSize', 'outputSize', 'depth', 'topLevel']) {
    if (!Number.isSafeInteger(j[k]) || (j[k] as number) < 0) bad(`${k} is not a count`);
  }
  if (!Array.isArray(j.ops) || !Array.isArray(j.inputs) || !Array.isArray(j.outputs) || !Array.isArray(j.constants) || !Array.isArray(j.rotationSteps)) {
    bad('ops, inputs, outputs, constants and rotationSteps must be arrays');
  }
  if (j.primes !== null && !(Array.isArray(j.primes) && j.primes.every(isNumber))) bad('primes must be numbers or null');
  const ops = (j.ops as unknown[]).map((o, i): Op => {
    if (typeof o !== 'object' || o === null) bad(`op ${i} is not an object`);
    const op = o as Record<string, unknown>;
    const fields = OP_FIELDS[op.op as Op['op']];
    if (!fields) bad(`op ${i} has unknown kind ${String(op.op)}`);
    for (const f of [...fields, 'level', 'scale']) if (!isNumber(op[f])) bad(`op ${i} (${String(op.op)}) field ${f} is not a number`);
    if (op.size !== 2 && op.size !== 3) bad(`op ${i} size ${String(op.size)}`);
    return op as unknown as Op;
  });
  const inputs = (j.inputs as unknown[]).map((s, i): InputSpec => {
    const spec = s as Record<string, unknown>;
    const ok =
      (spec?.kind === 'replicated' && Number.isSafeInteger(spec.size) && Number.isSafeInteger(spec.period) && (spec.size as number) <= (spec.period as number)) ||
      (spec?.kind === 'feature' && Number.isSafeInteger(spec.feature) && (spec.feature as number) < (j.inputSize as number));
    if (!ok) bad(`input ${i} spec is malformed`);
    return spec as unknown as InputSpec;
  });
  const outputs = (j.outputs as unknown[]).map((s, i): OutputSpec => {
    const spec = s as Record<string, unknown>;
    const inRange = (xs: unknown, limit: number): boolean => Array.isArray(xs) && xs.every((x) => Number.isSafeInteger(x) && x >= 0 && x < limit);
    const ok =
      (spec?.kind === 'slots' && inRange(spec.slots, j.slots as number) && inRange(spec.elements, j.outputSize as number) && (spec.slots as unknown[]).length === (spec.elements as unknown[]).length) ||
      (spec?.kind === 'feature' && Number.isSafeInteger(spec.element) && (spec.element as number) < (j.outputSize as number));
    if (!ok) bad(`output ${i} spec is malformed`);
    return spec as unknown as OutputSpec;
  });
  const pool = (j.constants as unknown[]).map((e, i) => {
    const entry = e as Record<string, unknown>;
    const offset = entry?.offset;
    const length = entry?.length;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || (offset as number) < 0 || (offset as number) + (length as number) > constants.length) {
      bad(`constant ${i} lies outside constants.bin`);
    }
    return constants.slice(offset as number, (offset as number) + (length as number));
  });
  const circuit: Circuit = {
    layout: j.layout,
    slots: j.slots as number,
    minSlots: j.minSlots as number,
    inputSize: j.inputSize as number,
    outputSize: j.outputSize as number,
    inputs,
    outputs,
    ops,
    constants: pool,
    rotationSteps: (j.rotationSteps as unknown[]).map((s) => (Number.isSafeInteger(s) ? (s as number) : bad('rotation step is not an integer'))),
    depth: j.depth as number,
    topLevel: j.topLevel as number,
    primes: j.primes === null ? null : (j.primes as number[]),
  };
  checkCircuit(circuit);
  return circuit;
}
