/**
 * Which rotation steps a circuit may ask Galois keys for. Every distinct step is one key-switching
 * key, a ciphertext per data prime: at N = 16384 about 9 MB each after seeding and compression, so
 * a convolution network whose layers rotate by forty different steps needs a third of a gigabyte
 * of evaluation keys and minutes of key generation. With `powers-of-two` a rotation by k is done
 * as rotations by the powers of two in k's binary expansion (k ≤ slots/2), or in that of
 * slots − k as right rotations (k > slots/2), so at most log2(slots) keys of each direction
 * serve every step, for up to log2(k) rotations where there was one.
 */
export type RotationKeys = 'all' | 'powers-of-two';

/** What `compile --rotation-keys` takes: `auto` picks powers of two when all steps' keys exceed ROTATION_KEY_BUDGET_BYTES. */
export type RotationKeysRequest = RotationKeys | 'auto';

export const ROTATION_KEY_MODES: readonly RotationKeysRequest[] = ['auto', 'all', 'powers-of-two'];

/**
 * Evaluation keys (seeded, as uploaded) above which auto rotates by powers of two: a few hundred
 * MB is what a client can generate in seconds and upload once; a key set that also has to fit
 * node-seal's 4 GiB heap next to every ciphertext and plaintext should stay well below it.
 */
export const ROTATION_KEY_BUDGET_BYTES = 192 * 1024 ** 2;

/**
 * The left rotations, in order, that make up a left rotation by `step` (0 < step < slots) under
 * `keys`: [step] for `all`; otherwise ascending powers of two (k ≤ slots/2) or left rotations by
 * slots − 2^i, i.e. right rotations by 2^i (k > slots/2). Their sum is step mod slots.
 */
export function rotationChain(step: number, slots: number, keys: RotationKeys): number[] {
  if (!Number.isInteger(step) || step <= 0 || step >= slots) throw new Error(`rotation step ${step} is not in (0, ${slots})`);
  if (keys === 'all') return [step];
  const right = step > slots / 2;
  let rest = right ? slots - step : step;
  const out: number[] = [];
  for (let bit = 1; rest > 0; bit *= 2) {
    if (rest & bit) {
      out.push(right ? slots - bit : bit);
      rest -= bit;
    }
  }
  return out;
}
