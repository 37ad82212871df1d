import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { supportedLayouts } from '../../compiler/pipeline/compile';
import { importModel } from '../../compiler/onnx/import';
import { loadFixture } from '../helpers/fixtures';

/**
 * The layouts the bench (and the suites that loop over layouts) try for a model: what
 * `compile --layout` accepts. A transformer compiles to the vector layout (transformer-seal runs it
 * on SEAL), so the bench must time it there rather than list only its batch refusal.
 */
describe('supportedLayouts', () => {
  const graphOf = (name: string) => {
    const f = loadFixture(name);
    return importModel(readFileSync(f.modelPath), f.modelPath);
  };

  test('a transformer with hand-written attention is offered both layouts', () => {
    expect(supportedLayouts(graphOf('pt_attn_digits_rows'))).toEqual(['vector', 'batch']);
  });

  test('a tree ensemble only the batch layout; an MLP both', () => {
    expect(supportedLayouts(graphOf('sk_tree_wine'))).toEqual(['batch']);
    expect(supportedLayouts(graphOf('pt_mlp_digits_relu'))).toEqual(['vector', 'batch']);
  });
});
