/**
 * Where the encrypted body ends. Candidates, earliest first: the input of each activation, then
 * the values of the last head that leave the body. The first candidate after which every node is
 * a client step — monotone or presentation only: Softmax, ArgMax, ZipMap, label lookup,
 * Normalizer, a final Sigmoid, reshapes — wins, so the body ends at logits whenever that is exact.
 * A candidate is refused when a later node needs something from inside the body other than the
 * cut value, or carries model weights the client should not compute.
 *
 * Before → after (the trace above):
 *   body values up to z = W2·a + b2, then y = ArgMax(z) stopped
 *   body ends at z; epilogue: ArgMax (the client runs it after decryption)
 */
import { fail } from '../errors';
import { describeNode, ML_DOMAIN, ONNX_DOMAIN, type Graph, type Node } from '../graph/graph';
import type { Tensor } from '../graph/tensor';
import { denseWeights, isIdentity } from './affine-map';
import type { Stage } from '../chain/stages';
import { BODY_INPUT } from '../chain/stage-graph';
import { rootCause, type Trace } from './trace';
import { poolBeforeActivations } from './pool-first';

export interface Cut {
  readonly bodyOutput: string;
  readonly stages: readonly Stage[];
  readonly epilogue: readonly Node[];
}

/** Operators the client may run after decryption (arithmetic only with scalar constants; see isClientStep). */
export const CLIENT_OPS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [
    ONNX_DOMAIN,
    new Set([
      'Softmax', 'LogSoftmax', 'ArgMax', 'ArgMin', 'Sigmoid', 'Tanh', 'Relu', 'Clip', 'Exp', 'Reciprocal', 'ReduceSum', 'Cast', 'Reshape', 'Identity', 'Flatten',
      'Squeeze', 'Unsqueeze', 'Concat', 'Transpose', 'Gather', 'Slice', 'Shape', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Abs', 'Not',
    ]),
  ],
  [ML_DOMAIN, new Set(['ZipMap', 'ArrayFeatureExtractor', 'Normalizer', 'Binarizer'])],
]);

const ARITHMETIC = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * Whether the client may run `node` after decryption. Arithmetic is allowed with scalar constants
 * only (skl2onnx's 1 − p): a vector constant would be model weights computed in the clear.
 */
function isClientStep(node: Node, constants: ReadonlyMap<string, Tensor>, clientNodes: ReadonlySet<Node>): boolean {
  if (clientNodes.has(node)) return true;
  if (!CLIENT_OPS.get(node.domain)?.has(node.opType)) return false;
  if (ARITHMETIC.has(node.opType)) return node.inputs.every((x) => !constants.has(x) || constants.get(x)!.data.length <= 1);
  return true;
}

type Verdict = { readonly ok: true; readonly cut: Cut } | { readonly ok: false; readonly message: string };

export function chooseCut(graph: Graph, trace: Trace, clientNodes: ReadonlySet<Node>): Cut {
  // A product's factors are not values of the graph: the body cannot end at one. A row-wise stage
  // reads its input regathered (rows centred, put together): the body may end at the node's input.
  const candidates: string[] = trace.headStarts.filter((s) => s.op.kind !== 'product').map((s) => (s.op.kind === 'rowwise' ? s.node.inputs[0]! : s.input));
  const last = trace.headStarts.length;
  const producer = new Map<string, Node>();
  for (const n of trace.order) for (const o of n.outputs) producer.set(o, n);
  const leaving = new Set<string>();
  for (const n of trace.order) {
    if (trace.stopped.has(n)) for (const x of n.inputs) if (trace.values.get(x)?.head === last) leaving.add(x);
  }
  for (const o of graph.outputs) if (trace.values.get(o.name)?.head === last) leaving.add(o.name);
  candidates.push(...[...leaving].filter((x) => !candidates.includes(x)));

  let refusal: string | undefined;
  for (const c of candidates) {
    const verdict = tryCut(graph, trace, clientNodes, producer, c);
    if (verdict.ok) return verdict.cut;
    refusal = verdict.message;
  }
  if (refusal !== undefined) fail('NOT_ENCRYPTABLE', refusal);
  const blocker = trace.order.find((n) => trace.stopped.has(n));
  if (blocker) fail('NOT_ENCRYPTABLE', `${describeNode(blocker, graph.opsets)}: ${trace.stopped.get(blocker)}`);
  fail('NOT_ENCRYPTABLE', 'the model computes nothing from its input that could run under encryption');
}

function tryCut(graph: Graph, trace: Trace, clientNodes: ReadonlySet<Node>, producer: ReadonlyMap<string, Node>, cut: string): Verdict {
  const stages = poolBeforeActivations(bodyStages(trace, cut));
  if (stages.length === 0) {
    const blocker = trace.order.find((n) => trace.stopped.has(n));
    const why = blocker ? `${describeNode(blocker, graph.opsets)}: ${trace.stopped.get(blocker)}` : `nothing before "${cut}" can run under encryption`;
    return { ok: false, message: why };
  }
  const body = new Set<Node>();
  const pending = [cut];
  while (pending.length > 0) {
    const n = producer.get(pending.pop()!);
    if (!n || body.has(n)) continue;
    body.add(n);
    pending.push(...n.inputs);
  }
  const epilogue = trace.order.filter((n) => !body.has(n));
  const made = new Set<string>([cut]);
  for (const n of epilogue) {
    if (!isClientStep(n, graph.initializers, clientNodes)) {
      const root = rootCause(trace, n);
      const why = trace.stopped.get(root) ?? 'it would run after the encrypted part, on the client, which is not supported for encryption yet';
      return { ok: false, message: `${describeNode(root, graph.opsets)}: ${why}` };
    }
    const inside = n.inputs.find((x) => x !== '' && !made.has(x) && !graph.initializers.has(x));
    if (inside !== undefined) {
      return {
        ok: false,
        message: `${describeNode(n, graph.opsets)}: reads "${inside}" from inside the encrypted part besides its output "${cut}"; ${trace.stopped.get(n) ?? 'graphs that leave the chain there are not supported for encryption yet'}`,
      };
    }
    for (const o of n.outputs) if (o) made.add(o);
  }
  for (const o of graph.outputs) {
    if (!made.has(o.name) && !graph.initializers.has(o.name)) {
      return { ok: false, message: `graph output "${o.name}" is computed inside the encrypted part besides "${cut}"; several encrypted outputs are not supported yet` };
    }
  }
  return { ok: true, cut: { bodyOutput: cut, stages, epilogue } };
}

/**
 * The stages that compute `value`: per activation, the affine map that feeds it, then the
 * activation; then the map that gives `value`. A map over the latest head alone reads the stage
 * before it (a chain; an identity there is skipped). A map over several heads, or over an earlier
 * one, reads them by stage index: the body is then a DAG.
 */
function bodyStages(trace: Trace, value: string): Stage[] {
  const v = trace.values.get(value)!;
  const stages: Stage[] = [];
  /** Stage index of each head's value: the body input, then each activation's output. */
  const headStage: number[] = [BODY_INPUT];
  /** The affine stage computing value `name` from its heads; `chained`: it reads the stage just before it. */
  const affineStage = (name: string, chained: boolean): Stage => {
    const x = trace.values.get(name)!;
    return {
      kind: 'affine',
      sources: x.sources,
      inSize: x.map.headSize,
      outSize: x.map.size,
      weights: denseWeights(x.map),
      bias: x.map.bias ?? new Float64Array(x.map.size),
      ...(chained ? {} : { reads: x.heads.map((h) => headStage[h]!) }),
    };
  };
  const affine = (name: string, latest: number): void => {
    const x = trace.values.get(name)!;
    const chained = x.heads.length === 1 && x.heads[0] === latest;
    if (chained && isIdentity(x.map)) return;
    stages.push(affineStage(name, chained));
  };
  /**
   * A factor of a product, read by index (the product reads two stages): the body input, a
   * product's or a row-wise stage's output as it is, anything else through its own map. (An
   * activation's output is not read directly: unit scaling rescales it and corrects its readers,
   * which must be affine maps.)
   */
  const factor = (name: string): number => {
    const x = trace.values.get(name)!;
    const h = x.heads[0]!;
    const direct = x.heads.length === 1 && isIdentity(x.map) && (h === 0 || trace.headStarts[h - 1]!.op.kind !== 'activation');
    if (direct) return headStage[h]!;
    stages.push(affineStage(name, false));
    return stages.length - 1;
  };
  trace.headStarts.slice(0, v.head).forEach((seg, j) => {
    const { op } = seg;
    if (op.kind === 'product') {
      const reads: [number, number] = [factor(seg.input), factor(op.other)];
      const factorSizes: [number, number] = [trace.values.get(seg.input)!.map.size, trace.values.get(op.other)!.map.size];
      stages.push({ kind: 'product', sources: seg.sources, size: op.left.length, reads, factorSizes, left: Array.from(op.left), right: Array.from(op.right) });
      headStage.push(stages.length - 1);
      return;
    }
    affine(seg.input, j);
    switch (op.kind) {
      case 'activation':
        stages.push({ kind: 'activation', sources: seg.sources, ...op.use, size: trace.values.get(seg.head)!.map.size });
        break;
      case 'rowwise':
        stages.push({ kind: 'rowwise', sources: seg.sources, fn: op.fn, size: trace.values.get(seg.input)!.map.size, rowLength: op.rowLength });
        break;
      case 'maxpool':
        stages.push({ kind: 'maxpool', sources: seg.sources, inSize: trace.values.get(seg.input)!.map.size, windows: op.windows, geometry: op.geometry });
        break;
    }
    headStage.push(stages.length - 1);
  });
  affine(value, v.head);
  return stages;
}
