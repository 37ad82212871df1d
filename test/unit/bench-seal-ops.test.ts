import { describe, expect, it } from 'vitest';
import { DeepPowersError } from '../../compiler/errors';
import { benchSealOps } from '../../runtime/bench/seal-ops';

// A smoke test only: timings are measured by `npm run bench`, never asserted.
describe('benchSealOps', () => {
  it('times every op at N=4096 with 2 reps', async () => {
    const result = await benchSealOps({ polyModulusDegree: 4096, coeffModulusBits: [40, 29, 40], scaleBits: 29, reps: 2 });
    expect(result.level).toBe(1);
    expect(result.reps).toBe(2);
    for (const [op, ms] of Object.entries(result.ms)) {
      expect(ms, op).not.toBeNull();
      expect(ms! > 0 && Number.isFinite(ms!), op).toBe(true);
    }
  });

  it('runs at the bottom level, where rescale is not possible', async () => {
    const result = await benchSealOps({ polyModulusDegree: 4096, coeffModulusBits: [40, 29, 40], scaleBits: 29, reps: 2, level: 0 });
    expect(result.ms.rescale).toBeNull();
    expect(result.ms.rotate).toBeGreaterThan(0);
    await expect(benchSealOps({ polyModulusDegree: 4096, coeffModulusBits: [40, 29, 40], scaleBits: 29, level: 2 })).rejects.toThrow(DeepPowersError);
  });
});
