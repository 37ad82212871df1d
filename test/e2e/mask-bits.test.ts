import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { type CompileOptions } from '../../compiler/pipeline/compile';
import { compileFile } from '../../runtime/app/compile-file';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';
import { firstSegmentOnSimulation } from '../helpers/simulated-body';

/**
 * `compile --mask-bits σ`: the client steps' masks hide each value within 2^-σ. pt_mlp_digits_relu
 * --refresh auto (vector layout) cuts once, where the next segment reads the result as the first
 * left it, so its refresh masks the plaintext polynomial's integer coefficients
 * (compiler/client-steps/coefficient-refresh.ts): no masked value passes through float64 and σ
 * costs no precision, so `--mask-bits auto` (the default) takes the ceiling, σ = 40. With slot
 * masks (before coefficient masking) auto stopped at 32 here: at 33 the float64 rounding of
 * 2^(σ + log2 B − 53) per value, times SEAL's FFT roundoff (refresh-plan.ts, fftRoundingFactor),
 * broke the promise. A max pool's step (pt_cnn_maxpool_digits) keeps slot masks and with them that limit.
 */
const f = loadFixture('pt_mlp_digits_relu');
function compiled(extra: Partial<CompileOptions>): CompiledModel {
  return compiledFixture(f, { layout: 'vector', refresh: 'auto', ...extra });
}

/** Independently of checkMaskRoom: at each cut's output level, 2^40·B·Δ (and a bit) under half the modulus left. */
function expectRoomFor40(model: CompiledModel): void {
  const primes = model.parameters.coeffModulusBits;
  for (const circuit of bodyCircuits(model).slice(0, -1)) {
    const out = circuit.ops.find((o) => o.op === 'output')!;
    const modulusBits = primes.slice(0, out.level + 1).reduce((a, b) => a + b, 0);
    expect(40 + Math.log2(model.refresh!.maskBound) + Math.log2(out.scale) + 1).toBeLessThanOrEqual(modulusBits - 2);
  }
}

describe('--mask-bits auto', () => {
  const auto = compiled({});
  const dir = mkdtempSync(join(tmpdir(), 'dp-mask-bits-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('pt_mlp_digits_relu: its refresh masks coefficients and auto takes σ = 40, the margin wanted; the promise holds and equals the one at σ = 20', () => {
    expect(auto.refresh?.segments.map((s) => s.masking)).toEqual(['coefficients']);
    expect(auto.refresh?.maskBits).toBe(40);
    expect(auto.options['maskBits']).toBeUndefined();
    expect(auto.calibration.precision.reached).toBe(true);
    const at40 = compiled({ maskBits: 40 });
    expect(at40.calibration.precision).toEqual(auto.calibration.precision);
    expect(at40.refresh).toEqual(auto.refresh);
    // σ costs no precision: the promise's noise term is the same at σ = 20 (with slot masks it grew 2^20-fold).
    expect(compiled({ maskBits: 20 }).calibration.precision.noiseBound).toBe(auto.calibration.precision.noiseBound);
  });

  // The degree held at 63 (degree auto would lower it for a looser promise and spend the slack).
  test('a loose promise (--precision 0.2 --degree 63) lets auto take the ceiling, σ = 40, which an explicit compile confirms', () => {
    const loose = compiled({ precision: 0.2, degree: 63 });
    expect(loose.refresh?.maskBits).toBe(40);
    expect(loose.calibration.precision.reached).toBe(true);
    expect(compiled({ precision: 0.2, degree: 63, maskBits: 40 }).calibration.precision).toEqual(loose.calibration.precision);
  });

  test('compile --json says σ, where each step masks, its statistical distance per value and over a ciphertext', () => {
    const { summary } = compileFile(f.modelPath, { calibration: join(f.dir, 'data.json'), output: join(dir, 'relu.compiled'), layout: 'vector' }, 'test');
    const mask = summary.refresh!.mask;
    expect(mask.mode).toBe('auto');
    expect(mask.bits).toBe(40);
    expect(mask.slots).toBe(8192);
    expect(mask.steps).toEqual([{ kind: 'coefficient-refresh', masking: 'coefficients' }]);
    expect(mask.perSlotLog2Distance).toBe(-40);
    expect(mask.perCiphertextLog2Distance).toBe(14 - 40); // over the 16384 coefficients
    expect(mask.whyNotMax).toBeUndefined();
  });

  // Their cuts end at level 1 under q0 and a spare prime: with the first prime sized for the
  // promise alone (47 bits, 2^45.0 of room) the mask at σ = 40 (2^46.6–46.7 with B ≈ 50) did not
  // fit and auto stopped at 38. The plan now sizes q0 for the mask at the σ it compiles
  // (refresh-plan.ts: maskFirstPrimeBits), paying for it with a smaller scale.
  test.each(['pt_resmlp_digits', 'pt_lenet_digits16'])('%s: every refresh masks coefficients and auto takes σ = 40; the promise holds; each cut has room for 2^40·B', (name) => {
    const model = compiledFixture(loadFixture(name), {});
    const refresh = model.refresh!;
    expect(refresh.segments.every((s) => s.masking === 'coefficients')).toBe(true);
    expect(refresh.maskBits).toBe(40);
    expect(model.calibration.precision.reached).toBe(true);
    expectRoomFor40(model);
  });

  // Its promise is missed at every σ (each segment holds a stage 10 levels deep, which leaves
  // N = 16384 a scale of 2^31 to 2^32): auto kept σ = 35, the largest costing nothing more than
  // the floor's 2^32 scale. A promise missed at every σ is no reason to give up the margin: auto
  // compiles 40 and the floor only, and keeps 40.
  test('pt_attn_digits_rows (default compile): every refresh masks coefficients and auto takes σ = 40; each cut has room for 2^40·B', () => {
    const model = compiledFixture(loadFixture('pt_attn_digits_rows'), {});
    const refresh = model.refresh!;
    expect(refresh.segments.every((s) => s.masking === 'coefficients')).toBe(true);
    expect(refresh.maskBits).toBe(40);
    expectRoomFor40(model);
  }, 600_000);

  test('pt_cnn_maxpool_digits: a max pool step keeps slot masks (the client decodes the window values by design), and auto stops below 40 for it', () => {
    const cnn = (maskBits?: number) => compiledFixture(loadFixture('pt_cnn_maxpool_digits'), { layout: 'vector', ...(maskBits !== undefined ? { maskBits } : {}) });
    const auto = cnn();
    expect(auto.refresh?.segments.map((s) => [s.pool !== undefined, s.masking])).toEqual([[true, undefined]]);
    expect(auto.refresh!.maskBits).toBe(28);
    expect(auto.calibration.precision.reached).toBe(true);
    expect(cnn(29).calibration.precision.reached).toBe(false);
  });
});

describe('--mask-bits', () => {
  const wide = compiled({ maskBits: 32 });

  test('σ = 32: recorded, the promise holds, the outputs stay within it of PyTorch on 20 rows in simulation', async () => {
    expect(wide.refresh?.maskBits).toBe(32);
    expect(wide.options['maskBits']).toBe(32);
    expect(wide.calibration.precision.reached).toBe(true);
    const rows = 20;
    const run = await runCompiled(wide, inputTensor(f.data, f.data.test_inputs.slice(0, rows)), simulateBackend(wide));
    const expected = f.data.expected['output'] as number[][];
    run.bodyOutputs.forEach((row, r) => row.forEach((v, i) => expect(Math.abs(v - expected[r]![i]!), `row ${r} output ${i}`).toBeLessThan(wide.calibration.precision.bound)));
  });

  test('the server draws coefficient masks of ±2^32·⌈B·Δ⌉: what the client decrypts reaches past 2^31·⌈B·Δ⌉', async () => {
    const { server, client, modelId, result, circuits } = await firstSegmentOnSimulation(wide, inputTensor(f.data, f.data.test_inputs.slice(0, 1)));
    try {
      const seen = client.decryptStepCoefficients((await server.maskStep(modelId, result, 0)).bytes, 0)[0]!;
      const scale = circuits[0]!.ops.find((o) => o.op === 'output')!.scale;
      const width = BigInt(Math.ceil(wide.refresh!.maskBound * scale));
      const largest = seen.reduce((m, c) => (c < 0n ? (-c > m ? -c : m) : c > m ? c : m), 0n);
      expect(seen.length).toBe(2 * wide.parameters.slots);
      expect(largest > width << 31n).toBe(true);
      expect(largest <= (width << 32n) + width).toBe(true);
    } finally {
      client.dispose();
      server.dispose();
    }
  });

  test('outside 10..50 it is refused in one line', () => {
    expect(() => compiled({ maskBits: 60 })).toThrow(/^--mask-bits must be an integer from 10 to 50, got 60$/);
  });
});
