import type { Subgraph, ValueType } from '../graph';
import { onnxKernel, type NodeView, type OpKernel } from '../kernel';
import { inferSubgraph, runSubgraph } from './subgraph';
import { numeric, type NumericTensor, type Value } from '../tensor';
import { normalizeAxis, numericOf, tensorType, typeOf, type TensorType } from './operands';

/**
 * Scan (opset 9 on; opset 8's batched form is not implemented): the body runs once per slice of the
 * scan inputs, threading N state variables through; each iteration's scan outputs are stacked
 * along a new axis. Directions reverse the slicing or the stacking. scikit-learn's nearest-
 * neighbour exports compute one distance row per training sample this way.
 */
interface ScanPlan {
  readonly body: Subgraph;
  readonly states: number;
  readonly scanInputs: number;
  readonly inputAxes: readonly number[];
  readonly inputReverse: readonly boolean[];
  readonly outputAxes: readonly number[];
  readonly outputReverse: readonly boolean[];
}

function planOf(view: NodeView, inputRanks: readonly number[]): ScanPlan {
  const attribute = view.node.attributes.get('body');
  if (!attribute || attribute.type !== 'graph' || !attribute.value) view.invalid('attribute "body" (a graph) is required');
  const body = attribute.value;
  const scanInputs = view.int('num_scan_inputs') ?? view.invalid('attribute "num_scan_inputs" is required');
  const states = view.node.inputs.length - scanInputs;
  if (scanInputs < 1 || states < 0) view.invalid(`num_scan_inputs ${scanInputs} does not fit ${view.node.inputs.length} inputs`);
  if (body.inputs.length !== states + scanInputs) view.invalid(`the body takes ${body.inputs.length} inputs, the node gives ${states + scanInputs}`);
  const scanOutputs = body.outputs.length - states;
  if (scanOutputs < 0 || view.node.outputs.length > body.outputs.length) view.invalid(`the body has ${body.outputs.length} outputs for ${states} state variables`);
  const list = (name: string, count: number): number[] => {
    const v = view.ints(name) ?? new Array<number>(count).fill(0);
    if (v.length !== count) view.invalid(`${name} has ${v.length} entries, expected ${count}`);
    return [...v];
  };
  const inputAxes = list('scan_input_axes', scanInputs).map((a, i) => normalizeAxis(view, a, inputRanks[states + i]!, 'scan_input_axes'));
  const outputAxesRaw = list('scan_output_axes', scanOutputs);
  return {
    body,
    states,
    scanInputs,
    inputAxes,
    inputReverse: list('scan_input_directions', scanInputs).map((d) => d !== 0),
    // Output axes are checked against the stacked rank once the body's output rank is known.
    outputAxes: outputAxesRaw,
    outputReverse: list('scan_output_directions', scanOutputs).map((d) => d !== 0),
  };
}

function sliceAt(x: NumericTensor, axis: number, index: number): NumericTensor {
  const length = x.shape[axis]!;
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(x.data.subarray((o * length + index) * inner, (o * length + index + 1) * inner), o * inner);
  return numeric(x.dtype, x.shape.filter((_d, i) => i !== axis), out);
}

function stack(view: NodeView, parts: readonly NumericTensor[], axis: number): NumericTensor {
  const first = parts[0]!;
  const rank = first.shape.length + 1;
  const a = normalizeAxis(view, axis, rank, 'scan_output_axes');
  const inner = first.shape.slice(a).reduce((p, d) => p * d, 1);
  const outer = first.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outer * parts.length * inner);
  parts.forEach((p, t) => {
    if (p.shape.join() !== first.shape.join()) view.invalid(`scan output changes shape between iterations ([${first.shape.join(', ')}] then [${p.shape.join(', ')}])`);
    for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * inner, (o + 1) * inner), (o * parts.length + t) * inner);
  });
  return numeric(first.dtype, [...first.shape.slice(0, a), parts.length, ...first.shape.slice(a)], out);
}

const Scan = onnxKernel('Scan', 9, {
  subgraphs: ['body'],
  infer: (view, types) => {
    const ins = view.node.inputs.map((_x, i) => typeOf(view, types, i));
    if (ins.some((t) => !t.shape)) return view.node.outputs.map(() => tensorType('float32', null));
    const plan = planOf(view, ins.map((t) => t.shape!.length));
    const length = ins[plan.states]!.shape![plan.inputAxes[0]!]!;
    const bodyIn: ValueType[] = ins.map((t, i) =>
      i < plan.states ? t : tensorType(t.dtype, t.shape!.filter((_d, k) => k !== plan.inputAxes[i - plan.states])),
    );
    const bodyOut = inferSubgraph(plan.body, bodyIn, view.opsets);
    return view.node.outputs.map((_o, i): TensorType => {
      const t = bodyOut[i]!;
      if (t.kind !== 'tensor') return view.invalid(`body output ${i} is not a tensor`);
      if (i < plan.states || !t.shape) return t;
      const a = normalizeAxis(view, plan.outputAxes[i - plan.states]!, t.shape.length + 1, 'scan_output_axes');
      return tensorType(t.dtype, [...t.shape.slice(0, a), length, ...t.shape.slice(a)]);
    });
  },
  run: (view, values) => {
    const ins = view.node.inputs.map((_x, i) => numericOf(view, values, i));
    const plan = planOf(view, ins.map((t) => t.shape.length));
    const scans = ins.slice(plan.states);
    const length = scans[0]!.shape[plan.inputAxes[0]!]!;
    scans.forEach((s, i) => {
      if (s.shape[plan.inputAxes[i]!] !== length) view.invalid(`scan inputs have different lengths (${length} and ${s.shape[plan.inputAxes[i]!]})`);
    });
    let state: Value[] = ins.slice(0, plan.states);
    const collected: NumericTensor[][] = plan.outputReverse.map(() => []);
    for (let t = 0; t < length; t++) {
      const slices = scans.map((s, i) => sliceAt(s, plan.inputAxes[i]!, plan.inputReverse[i] ? length - 1 - t : t));
      const out = runSubgraph(plan.body, [...state, ...slices], view.opsets);
      state = out.slice(0, plan.states);
      out.slice(plan.states).forEach((v, k) => {
        collected[k]!.push(v.kind === 'numeric' ? v : view.unsupported('a non-numeric scan output'));
      });
    }
    const stacked = collected.map((parts, k) => {
      if (parts.length === 0) view.unsupported('a scan over zero iterations');
      return stack(view, plan.outputReverse[k] ? [...parts].reverse() : parts, plan.outputAxes[k]!);
    });
    return [...state, ...stacked].slice(0, view.node.outputs.length);
  },
});

export const scanKernels: readonly OpKernel[] = [Scan];
