/**
 * `deeppowers support` against the registries it reads and the docs it generates: the
 * guide's section (docs/supported-models.md) is its output verbatim, the README's model families
 * are its families table verbatim, every model family names only operators a compiled
 * model can hold or the client runs, and every registry entry shows up with its role.
 */
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../../compiler/activations/registry';
import { findKernel } from '../../compiler/graph/ops/index';
import { supportTable } from '../../compiler/support/support-table';
import { formatSupportFamiliesMarkdown, formatSupportMarkdown, formatSupportText } from '../../runtime/format/support';
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
    expect(roles('ai.onnx', 'Softmax')).toEqual(['client: after decryption']);
    expect(roles('ai.onnx.ml', 'Normalizer')).toContain('client: before encryption');
    expect(roles('ai.onnx.ml', 'TreeEnsembleClassifier')).toEqual(['encrypted: tree ensemble']);
    expect(roles('ai.onnx', 'MaxPool')).toEqual(['encrypted: client-aided max']);
    expect(roles('ai.onnx', 'TopK')).toEqual([]);
    expect(formatSupportText(table)).toMatch(/^ {2}TopK +\d+–\d+ +in the clear only$/m);
  });
});
