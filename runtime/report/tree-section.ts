/**
 * The report's part for a tree ensemble: the grid and snap the compiler recorded (manifest
 * options.trees), the data rows whose leaves the snap changes, the reference sums the circuit
 * computes (exact thresholds), the depth as one layer, and bytes per row.
 */
import type { CompiledModel } from '../../compiler/artifact/types';
import { fail } from '../../compiler/errors';
import type { NumericTensor } from '../../compiler/graph/tensor';
import type { SnappedThreshold } from '../../compiler/passes/tree-encoding';
import { rowsWithChangedLeaves } from '../../compiler/passes/tree-encoding';
import type { TreeBodySplit } from '../../compiler/passes/split-graph';
import { exactTreeSums } from '../../compiler/passes/tree-scores';
import { treeGridOf, treeInputRows, type RecordedTreeSummary, type TreeGrid } from '../../compiler/pipeline/steps/encode-trees';
import type { DepthBreakdown } from './circuit-facts';

export interface TreeReport extends TreeGrid {
  readonly thresholds: readonly { readonly feature: number; readonly threshold: number; readonly snapped: number }[];
  /** Rows of the data file that reach another leaf in some tree because of the snap. */
  readonly dataRowsChanged: number;
  readonly dataRows: number;
}

export interface TreeAnalysis {
  readonly report: TreeReport;
  /** The sums the circuit computes, with the exact thresholds, per data row. */
  readonly referenceBody: Float64Array[];
  /** The ensemble node's name, for the depth table. */
  readonly source: string;
}

function recorded(model: CompiledModel): RecordedTreeSummary {
  const t = model.options['trees'];
  if (t === undefined || t === null || typeof t !== 'object' || Array.isArray(t)) fail('BAD_ARTIFACT', 'the compiled tree ensemble has no options.trees record: compiled by another version?');
  return t as unknown as RecordedTreeSummary;
}

/** `tree`: the source model's tree body (the compile's body kind, splitBody's `trees`). */
export function analyseTrees(tree: TreeBodySplit, model: CompiledModel, input: NumericTensor): TreeAnalysis {
  const { graph, trees } = tree;
  const r = recorded(model);
  const branches = trees.ensemble.nodes.flatMap((n, at) => (n.leaf ? [] : [{ at, n }]));
  if (branches.length !== r.thresholds.length) fail('BAD_ARTIFACT', `the manifest records ${r.thresholds.length} thresholds, the source model has ${branches.length} branches`);
  const thresholds: SnappedThreshold[] = branches.map(({ at, n }, i) => {
    const [feature, threshold, snapped] = r.thresholds[i]!;
    if (feature !== n.feature) fail('BAD_ARTIFACT', `threshold ${i} is recorded for feature ${feature}, the source model's branch reads feature ${n.feature}`);
    return { node: at, feature, mode: n.mode, threshold, snapped };
  });
  const rows = treeInputRows(graph, trees, input);
  return {
    report: {
      ...treeGridOf(r),
      thresholds: thresholds.map((t) => ({ feature: t.feature, threshold: t.threshold, snapped: t.snapped })),
      dataRowsChanged: rowsWithChangedLeaves(trees, { thresholds }, rows).length,
      dataRows: rows.length,
    },
    referenceBody: exactTreeSums(trees, rows),
    source: trees.node.name || trees.node.opType,
  };
}

/** The circuit's depth as one layer: the path products and the weighted sums. */
export function treeDepth(model: CompiledModel, t: TreeReport, source: string): DepthBreakdown {
  const { circuit } = model;
  const outputLevel = Math.min(...circuit.ops.filter((op) => op.op === 'output').map((op) => op.level));
  return {
    total: circuit.depth,
    topLevel: circuit.topLevel,
    outputLevel,
    layers: [
      {
        stage: 0,
        kind: 'polynomial',
        label: `${t.trees} tree${t.trees === 1 ? '' : 's'} of depth ≤ ${t.depth}: path products of ${t.bits} bits, weighted sums`,
        sources: [source],
        depth: circuit.depth,
        levelIn: circuit.topLevel,
        levelOut: circuit.topLevel - circuit.depth,
      },
    ],
    consistent: circuit.topLevel - circuit.depth === outputLevel,
  };
}
