import { isPowerOfTwo } from '../circuit/constant-table';
import type { Circuit, InputSpec, Op, OutputSpec } from '../circuit/ir';
import { OP_KINDS, OP_TABLE, opInfo } from '../circuit/op-table';
import type { ConstantSink, ConstantSource } from './graph-json';
import type { JsonAt } from './json-read';
import type { JsonObject, JsonValue } from './json-text';

/**
 * The circuit in the manifest, in three parts: `layout` (how samples are packed, which the client
 * needs), `rotationSteps`, and `circuit` (ops, levels, primes and references to the plaintext
 * constants in constants.bin, which only the server needs). Reading checks the type and range of
 * every field of every op; `checkCircuit` then checks what the ops mean.
 */

export interface CircuitJson {
  readonly layout: JsonValue;
  readonly rotationSteps: JsonValue;
  readonly circuit: JsonValue;
}

export function circuitToJson(c: Circuit, sink: ConstantSink): CircuitJson {
  return {
    layout: layoutToJson(c),
    rotationSteps: [...c.rotationSteps],
    circuit: {
      depth: c.depth,
      topLevel: c.topLevel,
      primes: c.primes === null ? null : [...c.primes],
      constants: c.constants.map((v) => sink.add({ kind: 'f64', data: v })),
      ops: c.ops.map(opToJson),
    },
  };
}

export function layoutToJson(l: LayoutInfo): JsonValue {
  return {
    kind: l.layout,
    slots: l.slots,
    minSlots: l.minSlots,
    // Written only when several samples share a ciphertext, so one-sample artifacts keep their bytes.
    ...(l.samplesPerCiphertext === 1 ? {} : { samplesPerCiphertext: l.samplesPerCiphertext }),
    inputSize: l.inputSize,
    outputSize: l.outputSize,
    inputs: l.inputs.map(inputSpecToJson),
    outputs: l.outputs.map(outputSpecToJson),
  };
}

function inputSpecToJson(s: InputSpec): JsonValue {
  return s.kind === 'replicated' ? { kind: s.kind, size: s.size, period: s.period } : { kind: s.kind, feature: s.feature };
}

function outputSpecToJson(s: OutputSpec): JsonValue {
  return s.kind === 'slots' ? { kind: s.kind, slots: [...s.slots], elements: [...s.elements] } : { kind: s.kind, element: s.element };
}

function opToJson(op: Op): JsonObject {
  const fields = Object.fromEntries(opInfo(op).fields.map((f) => [f, (op as unknown as Record<string, number>)[f]!]));
  return { op: op.op, ...fields, level: op.level, scale: op.scale, size: op.size };
}

/** The layout fields of a circuit: all a client needs to pack inputs and unpack outputs. */
export type LayoutInfo = Pick<Circuit, 'layout' | 'slots' | 'minSlots' | 'samplesPerCiphertext' | 'inputSize' | 'outputSize' | 'inputs' | 'outputs'>;

export function layoutFromJson(at: JsonAt): LayoutInfo {
  at.object(['kind', 'slots', 'minSlots', 'inputSize', 'outputSize', 'inputs', 'outputs'], ['samplesPerCiphertext']);
  const slots = at.field('slots').integer(1);
  const inputSize = at.field('inputSize').integer(1);
  const outputSize = at.field('outputSize').integer(1);
  const layout = at.field('kind').oneOf(['vector', 'batch'] as const);
  let samplesPerCiphertext = 1;
  if (at.has('samplesPerCiphertext')) {
    const k = at.field('samplesPerCiphertext');
    samplesPerCiphertext = k.integer(1, layout === 'vector' ? slots : 1);
    if (!isPowerOfTwo(samplesPerCiphertext) || slots % samplesPerCiphertext !== 0) k.bad(`${samplesPerCiphertext} is not a power of two dividing ${slots} slots`);
  }
  return {
    layout,
    slots,
    minSlots: at.field('minSlots').integer(1, slots),
    samplesPerCiphertext,
    inputSize,
    outputSize,
    inputs: at
      .field('inputs')
      .items()
      .map((s) => inputSpecFromJson(s, slots, inputSize)),
    outputs: at
      .field('outputs')
      .items()
      .map((s) => outputSpecFromJson(s, slots, outputSize)),
  };
}

function inputSpecFromJson(at: JsonAt, slots: number, inputSize: number): InputSpec {
  const kind = at.field('kind').oneOf(['replicated', 'feature'] as const);
  if (kind === 'replicated') {
    at.object(['kind', 'size', 'period']);
    const period = at.field('period').integer(1, slots);
    return { kind, size: at.field('size').integer(1, Math.min(period, inputSize)), period };
  }
  at.object(['kind', 'feature']);
  return { kind, feature: at.field('feature').integer(0, inputSize - 1) };
}

function outputSpecFromJson(at: JsonAt, slots: number, outputSize: number): OutputSpec {
  const kind = at.field('kind').oneOf(['slots', 'feature'] as const);
  if (kind === 'slots') {
    at.object(['kind', 'slots', 'elements']);
    const slotList = at
      .field('slots')
      .items()
      .map((s) => s.integer(0, slots - 1));
    const elements = at
      .field('elements')
      .items()
      .map((e) => e.integer(0, outputSize - 1));
    if (elements.length !== slotList.length) at.bad(`${slotList.length} slots for ${elements.length} elements`);
    return { kind, slots: slotList, elements };
  }
  at.object(['kind', 'element']);
  return { kind, element: at.field('element').integer(0, outputSize - 1) };
}

export function circuitFromJson(layoutAt: JsonAt, stepsAt: JsonAt, at: JsonAt, constants: ConstantSource): Circuit {
  const layout = layoutFromJson(layoutAt);
  const rotationSteps = stepsAt.items().map((s) => s.integer(1, layout.slots - 1));
  at.object(['depth', 'topLevel', 'primes', 'constants', 'ops']);
  const topLevel = at.field('topLevel').integer(0, 62);
  const depth = at.field('depth').integer(0, topLevel);
  const primes = at.field('primes').nullable((p) => p.items().map((q) => q.numberIn(2, 2 ** 61)));
  const pool = at
    .field('constants')
    .items()
    .map((ref) => constants.entry(ref, 'f64').data);
  const ctx: OpContext = { topLevel, slots: layout.slots, constants: pool.length, inputs: layout.inputs.length, outputs: layout.outputs.length };
  const ops = at
    .field('ops')
    .items()
    .map((o, i) => opFromJson(o, i, ctx));
  return { ...layout, ops, constants: pool, rotationSteps, depth, topLevel, primes };
}

interface OpContext {
  readonly topLevel: number;
  readonly slots: number;
  readonly constants: number;
  readonly inputs: number;
  readonly outputs: number;
}

function opFromJson(at: JsonAt, index: number, ctx: OpContext): Op {
  const kind = at.field('op').oneOf(OP_KINDS);
  at.object(['op', ...OP_TABLE[kind].fields, 'level', 'scale', 'size']);
  const level = at.field('level').integer(0, ctx.topLevel);
  const meta = { level, scale: positive(at.field('scale')), size: at.field('size').integer(2, 3) as 2 | 3 };
  const operand = (key: 'a' | 'b'): number => {
    if (index === 0) at.field(key).bad('the first op cannot read a value');
    return at.field(key).integer(0, index - 1);
  };
  switch (kind) {
    case 'input':
      return { op: kind, input: index0(at.field('input'), ctx.inputs, 'input'), ...meta };
    case 'add':
    case 'sub':
    case 'mul':
      return { op: kind, a: operand('a'), b: operand('b'), ...meta };
    case 'neg':
    case 'relin':
    case 'modswitch':
      return { op: kind, a: operand('a'), ...meta };
    case 'rescale':
      return { op: kind, a: operand('a'), target: at.field('target').integer(0, level), ...meta };
    case 'rotate':
      return { op: kind, a: operand('a'), k: at.field('k').integer(1, ctx.slots - 1), ...meta };
    case 'mulPlain':
    case 'addPlain':
      return { op: kind, a: operand('a'), c: index0(at.field('c'), ctx.constants, 'constant'), encodeScale: positive(at.field('encodeScale')), ...meta };
    case 'mulScalar':
    case 'addScalar':
      return { op: kind, a: operand('a'), value: at.field('value').number(), encodeScale: positive(at.field('encodeScale')), ...meta };
    case 'output':
      return { op: kind, a: operand('a'), output: index0(at.field('output'), ctx.outputs, 'output'), ...meta };
  }
}

function positive(at: JsonAt): number {
  const x = at.number();
  if (!(x > 0)) at.bad(`expected a positive number, got ${x}`);
  return x;
}

function index0(at: JsonAt, count: number, what: string): number {
  const i = at.integer(0);
  if (i >= count) at.bad(`${what} ${i} is out of range: the circuit has ${count}`);
  return i;
}
