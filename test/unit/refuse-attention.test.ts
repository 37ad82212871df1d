import { describe, expect, it } from 'vitest';
import { refuseAttention } from '../../compiler/passes/refuse-attention';
import { splitGraph } from '../../compiler/passes/split-graph';
import { f32, importGraph, int, type GraphSpec } from '../helpers/op-harness';
import { refusalOf } from '../helpers/refusal';

/**
 * The transformer refusal fires on a product of two tensors that both depend on the input, and
 * only there: a MatMul by a weight, or by a tensor built from the input's shape alone, is the
 * affine map every MLP has.
 */
const W = f32([4, 4], Array.from({ length: 16 }, (_v, i) => (i % 5) / 4));

function graph(nodes: GraphSpec['nodes'], initializers: GraphSpec['initializers'] = { w: W }): ReturnType<typeof importGraph> {
  return importGraph({ opset: 17, inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 4] }], initializers, nodes, outputs: ['y'] });
}

describe('refuseAttention', () => {
  it('refuses self-attention (x·W)·(x·W)ᵀ → Softmax → ·x, naming the first product, in one line', () => {
    const g = graph([
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['q'] },
      { opType: 'Transpose', inputs: ['x'], outputs: ['kt'], attrs: { perm: { type: 'ints', value: [0, 2, 1] } } },
      { opType: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { opType: 'Softmax', inputs: ['s'], outputs: ['p'], attrs: { axis: int(-1) } },
      { opType: 'MatMul', inputs: ['p', 'x'], outputs: ['y'] },
    ]);
    const e = refusalOf(() => refuseAttention(g), 'NOT_ENCRYPTABLE');
    expect(e.message).toMatch(/^MatMul node "n2" \(ai\.onnx opset 17\): a transformer \(attention\) cannot be encrypted yet: 2 MatMuls multiply two tensors computed from the input .*and its Softmax have no encrypted form yet/);
    expect(e.message).not.toMatch(/\n/);
    // compile's passes give the same reason before tracing.
    expect(refusalOf(() => splitGraph(g), 'NOT_ENCRYPTABLE').message).toBe(e.message);
  });

  it('lets a MatMul by a weight pass, and one by a tensor made from the input\'s shape only', () => {
    expect(() =>
      refuseAttention(
        graph([
          { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
          { opType: 'Shape', inputs: ['h'], outputs: ['s'] },
          { opType: 'ConstantOfShape', inputs: ['s'], outputs: ['ones'], attrs: { value: { type: 'tensor', value: f32([1], [1]) } } },
          { opType: 'Transpose', inputs: ['ones'], outputs: ['ot'], attrs: { perm: { type: 'ints', value: [0, 2, 1] } } },
          { opType: 'MatMul', inputs: ['h', 'ot'], outputs: ['y'] },
        ]),
      ),
    ).not.toThrow();
  });
});
