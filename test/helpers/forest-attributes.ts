import type { Attr } from './ml-model';

/** One node of a tree in an ONNX TreeEnsemble* node: a branch, or a leaf with its [class or target index, weight] votes. */
export type ForestNode =
  | { readonly tree: number; readonly id: number; readonly mode: string; readonly feature: number; readonly value: number; t: number; f: number; readonly missingTrue?: boolean }
  | { readonly tree: number; readonly id: number; readonly leaf: readonly (readonly [index: number, weight: number])[] };

/** The nodes_* attributes and the class_* (or target_*) weights of a TreeEnsemble* node, nodes in the order given. */
export function forestAttributes(nodes: readonly ForestNode[], prefix: 'class' | 'target'): Record<string, Attr> {
  const a = { treeids: [] as number[], nodeids: [] as number[], featureids: [] as number[], modes: [] as string[], values: [] as number[], t: [] as number[], f: [] as number[], missing: [] as number[] };
  const w = { ids: [] as number[], nodeids: [] as number[], treeids: [] as number[], weights: [] as number[] };
  for (const n of nodes) {
    a.treeids.push(n.tree);
    a.nodeids.push(n.id);
    const leaf = 'leaf' in n;
    a.featureids.push(leaf ? 0 : n.feature);
    a.modes.push(leaf ? 'LEAF' : n.mode);
    a.values.push(leaf ? 0 : n.value);
    a.t.push(leaf ? 0 : n.t);
    a.f.push(leaf ? 0 : n.f);
    a.missing.push(!leaf && n.missingTrue ? 1 : 0);
    if (!leaf) continue;
    for (const [index, weight] of n.leaf) {
      w.ids.push(index);
      w.nodeids.push(n.id);
      w.treeids.push(n.tree);
      w.weights.push(weight);
    }
  }
  return {
    nodes_treeids: { ints: a.treeids },
    nodes_nodeids: { ints: a.nodeids },
    nodes_featureids: { ints: a.featureids },
    nodes_modes: { strings: a.modes },
    nodes_values: { floats: a.values },
    nodes_truenodeids: { ints: a.t },
    nodes_falsenodeids: { ints: a.f },
    nodes_missing_value_tracks_true: { ints: a.missing },
    [`${prefix}_ids`]: { ints: w.ids },
    [`${prefix}_nodeids`]: { ints: w.nodeids },
    [`${prefix}_treeids`]: { ints: w.treeids },
    [`${prefix}_weights`]: { floats: w.weights },
  };
}
