import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { CompiledModel } from '../../compiler/artifact/types';
import { type CompileOptions } from '../../compiler/pipeline/compile';
import { compileFile } from '../../runtime/app/compile-file';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { inputTensor, loadFixture } from '../helpers/fixtures';
import { compiledFixture } from '../helpers/compiled-fixture';
import { firstSegmentOnSimulation } from '../helpers/simulated-body';

/**
 * `compile --mask-bits σ`: the client steps' masks hide each value within 2^-σ. At σ = 32 on
 * pt_mlp_digits_relu --refresh auto the promise still holds (σ = 33 breaks it: docs/compiling.md), the
 * artifact records σ, the server draws masks that wide (what the client decrypts reaches far
 * beyond the old default 2^20·B), and the outputs stay within the promise of PyTorch in simulation.
 *
 * `--mask-bits auto` (the default) picks the largest σ in [20, 40] that keeps the promise: each
 * choice is checked against compiles at explicit σ (σ keeps the promise, σ + 1 does not). The
 * boundary moved from 36 to 32 when the promise began to count SEAL's FFT roundoff
 * (refresh-plan.ts, fftRoundingFactor): at 36, two rows on SEAL were 3.7 times the allowance.
 */
const f = loadFixture('pt_mlp_digits_relu');
function compiled(extra: Partial<CompileOptions>): CompiledModel {
  return compiledFixture(f, { layout: 'vector', refresh: 'auto', ...extra });
}

describe('--mask-bits auto', () => {
  const auto = compiled({});
  const dir = mkdtempSync(join(tmpdir(), 'dp-mask-bits-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('pt_mlp_digits_relu: auto picks σ = 32, the largest that keeps the promise (explicit 32 keeps it, 33 does not)', () => {
    expect(auto.refresh?.maskBits).toBe(32);
    expect(auto.options['maskBits']).toBeUndefined();
    expect(auto.calibration.precision.reached).toBe(true);
    const at32 = compiled({ maskBits: 32 });
    expect(at32.calibration.precision).toEqual(auto.calibration.precision);
    expect(at32.refresh).toEqual(auto.refresh);
    expect(compiled({ maskBits: 33 }).calibration.precision.reached).toBe(false);
  });

  // The degree held at 63 (degree auto would lower it for a looser promise and spend the slack).
  test('a loose promise (--precision 0.2 --degree 63) lets auto take the ceiling, σ = 40, which an explicit compile confirms', () => {
    const loose = compiled({ precision: 0.2, degree: 63 });
    expect(loose.refresh?.maskBits).toBe(40);
    expect(loose.calibration.precision.reached).toBe(true);
    expect(compiled({ precision: 0.2, degree: 63, maskBits: 40 }).calibration.precision).toEqual(loose.calibration.precision);
  });

  test('compile --json says σ, its statistical distance per slot and over a ciphertext, and why not 40', () => {
    const { summary } = compileFile(f.modelPath, { calibration: join(f.dir, 'data.json'), output: join(dir, 'relu.compiled'), layout: 'vector' }, 'test');
    const mask = summary.refresh!.mask;
    expect(mask.mode).toBe('auto');
    expect(mask.bits).toBe(32);
    expect(mask.slots).toBe(8192);
    expect(mask.perSlotLog2Distance).toBe(-32);
    expect(mask.perCiphertextLog2Distance).toBe(13 - 32);
    expect(mask.whyNotMax).toMatch(/σ = 33: approximation 0\.556 \+ CKKS noise and mask rounding [0-9.]+ = [0-9.]+ > 0\.603/);
    const at33 = mask.tried.find((t) => t.bits === 33)!;
    expect(at33.precision!.reached).toBe(false);
    expect(mask.tried.find((t) => t.bits === 32)!.precision!.reached).toBe(true);
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

  test('σ = 33 breaks the promise on this model, and the compile says so', () => {
    expect(compiled({ maskBits: 33 }).calibration.precision.reached).toBe(false);
  });

  test('the server draws masks of ±2^32·B: what the client decrypts reaches past 2^31·B', async () => {
    const { server, client, modelId, result } = await firstSegmentOnSimulation(wide, inputTensor(f.data, f.data.test_inputs.slice(0, 1)));
    try {
      const seen = client.decryptStep((await server.maskStep(modelId, result, 0)).bytes, 0)[0]!;
      const B = wide.refresh!.maskBound;
      const largest = Math.max(...Array.from(seen, Math.abs));
      expect(largest).toBeGreaterThan(2 ** 31 * B);
      expect(largest).toBeLessThanOrEqual(2 ** 32 * B + B);
    } finally {
      client.dispose();
      server.dispose();
    }
  });

  test('outside 10..50 it is refused in one line', () => {
    expect(() => compiled({ maskBits: 60 })).toThrow(/^--mask-bits must be an integer from 10 to 50, got 60$/);
  });
});
