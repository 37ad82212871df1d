/**
 * Which ONNX operators the passes can put inside the encrypted body as affine maps (by rule). The
 * elementwise activations are the activation registry's (activations/registry.ts).
 *
 * Before → after (a node → the rule that reads it):
 *   Gemm (ai.onnx) → gemmRule (affine-linear)   Scaler (ai.onnx.ml) → scalerRule   Relu → none here
 */
import { ML_DOMAIN, ONNX_DOMAIN, type Node } from '../graph/graph';
import { addRule, batchNormRule, divRule, gemmRule, matmulRule, mulRule, negRule, scalerRule, subRule } from './affine-linear';
import {
  arrayFeatureExtractorRule,
  castRule,
  concatRule,
  flattenRule,
  identityRule,
  reshapeRule,
  squeezeRule,
  transposeRule,
  unsqueezeRule,
} from './affine-layout';
import { NotAffine, refused, type AffineContext, type AffineOutcome, type AffineRule } from './affine-rule';
import { averagePoolRule, convRule, globalAveragePoolRule, padRule } from './affine-window';

const RULES: ReadonlyMap<string, AffineRule> = new Map([
  [`${ONNX_DOMAIN}::Gemm`, gemmRule],
  [`${ONNX_DOMAIN}::MatMul`, matmulRule],
  [`${ONNX_DOMAIN}::Add`, addRule],
  [`${ONNX_DOMAIN}::Sub`, subRule],
  [`${ONNX_DOMAIN}::Mul`, mulRule],
  [`${ONNX_DOMAIN}::Div`, divRule],
  [`${ONNX_DOMAIN}::Neg`, negRule],
  [`${ONNX_DOMAIN}::BatchNormalization`, batchNormRule],
  [`${ONNX_DOMAIN}::Conv`, convRule],
  [`${ONNX_DOMAIN}::AveragePool`, averagePoolRule],
  [`${ONNX_DOMAIN}::GlobalAveragePool`, globalAveragePoolRule],
  [`${ONNX_DOMAIN}::Pad`, padRule],
  [`${ONNX_DOMAIN}::Identity`, identityRule],
  [`${ONNX_DOMAIN}::Cast`, castRule],
  [`${ONNX_DOMAIN}::Flatten`, flattenRule],
  [`${ONNX_DOMAIN}::Reshape`, reshapeRule],
  [`${ONNX_DOMAIN}::Squeeze`, squeezeRule],
  [`${ONNX_DOMAIN}::Unsqueeze`, unsqueezeRule],
  [`${ONNX_DOMAIN}::Transpose`, transposeRule],
  [`${ONNX_DOMAIN}::Concat`, concatRule],
  [`${ML_DOMAIN}::Scaler`, scalerRule],
  [`${ML_DOMAIN}::ArrayFeatureExtractor`, arrayFeatureExtractorRule],
]);

/** Operators that only move values around: they add no weights, so reports leave them out of `sources`. */
const LAYOUT_ONLY = new Set(['Identity', 'Cast', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze']);

/** Every operator with an affine rule, as [domain, op type]. */
export function affineOperators(): readonly (readonly [string, string])[] {
  return [...RULES.keys()].map((key) => {
    const at = key.lastIndexOf('::');
    return [key.slice(0, at), key.slice(at + 2)] as const;
  });
}

export function hasAffineRule(node: Node): boolean {
  return RULES.has(`${node.domain}::${node.opType}`);
}

export function isLayoutOnly(node: Node): boolean {
  return node.domain === ONNX_DOMAIN && LAYOUT_ONLY.has(node.opType);
}

/** How `node` acts on its encrypted inputs; undefined when the operator is not affine at all. */
export function affineOutcome(node: Node, ctx: AffineContext): AffineOutcome | undefined {
  const rule = RULES.get(`${node.domain}::${node.opType}`);
  if (!rule) return undefined;
  try {
    return rule(ctx);
  } catch (e) {
    if (e instanceof NotAffine) return refused(e.message);
    throw e;
  }
}

