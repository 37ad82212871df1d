/**
 * The coefficient-masked refresh (the default refresh step where the next segment reads the slots
 * as the segment before left them, circuit/carry-layout.ts): the mask is on the plaintext polynomial's
 * integer coefficients (./coefficient-mask.ts), so no masked value passes through float64 and
 * σ costs modulus room at the cut only, not precision.
 *   server: ct_y (end of segment k, level l, scale Δ_l) + R, R uniform integers in ±2^σ·⌈B·Δ_l⌉ → client
 *   client: c = m + R, the decrypted polynomial's coefficients (exact, centered mod Q_l), rescaled
 *           once to segment k+1's input scale, encrypted fresh at the top level → server
 *   server: ct_c − R rescaled the same way → segment k+1, whose input is segment k's result
 *           slot for slot (carried as it is, never repacked)
 */
import type { ClientStepKindRecord, DrawnMask } from './kind';
import { drawCoefficientMask, rescaleCoefficients } from './coefficient-mask';
import { inputAt, REFRESH, resultAt } from './refresh';

type Step = { readonly kind: 'coefficient-refresh' };

export const COEFFICIENT_REFRESH: ClientStepKindRecord<Step, Step> = {
  kind: 'coefficient-refresh',
  domain: 'coefficients',
  maskLevels: 0,
  unmaskLevels: 0,
  scaleOctaves: null,
  maskGrowthBits: () => 0,
  roundingBits: () => 0,

  draw({ from, to }, _step, bounds): DrawnMask {
    const n = 2 * from.slots;
    const into = inputAt(to);
    const add = from.outputs.map((_, k) => {
      const at = resultAt(from, k);
      return { at, values: drawCoefficientMask(n, bounds.maskBits, bounds.maskBound, at.scale) };
    });
    const remove = add.map(({ at, values }) => ({ at: into, values: rescaleCoefficients(values, at.scale, into.scale).map((v) => -v) }));
    return { mask: [], unmask: [], coefficients: { add, remove } };
  },
  maskedAt: (_from, result) => result,

  // On the slots the step is the identity: the result goes on as it is (the client works on coefficients, FheClient.clientStep).
  clientOperation: (_from, _to, _step, slotVectors) => slotVectors.map((v) => Float64Array.from(v)),

  // y → y: the mask cancels exactly in integers; what is left is one rounding per coefficient at the next input scale (≤ N/Δ_in per value, ~2^-26 at N = 16384, Δ = 2^40), which the promise counts (refresh-plan.ts, maskRounding).
  simulate: (rows) => rows.map((y) => Float64Array.from(y)),

  describe: (_step, bounds) =>
    `the client decrypts the result's plaintext polynomial with every coefficient masked by R uniform in ±2^${bounds.maskBits}·⌈${bounds.maskBound.toPrecision(3)}·Δ⌉, within 2^-${bounds.maskBits} statistical distance of uniform per coefficient, and encrypts the coefficients again as they are (it never decodes them)`,

  dishonestClient: REFRESH.dishonestClient,
};
