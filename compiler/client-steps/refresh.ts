/**
 * The refresh step (compile --refresh auto): between two segments the client decrypts the
 * result, every slot masked, and encrypts it again at the top level, so the next segment starts
 * with every level again.
 *   server: ct_y (end of segment k) + Encode(r), r uniform in ±2^σ·B on every slot → client
 *   client: z = Dec(ct) (every slot masked), unpacked as segment k's outputs, packed as segment
 *           k+1's inputs, encrypted fresh at the top level → server
 *   server: ct_z − Encode(r'), r' = r unpacked and packed the same way → segment k+1
 */
import { fail } from '../errors';
import type { ClientStepKindRecord } from './kind';
import { drawMask } from './masks';
import { repackSlots } from './repack';
import { addCircuits, type CiphertextAt } from './step-circuits';
import type { Circuit } from '../circuit/ir';

export const REFRESH: ClientStepKindRecord<{ readonly kind: 'refresh' }, { readonly kind: 'refresh' }> = {
  kind: 'refresh',
  domain: 'slots',
  maskLevels: 0,
  unmaskLevels: 0,
  scaleOctaves: null,
  maskGrowthBits: () => 0,
  roundingBits: () => 0,

  draw({ from, to }, _step, bounds) {
    const masks = from.outputs.map(() => drawMask(from.slots, bounds.maskBits, bounds.maskBound));
    const mask = addCircuits(from, from.outputs.map((_, k) => resultAt(from, k)), masks);
    const removals = repackSlots(from, to, masks).map((r) => r.map((v) => -v));
    const unmask = addCircuits(to, removals.map(() => inputAt(to)), removals);
    return { mask, unmask };
  },
  maskedAt: (_from, result) => result,

  clientOperation: (from, to, _step, slotVectors) => repackSlots(from, to, slotVectors),

  // Per sample, y → z = y + r → z − r in float64: a simulated run carries the mask's rounding (the precision it costs) and nothing else.
  simulate: (rows, _step, bounds) =>
    rows.map((y) => {
      const r = drawMask(y.length, bounds.maskBits, bounds.maskBound);
      return y.map((v, i) => v + r[i]! - r[i]!);
    }),

  describe: (_step, bounds) =>
    `the client decrypts every slot masked by r uniform in ±2^${bounds.maskBits}·${bounds.maskBound.toPrecision(3)}, within 2^-${bounds.maskBits} statistical distance of uniform, and encrypts it again`,

  // test/e2e/client-step-probe.test.ts: the same δ moves the logits the same way every time.
  dishonestClient: 'returning y + δ runs the next segment on y + δ exactly (no unknown factor), so queries map out the layers after the step',
};

/** Level and scale of `c`'s result ciphertext `k`. */
export function resultAt(c: Circuit, k: number): CiphertextAt {
  const op = c.ops.find((o) => o.op === 'output' && o.output === k);
  if (!op) fail('BAD_ARTIFACT', `the segment writes no output ${k}`);
  return { level: op.level, scale: op.scale };
}

/** Level and scale `c` reads its inputs at. */
export function inputAt(c: Circuit): CiphertextAt {
  const op = c.ops.find((o) => o.op === 'input');
  if (!op) fail('BAD_ARTIFACT', 'the segment has no inputs');
  return { level: op.level, scale: op.scale };
}
