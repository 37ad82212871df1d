/**
 * What a circuit keeps in memory while it runs, read off its ops: the most ciphertexts alive at
 * once (the SEAL executor frees each value after its last use) and the plaintexts the backend's
 * cache encodes (runtime/backends/seal/plaintext-cache.ts keys them by constant or scalar value,
 * operand level and encoding scale). params/sizes.ts turns these counts into bytes.
 */
import { lastUses, operandsOf, type Circuit } from './ir';

/** Most ciphertexts alive at once when every value is freed after its last use (as the SEAL executor does). */
export function peakLiveCiphertexts(circuit: Circuit): number {
  const lastUse = lastUses(circuit.ops);
  let live = 0;
  let peak = 0;
  circuit.ops.forEach((op, i) => {
    if (op.op !== 'output') live++;
    peak = Math.max(peak, live);
    for (const a of new Set(operandsOf(op))) if (lastUse[a] === i) live--;
    if (op.op !== 'output' && lastUse[i] === -1) live--;
  });
  return peak;
}

export interface CachedPlaintexts {
  /** Distinct pool constants per operand level (always cached). */
  readonly constants: { count: number; level: number }[];
  /** Distinct broadcast scalars per operand level (cached up to the backend's budget). */
  readonly scalars: { count: number; level: number }[];
}

/** The plaintexts the SEAL backend's cache would hold for `circuit`, by level, highest first. */
export function cachedPlaintexts(circuit: Circuit): CachedPlaintexts {
  const constants = new Map<number, Set<string>>();
  const scalars = new Map<number, Set<string>>();
  for (const op of circuit.ops) {
    if (op.op !== 'mulPlain' && op.op !== 'addPlain' && op.op !== 'mulScalar' && op.op !== 'addScalar') continue;
    const level = circuit.ops[op.a]!.level;
    const into = 'c' in op ? constants : scalars;
    const key = 'c' in op ? `${op.c}@${op.encodeScale}` : `${op.value}@${op.encodeScale}`;
    let s = into.get(level);
    if (!s) into.set(level, (s = new Set()));
    s.add(key);
  }
  const byLevel = (m: Map<number, Set<string>>) => [...m].sort(([a], [b]) => b - a).map(([level, s]) => ({ level, count: s.size }));
  return { constants: byLevel(constants), scalars: byLevel(scalars) };
}
