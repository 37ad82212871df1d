import { createHash } from 'node:crypto';
import { finalizeCompiledModel } from '../../compiler/artifact/codec';
import type { CompiledModel, CompiledModelContent } from '../../compiler/artifact/types';
import { CircuitBuilder } from '../../compiler/circuit/builder';
import { countOps, estimateLatency } from '../../compiler/circuit/count';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { AttributeValue, Node } from '../../compiler/graph/graph';
import { numeric, strings, type Tensor } from '../../compiler/graph/tensor';
import { selectParameters } from '../../compiler/params/select';

/**
 * A small compiled model built by hand, independent of the compile pipeline: a vector-layout
 * circuit (ct×pt, rescale, rotation, ct×ct, relin) with real SEAL-sized parameters, a prologue
 * (Imputer with a NaN attribute, Scaler with a −0 scale) and an epilogue (Add of a constant,
 * Softmax, ArgMax, a string Constant and Gather for the label).
 */

function node(name: string, opType: string, domain: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}): Node {
  return { name, opType, domain, inputs, outputs, attributes: new Map(Object.entries(attributes)) };
}

export interface FixtureOptions {
  /** Insert the client constants in reverse order (same model, different Map insertion order). */
  readonly reverseConstants?: boolean;
  /** Change one circuit weight. */
  readonly weight?: number;
}

export function tinyContent(options: FixtureOptions = {}): CompiledModelContent {
  const params = selectParameters({ depth: 2, slotsNeeded: 4, rotationSteps: [1] });
  const b = new CircuitBuilder(params.slots);
  const x = b.input({ kind: 'replicated', size: 3, period: 4 });
  const p = b.rescale(b.mulPlain(x, Float64Array.of(0.5, options.weight ?? -1, 2, 0)));
  const s = b.add(p, b.rotate(p, 1));
  const q = b.rescale(b.relin(b.mul(s, s)));
  b.output(q, { kind: 'slots', slots: [0, 1], elements: [0, 1] });
  const circuit = assignScales(b.finish('vector', 3, 2, 4), params.primesApprox.slice(1, params.levels + 1).reverse());
  const counts = countOps(circuit);

  const constants: [string, Tensor][] = [
    ['shift', numeric('float32', [2], [0.25, -0.25])],
    ['spare', strings([2], ['α', ''])],
  ];
  if (options.reverseConstants) constants.reverse();

  return {
    source: {
      name: 'tiny',
      sourceFile: 'tiny.onnx',
      sha256: createHash('sha256').update('tiny model bytes').digest('hex'),
      producer: 'hand-built test fixture',
      irVersion: 8,
      opsets: new Map([
        ['ai.onnx', 13],
        ['ai.onnx.ml', 1],
      ]),
    },
    input: { name: 'x', dtype: 'float32', shape: [3], featureNames: ['a', 'b', 'c'] },
    outputs: [
      { name: 'label', type: { kind: 'tensor', dtype: 'string', shape: [null] } },
      { name: 'probabilities', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 2] } },
    ],
    client: {
      prologue: [
        node('impute', 'Imputer', 'ai.onnx.ml', ['x'], ['x_imputed'], {
          imputed_value_floats: { type: 'floats', value: [1, 2, 3] },
          replaced_value_float: { type: 'float', value: Number.NaN },
        }),
        node('scale', 'Scaler', 'ai.onnx.ml', ['x_imputed'], ['body_in'], {
          offset: { type: 'floats', value: [0, 1, 2] },
          scale: { type: 'floats', value: [1, 0.5, -0] },
        }),
      ],
      epilogue: [
        node('shift', 'Add', 'ai.onnx', ['logits', 'shift'], ['shifted']),
        node('softmax', 'Softmax', 'ai.onnx', ['shifted'], ['probabilities'], { axis: { type: 'int', value: 1 } }),
        node('argmax', 'ArgMax', 'ai.onnx', ['logits'], ['index'], { axis: { type: 'int', value: 1 }, keepdims: { type: 'int', value: 0 } }),
        node('names', 'Constant', 'ai.onnx', [], ['names'], { value: { type: 'tensor', value: strings([2], ['cat', 'dog']) } }),
        node('label', 'Gather', 'ai.onnx', ['names', 'index'], ['label']),
      ],
      constants: new Map(constants),
    },
    bodyInput: { name: 'body_in', dtype: 'float32', shape: [3] },
    bodyOutput: { name: 'logits', dtype: 'float32', shape: [2] },
    parameters: params,
    circuit,
    approximations: [
      { stage: 1, sources: ['relu'], fn: 'relu', range: [-2, 2], method: 'square', degree: 2, maxError: 0.125, chebyshev: Float64Array.of(0.5, -0, 0.5) },
    ],
    quantization: {
      bits: 8,
      perChannel: true,
      stages: [{ stage: 0, sources: ['fc'], bits: 8, perChannel: true, outSize: 2, inSize: 3, maxScale: 2 / 127, maxAbsError: 1 / 127, zeroFraction: 1 / 6 }],
    },
    calibration: {
      rows: 10,
      margin: 1.5,
      ranges: [{ stage: 1, sources: ['relu'], fn: 'relu', observed: [-1, 4 / 3], fitted: [-2, 2] }],
      input: { min: [-1, 0, 0.5], max: [2, 3, 0.5] },
      precision: { relative: 0.01, outputRange: [-3, 5], bound: 0.08, approximationError: 0.05, noiseBound: 0.001, reached: true },
    },
    cost: { counts, latency: estimateLatency(counts, params.polyModulusDegree) },
    options: { layout: 'vector', degree: 2, margin: 1.5, method: 'square' },
    toolVersion: '0.1.0-test',
  };
}

export function tinyModel(options: FixtureOptions = {}): CompiledModel {
  return finalizeCompiledModel(tinyContent(options));
}
