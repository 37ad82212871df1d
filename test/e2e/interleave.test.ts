import { describe, expect, test } from 'vitest';
import { decodeCompiledModel, encodeCompiledModel } from '../../compiler/artifact/codec';
import type { CompiledModel } from '../../compiler/artifact/types';
import { clientView, clientViewFromJson, clientViewToJson } from '../../compiler/artifact/views';
import { interleaveSamples } from '../../compiler/circuit/interleave';
import type { Circuit, Op } from '../../compiler/circuit/ir';
import { expandConstant, packSamples, unpackOutputs } from '../../compiler/circuit/packing';
import { checkCircuit } from '../../compiler/circuit/passes-check';
import { compileModel, type CompileOptions } from '../../compiler/pipeline/compile';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { simulateCircuit } from '../../runtime/backends/simulate';
import { clientModelOfView } from '../../runtime/mcp/private-model';
import { rowOutputs } from '../../runtime/run/outputs';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { inputTensor, loadFixture } from '../helpers/fixtures';

/**
 * Many samples per ciphertext in the vector layout (compiler/circuit/interleave): sample j of k
 * sits in slots s·k + j, rotations scale by k, constants fill k adjacent slots per value.
 */

describe('interleaving by hand', () => {
  /** input → rotate(step) → mulPlain([10, 20, 30, 40]) → output, 4 virtual slots, no scales. */
  function tiny(step: number): Circuit {
    const meta = { level: 0, scale: 0, size: 2 as const };
    const ops: Op[] = [
      { op: 'input', input: 0, ...meta },
      { op: 'rotate', a: 0, k: step, ...meta },
      { op: 'mulPlain', a: 1, c: 0, encodeScale: 1, ...meta },
      { op: 'output', a: 2, output: 0, ...meta },
    ];
    return {
      layout: 'vector',
      slots: 4,
      minSlots: 4,
      samplesPerCiphertext: 1,
      inputSize: 4,
      outputSize: 4,
      inputs: [{ kind: 'replicated', size: 4, period: 4 }],
      outputs: [{ kind: 'slots', slots: [0, 1, 2, 3], elements: [0, 1, 2, 3] }],
      ops,
      constants: [Float64Array.from([10, 20, 30, 40])],
      rotationSteps: [step],
      depth: 0,
      topLevel: 0,
      primes: null,
    };
  }

  test('two samples: packed slots, rotation by 2·r, constants doubled, outputs per sample (hand-worked)', () => {
    const c = interleaveSamples(tiny(1), 2);
    checkCircuit(c);
    expect(c.slots).toBe(8);
    expect(c.rotationSteps).toEqual([2]);
    expect(c.ops[1]).toMatchObject({ op: 'rotate', k: 2 });
    expect([...expandConstant(c.constants[0]!, 8, 2)]).toEqual([10, 10, 20, 20, 30, 30, 40, 40]);
    const groups = packSamples(c, [Float64Array.from([1, 2, 3, 4]), Float64Array.from([5, 6, 7, 8])]);
    expect(groups).toHaveLength(1);
    expect([...groups[0]!.inputs[0]!]).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
    const out = unpackOutputs(c, simulateCircuit(c, groups[0]!.inputs), 2);
    // Each sample rotated left by one within its own 4 slots, then times [10, 20, 30, 40].
    expect(out.map((r) => [...r])).toEqual([
      [20, 60, 120, 40],
      [60, 140, 240, 200],
    ]);
  });

  test('a rotation that is not a multiple of k would mix samples: the checker refuses it', () => {
    const c = interleaveSamples(tiny(1), 2);
    const mixed: Circuit = { ...c, ops: c.ops.map((op) => (op.op === 'rotate' ? { ...op, k: 1 } : op)), rotationSteps: [1] };
    expect(() => checkCircuit(mixed)).toThrow(/mixes samples/);
  });

  test('three rows at k = 4 leave the fourth sample empty; five rows take two evaluations', () => {
    const c = interleaveSamples(tiny(3), 4);
    const rows = Array.from({ length: 5 }, (_, i) => Float64Array.from([i, i + 1, i + 2, i + 3]));
    expect(packSamples(c, rows.slice(0, 3))).toHaveLength(1);
    const groups = packSamples(c, rows);
    expect(groups.map((g) => g.samples)).toEqual([4, 1]);
    // Rotation by 3 within 4 slots = right by one: [x3, x0, x1, x2].
    const last = unpackOutputs(c, simulateCircuit(c, groups[1]!.inputs), 1)[0]!;
    expect([...last]).toEqual([7 * 10, 4 * 20, 5 * 30, 6 * 40]);
  });
});

const CALIBRATION_ROWS = 32;

function compiled(name: string, objective: CompileOptions['objective']): CompiledModel {
  const f = loadFixture(name);
  const options: CompileOptions = { calibration: inputTensor(f.data, f.data.calibration.slice(0, CALIBRATION_ROWS)), layout: 'vector', objective };
  return toCompiledModel(compileModel(f.modelPath, options), options, 'test');
}

describe.each(['sk_mlp_digits_relu', 'pt_cnn_digits'])('%s, vector layout packed for throughput', (name) => {
  test('same depth, rotations and parameters as one sample per ciphertext; per-sample simulation equal; ⌈R/k⌉ evaluations', async () => {
    const f = loadFixture(name);
    const one = compiled(name, 'latency');
    const many = compiled(name, 'throughput');
    const k = many.circuit.samplesPerCiphertext;
    expect(one.circuit.samplesPerCiphertext).toBe(1);
    expect(k).toBe(many.circuit.slots / (many.circuit.minSlots / k));
    expect(k).toBeGreaterThan(1);
    expect(many.parameters.polyModulusDegree).toBe(one.parameters.polyModulusDegree);
    expect(many.circuit.depth).toBe(one.circuit.depth);
    expect(many.cost.counts.rotations).toBe(one.cost.counts.rotations);
    expect(many.circuit.rotationSteps).toHaveLength(one.circuit.rotationSteps.length);
    for (const step of many.circuit.rotationSteps) expect(step % k).toBe(0);

    // R rows, not a multiple of k: ⌈R/k⌉ evaluations, the last one partly empty.
    const rows = f.data.test_inputs.slice(0, Math.min(f.data.test_inputs.length, k + 3));
    const input = inputTensor(f.data, rows);
    const packed = await runCompiled(many, input, simulateBackend(many));
    const single = await runCompiled(one, input, simulateBackend(one));
    expect(packSamples(many.circuit, packed.bodyInputs)).toHaveLength(Math.ceil(rows.length / k));
    packed.bodyOutputs.forEach((row, s) => {
      row.forEach((v, i) => {
        const want = single.bodyOutputs[s]![i]!;
        expect(Math.abs(v - want), `row ${s} body output ${i}`).toBeLessThan(1e-9 * (1 + Math.abs(want)));
      });
    });

    // The artifact records k; the server's circuit and the client's view read it back.
    const manifest = JSON.parse(encodeCompiledModel(many).manifest) as { layout: { samplesPerCiphertext?: number } };
    expect(manifest.layout.samplesPerCiphertext).toBe(k);
    expect(decodeCompiledModel(encodeCompiledModel(many)).circuit.samplesPerCiphertext).toBe(k);
    expect(clientModelOfView(clientViewFromJson(clientViewToJson(clientView(many)))).samplesPerCiphertext).toBe(k);
    const plainManifest = JSON.parse(encodeCompiledModel(one).manifest) as { layout: Record<string, unknown> };
    expect('samplesPerCiphertext' in plainManifest.layout).toBe(false);
  });
});

describe('sk_mlp_digits_relu packed for throughput, encrypted', () => {
  test('three rows in one ciphertext decrypt to the simulation and the framework outputs', async () => {
    const name = 'sk_mlp_digits_relu';
    const f = loadFixture(name);
    const model = compiled(name, 'throughput');
    const ROWS = 3;
    const input = inputTensor(f.data, f.data.test_inputs.slice(0, ROWS));
    const fhe = fheBackend(model);
    const encrypted = await runCompiled(model, input, fhe.backend);
    const simulated = await runCompiled(model, input, simulateBackend(model));
    const run = fhe.lastRun()!;
    expect(run.evaluations).toBe(1);
    expect(run.samplesPerEvaluation).toBe(model.circuit.samplesPerCiphertext);
    // The tolerance of fhe-predict: key switching and rounding, 2^(log2 N + 8 − scaleBits).
    const p = model.parameters;
    const tol = 2 ** (Math.log2(p.polyModulusDegree) + 8 - p.scaleBits) + 2 ** -p.expectedPrecisionBits;
    encrypted.bodyOutputs.forEach((row, s) => {
      row.forEach((v, i) => {
        const want = simulated.bodyOutputs[s]![i]!;
        expect(Math.abs(v - want), `row ${s} body output ${i}`).toBeLessThan(tol * (1 + Math.abs(want)));
      });
    });
    const outputs = rowOutputs(encrypted.values, model.outputs.map((o) => o.name), ROWS);
    expect(outputs['label']).toEqual(f.data.expected['label']!.slice(0, ROWS));
  });
});
