/**
 * The lowered model for people and for machines: `deeppowers inspect --lowered` prints these
 * lines (or the JSON form): client prologue, the encrypted chain stage by stage, client epilogue.
 *
 * Before → after (a chain → `inspect --lowered` lines):
 *   [affine 30×16 (Scaler, MatMul, Add), activation tanh ×16 (Tanh), affine 16×1 (MatMul1, Add1)]
 *   1. affine 30→16 (Scaler, MatMul, Add)   2. tanh ×16 (Tanh)   3. affine 16→1 (MatMul1, Add1)
 */
import type { Node } from '../graph/graph';
import type { TreeModel } from './tree-model';
import type { SplitModel, Stage } from '../chain/stages';
import { forestDepth } from '../chain/tree-body';
import { isStepStage, stepStageKind } from '../chain/step-stages';
import { nodeLabel } from './node-sources';

export interface ClientNodeJson {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
}

export type StageJson =
  | {
      readonly kind: 'affine';
      readonly inSize: number;
      readonly outSize: number;
      readonly nonZeros: number;
      readonly sources: readonly string[];
      /** Stage numbers (1-based, 0 the body input) this map reads, when not just the stage before it. */
      readonly reads?: readonly number[];
    }
  | { readonly kind: 'activation'; readonly fn: string; readonly size: number; readonly sources: readonly string[] }
  | { readonly kind: 'maxpool'; readonly inSize: number; readonly outSize: number; readonly geometry: string; readonly sources: readonly string[] }
  | { readonly kind: 'softmax' | 'layernorm'; readonly inSize: number; readonly outSize: number; readonly groups: number; readonly sources: readonly string[] };

export interface LoweredJson {
  readonly input: { readonly name: string; readonly dtype: string; readonly shape: readonly number[] };
  readonly prologue: readonly ClientNodeJson[];
  readonly bodyInput: string;
  readonly body: readonly StageJson[];
  readonly bodyOutput: { readonly name: string; readonly shape: readonly number[] };
  readonly epilogue: readonly ClientNodeJson[];
  readonly outputs: readonly string[];
}

function nonZeros(w: Float64Array): number {
  let n = 0;
  for (const v of w) if (v !== 0) n++;
  return n;
}

export function stageJson(s: Stage): StageJson {
  switch (s.kind) {
    case 'affine':
      return { kind: 'affine', inSize: s.inSize, outSize: s.outSize, nonZeros: nonZeros(s.weights), sources: s.sources, ...(s.reads ? { reads: s.reads.map((r) => r + 1) } : {}) };
    case 'activation':
      return { kind: 'activation', fn: s.fn, size: s.size, sources: s.sources };
    case 'maxpool':
      return { kind: 'maxpool', inSize: s.inSize, outSize: s.windows.length, geometry: s.geometry, sources: s.sources };
    case 'softmax':
    case 'layernorm':
      return { kind: s.kind, inSize: s.inSize, outSize: s.inSize, groups: s.groups.length, sources: s.sources };
  }
}

/** One line per stage: `affine 30→1 (Scaler, LinearClassifier)`, `relu ×100 (Relu)`. */
export function describeStage(s: Stage): string {
  if (s.kind === 'activation') return `${s.fn} ×${s.size} (${s.sources.join(', ')})`;
  if (isStepStage(s)) {
    const kind = stepStageKind(s);
    return `${kind.label(s)}, ${kind.detail(s)} (${s.sources.join(', ')}; a client step)`;
  }
  const nz = nonZeros(s.weights);
  const total = s.inSize * s.outSize;
  const density = nz === total ? '' : `, ${nz} of ${total} weights non-zero`;
  const reads = s.reads ? `, reads ${s.reads.map((r) => (r < 0 ? 'the input' : `stage ${r + 1}`)).join(' + ')}` : '';
  return `affine ${s.inSize}→${s.outSize} (${s.sources.join(', ')}${density}${reads})`;
}

function clientNode(n: Node): ClientNodeJson {
  return { name: nodeLabel(n), opType: n.opType, domain: n.domain };
}

export function loweredJson(split: SplitModel): LoweredJson {
  return {
    input: { name: split.inputName, dtype: split.inputDType, shape: split.inputShape },
    prologue: split.prologue.map(clientNode),
    bodyInput: split.bodyInput,
    body: split.body.map(stageJson),
    bodyOutput: { name: split.bodyOutput, shape: split.bodyOutputShape },
    epilogue: split.epilogue.map(clientNode),
    outputs: split.outputs.map((o) => o.name),
  };
}

function clientLine(nodes: readonly Node[]): string {
  return nodes.length === 0 ? '(none)' : nodes.map((n) => n.opType).join(', ');
}

export function describeLowered(split: SplitModel): string[] {
  const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
  return [
    `input ${split.inputName} ${split.inputDType} ${shape(split.inputShape)}`,
    `client prologue: ${clientLine(split.prologue)}`,
    `encrypted body (${split.body.length} stage${split.body.length === 1 ? '' : 's'}), reads ${split.bodyInput}:`,
    ...split.body.map((s, i) => `  ${i + 1}. ${describeStage(s)}`),
    `body output ${split.bodyOutput} ${shape(split.bodyOutputShape)}`,
    `client epilogue: ${clientLine(split.epilogue)}`,
    `outputs: ${split.outputs.map((o) => o.name).join(', ')}`,
  ];
}

/** A tree ensemble's body, for `inspect --lowered`: what the client and the server each run. */
export interface TreeLoweredJson {
  readonly input: string;
  readonly prologue: readonly ClientNodeJson[];
  readonly ensemble: { readonly node: ClientNodeJson; readonly task: 'classifier' | 'regressor'; readonly trees: number; readonly depth: number; readonly branches: number; readonly leaves: number; readonly features: number };
  /** Score columns the server sums per sample. */
  readonly columns: number;
  readonly postTransform: string;
  readonly epilogue: readonly ClientNodeJson[];
}

export function treeLoweredJson(t: TreeModel): TreeLoweredJson {
  const { ensemble } = t;
  return {
    input: t.input,
    prologue: t.before.map(clientNode),
    ensemble: {
      node: clientNode(t.node),
      task: t.task.kind,
      trees: ensemble.roots.length,
      depth: forestDepth(ensemble),
      branches: ensemble.nodes.filter((n) => !n.leaf).length,
      leaves: ensemble.nodes.filter((n) => n.leaf).length,
      features: t.features,
    },
    columns: t.outputs,
    postTransform: t.transform,
    epilogue: t.after.map(clientNode),
  };
}

export function describeTreeBody(t: TreeModel): string[] {
  const j = treeLoweredJson(t);
  const e = j.ensemble;
  return [
    `encryptable: yes, as a tree ensemble (batch layout: N/2 rows per ciphertext)`,
    `client prologue: ${clientLine(t.before)}, then the threshold bits of ${j.input} (one 0/1 per distinct threshold on the compile's grid), encrypted`,
    `encrypted body: ${e.node.opType}${e.node.name === e.node.opType ? '' : ` "${e.node.name}"`}, ${e.trees} tree${e.trees === 1 ? '' : 's'}, depth ${e.depth}, ${e.branches} branches, ${e.leaves} leaves on ${e.features} features: ` +
      `each leaf's indicator is the product of its path's tests, the server sums the reached leaves' values into ${j.columns} score column${j.columns === 1 ? '' : 's'}`,
    `client epilogue: base values, post_transform ${j.postTransform}${e.task === 'classifier' ? ' and the label (the top score)' : ''} on the decrypted scores${t.after.length > 0 ? `, then ${clientLine(t.after)}` : ''}`,
  ];
}

