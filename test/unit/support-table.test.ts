/**
 * `deeppowers support` against the registries it reads and the docs it generates: the
 * guide's section (docs/supported-models.md) is its output verbatim, the README's model families
 * are its families table verbatim, every model family names only operators a compiled
 * model can hold or the client runs, and every registry entry shows up with its role.
 */
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../../compiler/activations/registry';
import { ONNX_DOMAIN, type Node } from '../../compiler/graph/graph';
import { findKernel } from '../../compiler/graph/ops/index';
import { numeric } from '../../compiler/graph/tensor';
import { importModelFile } from '../../compiler/onnx/import';
import { rowwiseOf } from '../../compiler/passes/rowwise-ops';
import { supportTable } from '../../compiler/support/support-table';
import { formatSupportFamiliesMarkdown, formatSupportMarkdown, formatSupportText } from '../../runtime/format/support';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readReadmeSection, SUPPORT_FAMILIES_SECTION, SUPPORT_SECTION } from '../tools/readme-section';

const table = supportTable();

describe('the support table', () => {
  it('is the Supported models section of docs/supported-models.md (regenerate: npx tsx test/tools/readme-support.ts)', () => {
    expect(readReadmeSection(SUPPORT_SECTION)).toBe(formatSupportMarkdown(table));
  });

  it('has its model families as the README\'s table (regenerate: npx tsx test/tools/readme-support.ts)', () => {
    expect(readReadmeSection(SUPPORT_FAMILIES_SECTION)).toBe(formatSupportFamiliesMarkdown(table));
  });

  it('names, for every model family, only operators that import and run encrypted or on the client', () => {
    for (const f of table.families) {
      for (const key of f.operators) {
        const at = key.lastIndexOf('::');
        const [domain, opType] = [key.slice(0, at), key.slice(at + 2)];
        expect(findKernel(domain, opType), `${f.family}: ${key} has no kernel`).toBeDefined();
        const row = table.operators.find((o) => o.domain === domain && o.opType === opType)!;
        expect(row.roles.length, `${f.family}: ${key} cannot run in a compiled model`).toBeGreaterThan(0);
      }
    }
  });

  it('lists every activation of the registry, and its operators as encrypted activations', () => {
    expect(table.activations.map((a) => a.fn)).toEqual(ACTIVATIONS.map((r) => r.fn));
    for (const r of ACTIVATIONS) {
      for (const form of r.onnx) {
        const row = table.operators.find((o) => o.domain === form.domain && o.opType === form.opType);
        expect(row?.roles, `${r.fn}: ${form.opType}`).toContain('encrypted: activation');
      }
    }
  });

  it('says where the operators of a few known models run', () => {
    const roles = (domain: string, op: string): readonly string[] => table.operators.find((o) => o.domain === domain && o.opType === op)!.roles;
    expect(roles('ai.onnx', 'Gemm')).toEqual(['encrypted: affine map']);
    expect(roles('ai.onnx', 'Softmax')).toEqual(['encrypted: row-wise function', 'client: after decryption']);
    expect(roles('ai.onnx', 'LayerNormalization')).toEqual(['encrypted: row-wise function']);
    expect(roles('ai.onnx', 'Sqrt')).toEqual(['encrypted: in a written-out LayerNorm']);
    expect(roles('ai.onnx', 'MatMul')).toContain('encrypted: product of two encrypted values');
    expect(roles('ai.onnx', 'Gather')).toContain('encrypted: embedding on token ids');
    expect(roles('ai.onnx.ml', 'Normalizer')).toContain('client: before encryption');
    expect(roles('ai.onnx.ml', 'TreeEnsembleClassifier')).toEqual(['encrypted: tree ensemble']);
    expect(roles('ai.onnx', 'MaxPool')).toEqual(['encrypted: client-aided max']);
    expect(roles('ai.onnx', 'TopK')).toEqual([]);
    expect(formatSupportText(table)).toMatch(/^ {2}TopK +\d+–\d+ +in the clear only$/m);
  });

  it('says the server runs every operator of the transformer fixtures (torch.onnx exports, opsets 14 and 17), Softmax and LayerNorm included', () => {
    const dir = join(__dirname, '..', 'fixtures');
    const fixtures = readdirSync(dir).filter((d) => /^pt_(attn|mha|stdlayer|tabformer|text)_/.test(d));
    expect(fixtures.length).toBe(5);
    const seen = new Set<string>();
    for (const f of fixtures) for (const n of importModelFile(join(dir, f, 'model.onnx')).nodes) if (n.domain === ONNX_DOMAIN) seen.add(n.opType);
    // Both LayerNorm forms and the attention's operators are among them.
    for (const op of ['Softmax', 'LayerNormalization', 'Sqrt', 'Pow', 'MatMul', 'Transpose', 'Reshape', 'Gather']) expect(seen, op).toContain(op);
    const transformers = table.families.find((f) => f.family === 'Transformers');
    expect(transformers, 'a Transformers family row').toBeDefined();
    for (const op of ['Softmax', 'LayerNormalization', 'Sqrt', 'Pow', 'MatMul', 'Gather']) {
      const row = table.operators.find((o) => o.domain === ONNX_DOMAIN && o.opType === op)!;
      expect(row.roles.some((r) => r.startsWith('encrypted')), `${op}: ${row.roles.join('; ')}`).toBe(true);
      expect(transformers!.operators, op).toContain(`ai.onnx::${op}`);
    }
  });

  it('declares as row-wise exactly the ONNX operators the row-wise pass holds', () => {
    const node = (opType: string, inputs: string[]): Node => ({ name: opType, opType, domain: ONNX_DOMAIN, inputs, outputs: ['y'], attributes: new Map() });
    const scale = numeric('float32', [4], [1, 2, 3, 4]);
    const opsets = new Map([[ONNX_DOMAIN, 17]]);
    for (const o of table.operators.filter((r) => r.domain === ONNX_DOMAIN)) {
      const use = rowwiseOf(node(o.opType, ['x', 's']), opsets, [3, 4], [undefined, scale]);
      const held = use !== undefined && !('refused' in use);
      expect(held, o.opType).toBe(o.roles.includes('encrypted: row-wise function'));
    }
  });
});
