/**
 * The client's ONNX steps around an encrypted tree ensemble, written as standard nodes so the
 * compiled model's client view runs them with the reference interpreter like any other prologue
 * and epilogue:
 *
 *  prologue  x → Cast(double) → Gather(bit features) → Imputer(NaN → ±∞, per the bit's missing
 *            value) → Sub(cuts) → Binarizer(> 0) → Cast(float): the 0/1 threshold bits;
 *  epilogue  decrypted sums → MatMul + Add (base values, binary cases) → Identity / Sigmoid /
 *            Softmax (post_transform) → the scores output; the label by ArgMax (ties broken
 *            towards the first class by TIE_MARGIN) or Binarizer on one linear score, then
 *            Gather from the class labels.
 *
 * Differences are exact in double: x − cut > 0 exactly when x > cut.
 *
 * Before → after (a classifier on two features with cuts 0.5 and 1.5 on feature 1):
 *   label, p = TreeEnsembleClassifier(x)
 *   prologue  bits = Cast(Binarizer(Sub(Imputer(Gather(Cast(x), [1, 1])), [0.5, 1.5])))
 *   epilogue  p = Add(MatMul(sums, M), base)   label = Gather(classes, ArgMax(p))
 */
import type { AttributeValue, Node } from '../graph/graph';
import { ML_DOMAIN, ONNX_DOMAIN } from '../graph/graph';
import { numeric, strings, type Tensor } from '../graph/tensor';
import type { TreeEncoding } from './tree-encoding';
import type { TreeModel } from './tree-model';
import { TIE_MARGIN, type TreeFinish } from './tree-scores';

const FLOAT = 1;
const INT64 = 7;
const DOUBLE = 11;

export interface TreeClientSteps {
  readonly prologue: readonly Node[];
  readonly epilogue: readonly Node[];
  readonly constants: ReadonlyMap<string, Tensor>;
  /** The bits the body reads ([batch, bits], float32) and the sums it returns ([batch, columns], float32). */
  readonly bodyInput: string;
  readonly bodyOutput: string;
}

function node(name: string, opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}, domain = ONNX_DOMAIN): Node {
  return { name, opType, domain, inputs, outputs, attributes: new Map(Object.entries(attributes)) };
}

export function treeClientSteps(model: TreeModel, encoding: TreeEncoding, finish: TreeFinish): TreeClientSteps {
  const p = `deeppowers_tree_${model.node.name || 'ensemble'}_`;
  const constants = new Map<string, Tensor>();
  const constant = (name: string, t: Tensor): string => {
    constants.set(p + name, t);
    return p + name;
  };
  const bits = encoding.bits;
  const B = bits.length;
  const bodyInput = `${p}bits`;
  const bodyOutput = `${p}sums`;

  const prologue: Node[] = [
    node(`${p}cast`, 'Cast', [model.input], [`${p}x`], { to: { type: 'int', value: DOUBLE } }),
    node(`${p}gather`, 'Gather', [`${p}x`, constant('features', numeric('int64', [B], bits.map((b) => b.feature)))], [`${p}xb`], { axis: { type: 'int', value: 1 } }),
    node(
      `${p}missing`,
      'Imputer',
      [`${p}xb`],
      [`${p}xi`],
      { imputed_value_floats: { type: 'floats', value: bits.map((b) => (b.missing ? Infinity : -Infinity)) }, replaced_value_float: { type: 'float', value: NaN } },
      ML_DOMAIN,
    ),
    node(`${p}sub`, 'Sub', [`${p}xi`, constant('cuts', numeric('float64', [B], bits.map((b) => b.cut)))], [`${p}d`]),
    node(`${p}binarize`, 'Binarizer', [`${p}d`], [`${p}bd`], { threshold: { type: 'float', value: 0 } }, ML_DOMAIN),
    node(`${p}bits`, 'Cast', [`${p}bd`], [bodyInput], { to: { type: 'int', value: FLOAT } }),
  ];

  const [labelOut, scoresOut] = model.task.kind === 'classifier' ? [model.node.outputs[0] ?? '', model.node.outputs[1] ?? ''] : ['', model.node.outputs[0] ?? ''];
  const W = finish.pre.offset.length;
  const epilogue: Node[] = [
    node(`${p}mix`, 'MatMul', [bodyOutput, constant('mix', numeric('float32', [finish.columns, W], finish.pre.matrix))], [`${p}mixed`]),
    node(`${p}base`, 'Add', [`${p}mixed`, constant('base', numeric('float32', [W], finish.pre.offset))], [`${p}pre`]),
  ];
  if (scoresOut) {
    const op = finish.transform === 'NONE' ? 'Identity' : finish.transform === 'LOGISTIC' ? 'Sigmoid' : 'Softmax';
    epilogue.push(node(`${p}transform`, op, [`${p}pre`], [scoresOut], op === 'Softmax' ? { axis: { type: 'int', value: 1 } } : {}));
  }
  if (labelOut && model.task.kind === 'classifier') {
    const labels = model.task.labels;
    const table = constant('labels', labels.kind === 'string' ? strings([labels.values.length], labels.values) : numeric('int64', [labels.values.length], labels.values));
    const rule = finish.label;
    if (rule.kind === 'argmax') {
      // An exact tie stays a tie's winner (the first class) under CKKS noise smaller than the margin.
      const ties = constant('ties', numeric('float32', [W], Array.from({ length: W }, (_, k) => -k * TIE_MARGIN)));
      epilogue.push(
        node(`${p}tiebreak`, 'Add', [`${p}pre`, ties], [`${p}ranked`]),
        node(`${p}argmax`, 'ArgMax', [`${p}ranked`], [`${p}pick`], { axis: { type: 'int', value: 1 }, keepdims: { type: 'int', value: 0 } }),
      );
    } else if (rule.kind === 'threshold') {
      epilogue.push(
        node(`${p}positive`, 'MatMul', [bodyOutput, constant('positive', numeric('float32', [finish.columns, 1], rule.weights))], [`${p}pos0`]),
        node(`${p}positive_offset`, 'Add', [`${p}pos0`, constant('positive_offset', numeric('float32', [1], [rule.offset]))], [`${p}pos`]),
        node(`${p}side`, 'Binarizer', [`${p}pos`], [`${p}side`], { threshold: { type: 'float', value: rule.threshold + TIE_MARGIN } }, ML_DOMAIN),
        node(`${p}side_int`, 'Cast', [`${p}side`], [`${p}side_i`], { to: { type: 'int', value: INT64 } }),
        node(`${p}flat`, 'Reshape', [`${p}side_i`, constant('flat', numeric('int64', [1], [-1]))], [`${p}pick`]),
      );
    }
    epilogue.push(node(`${p}label`, 'Gather', [table, `${p}pick`], [labelOut], { axis: { type: 'int', value: 0 } }));
  }
  return { prologue, epilogue, constants, bodyInput, bodyOutput };
}
