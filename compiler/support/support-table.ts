/**
 * What the compiler supports, read off its registries rather than written down: the activation
 * registry (activations, their ONNX forms and exporter patterns), the operator kernels (what
 * imports), and the passes' operator tables (what runs encrypted — affine maps, activations, row-wise
 * Softmax and LayerNorm, products of two ciphertexts, the fused LayerNorm pattern, embeddings on
 * token ids — and what the client runs before encryption and after decryption). `deeppowers support` prints it and the support
 * section of docs/supported-models.md is generated from it, so the documentation cannot drift from the code.
 */
import { ACTIVATIONS, type ActivationRecord, type Symmetry } from '../activations/registry';
import { ML_DOMAIN, ONNX_DOMAIN } from '../graph/graph';
import { kernels } from '../graph/ops/index';
import { MAX_OPSET } from '../onnx/import';
import { affineOperators } from '../passes/affine-ops';
import { LINEAR_ML_OPS } from '../passes/expand-linear-ml';
import { CLIENT_OPS } from '../passes/cut';
import { CLIENT_AIDED_OPS, PRODUCT_OPS, PROLOGUE_OPS } from '../passes/trace';
import { ROWWISE_OPS } from '../passes/rowwise-ops';
import { LAYERNORM_PATTERN_OPS } from '../passes/fuse-layernorm';
import { EMBEDDING_OPS } from '../passes/embedding-one-hot';
import { TREE_OPS } from '../passes/tree-model';
import { MODEL_FAMILIES, type ModelFamily } from './families';

/** Where an operator can run in a compiled model. */
export type OperatorRole =
  | 'encrypted: affine map'
  | 'encrypted: activation'
  | 'encrypted: row-wise function'
  | 'encrypted: product of two encrypted values'
  | 'encrypted: in a written-out LayerNorm'
  | 'encrypted: embedding on token ids'
  | 'encrypted: tree ensemble'
  | 'encrypted: linear model'
  | 'encrypted: client-aided max'
  | 'client: before encryption'
  | 'client: after decryption';

export interface OperatorSupport {
  readonly domain: string;
  readonly opType: string;
  /** Oldest and newest opset version of the domain the kernel implements. */
  readonly opsets: readonly [number, number];
  /** Empty: it imports and runs in the clear (`predict`), but a compiled model cannot hold it. */
  readonly roles: readonly OperatorRole[];
}

export interface ActivationSupport {
  readonly fn: string;
  readonly title: string;
  /** Single ONNX operators, e.g. `LeakyRelu (opset ≥ 1)`. */
  readonly operators: readonly string[];
  /** Subgraphs exporters write for it, recognized as one activation. */
  readonly patterns: readonly string[];
  readonly params: readonly string[];
  /** Each unit is fitted on its own range (positively homogeneous) rather than one range per layer. */
  readonly perUnitRanges: boolean;
  readonly symmetry: string;
  readonly kinks: readonly number[];
}

export interface SupportTable {
  readonly families: readonly ModelFamily[];
  readonly activations: readonly ActivationSupport[];
  readonly operators: readonly OperatorSupport[];
}

function symmetryText(s: Symmetry): string {
  switch (s.kind) {
    case 'odd':
      return s.about === 0 ? 'odd' : `odd about ${s.about}`;
    case 'even-plus-linear':
      return 'even plus linear';
    case 'none':
      return 'none';
  }
}

function activationSupport(r: ActivationRecord): ActivationSupport {
  return {
    fn: r.fn,
    title: r.title,
    operators: r.onnx.map((f) => `${f.domain === ONNX_DOMAIN ? '' : `${f.domain}:`}${f.opType} (opset ≥ ${f.since}${f.kernel === 'own-kernel' ? `, ${f.condition}` : ''})`),
    patterns: r.patterns.map((p) => p.description),
    params: r.params,
    perUnitRanges: r.positivelyHomogeneous,
    symmetry: symmetryText(r.symmetry({})),
    kinks: r.kinks({}),
  };
}

function rolesOf(domain: string, opType: string): OperatorRole[] {
  const key = `${domain}::${opType}`;
  const roles: OperatorRole[] = [];
  if (affineOperators().some(([d, o]) => `${d}::${o}` === key)) roles.push('encrypted: affine map');
  if (ACTIVATIONS.some((r) => r.onnx.some((f) => f.domain === domain && f.opType === opType))) roles.push('encrypted: activation');
  if (ROWWISE_OPS.get(domain)?.has(opType)) roles.push('encrypted: row-wise function');
  if (PRODUCT_OPS.get(domain)?.has(opType)) roles.push('encrypted: product of two encrypted values');
  if (domain === ONNX_DOMAIN && (LAYERNORM_PATTERN_OPS as readonly string[]).includes(opType)) roles.push('encrypted: in a written-out LayerNorm');
  if (EMBEDDING_OPS.get(domain)?.has(opType)) roles.push('encrypted: embedding on token ids');
  if (domain === ML_DOMAIN && TREE_OPS.has(opType)) roles.push('encrypted: tree ensemble');
  if (domain === ML_DOMAIN && LINEAR_ML_OPS.has(opType)) roles.push('encrypted: linear model');
  if (CLIENT_AIDED_OPS.get(domain)?.has(opType)) roles.push('encrypted: client-aided max');
  if (PROLOGUE_OPS.get(domain)?.has(opType)) roles.push('client: before encryption');
  if (CLIENT_OPS.get(domain)?.has(opType)) roles.push('client: after decryption');
  return roles;
}

export function supportTable(): SupportTable {
  const operators = [...kernels.values()]
    .map((k): OperatorSupport => ({ domain: k.domain, opType: k.opType, opsets: [k.minOpset, MAX_OPSET.get(k.domain) ?? k.minOpset], roles: rolesOf(k.domain, k.opType) }))
    .sort((a, b) => a.domain.localeCompare(b.domain) || a.opType.localeCompare(b.opType));
  return { families: MODEL_FAMILIES, activations: ACTIVATIONS.map(activationSupport), operators };
}
