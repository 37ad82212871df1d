import type { Circuit, Level, Op } from './ir';
import { opInfo, type CostKind } from './op-table';

/**
 * Operation counts read off the circuit itself (so reports cannot drift from what runs), and a
 * latency estimate: counts × per-op costs, scaled by the number of primes each op works on.
 */

export interface OpCounts {
  readonly rotations: number;
  readonly ctCtMul: number;
  /** mulPlain + mulScalar. */
  readonly ctPtMul: number;
  /** add + sub + neg between ciphertexts. */
  readonly ctCtAdd: number;
  /** addPlain + addScalar. */
  readonly ctPtAdd: number;
  readonly rescales: number;
  readonly relins: number;
  readonly modswitches: number;
  readonly inputs: number;
  readonly outputs: number;
  readonly constants: number;
  readonly rotationSteps: readonly number[];
  readonly depth: number;
  readonly topLevel: Level;
  /** Ops per cost kind at each level (index = level), for level-aware costing. */
  readonly byLevel: readonly Readonly<Record<CostKind, number>>[];
}

const ZERO: Record<CostKind, number> = { rotate: 0, relin: 0, mulCt: 0, mulPt: 0, rescale: 0, modswitch: 0, add: 0 };

/** Counts of two circuits on one parameter set (a body's segments) added up; byLevel stays the first's, so cost each circuit's own counts. */
export function addCounts(a: OpCounts, b: OpCounts): OpCounts {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(a) as (keyof OpCounts)[]) {
    const x = a[k];
    const y = b[k];
    if (k === 'topLevel') out[k] = x; // the same for every segment
    else if (typeof x === 'number' && typeof y === 'number') out[k] = x + y;
    else if (k === 'rotationSteps') out[k] = [...new Set([...(x as number[]), ...(y as number[])])].sort((p, q) => p - q);
    else out[k] = x; // byLevel: per circuit, not added
  }
  return out as unknown as OpCounts;
}

/** Ops are costed at the level of their operands (a rescale works on the level it drops from). */
export function costedLevel(op: Op): Level {
  return op.op === 'rescale' || op.op === 'modswitch' ? op.level + 1 : op.level;
}

export function countOps(circuit: Circuit): OpCounts {
  const byLevel = Array.from({ length: circuit.topLevel + 1 }, () => ({ ...ZERO }));
  let inputs = 0;
  let outputs = 0;
  for (const op of circuit.ops) {
    const level = costedLevel(op);
    const cost = opInfo(op).cost;
    if (cost !== null) byLevel[level]![cost]++;
    else if (op.op === 'input') inputs++;
    else outputs++;
  }
  const total = (k: CostKind): number => byLevel.reduce((s, c) => s + c[k], 0);
  let ctPtAdd = 0;
  for (const op of circuit.ops) if (opInfo(op).cost === 'add' && opInfo(op).plaintext !== null) ctPtAdd++;
  return {
    rotations: total('rotate'),
    ctCtMul: total('mulCt'),
    ctPtMul: total('mulPt'),
    ctCtAdd: total('add') - ctPtAdd,
    ctPtAdd,
    rescales: total('rescale'),
    relins: total('relin'),
    modswitches: total('modswitch'),
    inputs,
    outputs,
    constants: circuit.constants.length,
    rotationSteps: circuit.rotationSteps,
    depth: circuit.depth,
    topLevel: circuit.topLevel,
    byLevel,
  };
}

/** Per-op costs in µs at one N, measured on ciphertexts holding `dataPrimes` primes. */
export interface OpCosts {
  readonly dataPrimes: number;
  readonly micros: Readonly<Record<CostKind, number>>;
  /** Client side, per ciphertext. */
  readonly encodeMicros: number;
  readonly encryptMicros: number;
  readonly decryptMicros: number;
}

/**
 * node-seal 7 / SEAL 4.1.2 on an M1 Pro, Node 22, single-threaded WASM (node-seal BENCHMARK.md,
 * via the project notes §2c.6), at SEAL's default 128-bit chains (4 / 8 / 15 data primes).
 * Modswitch is not in the table: it drops a prime of an NTT-form ciphertext, about an addition.
 * Decrypt is not either: one ct×pt-sized product plus an inverse NTT, taken as MulPt + Rescale.
 * To be replaced by costs measured on the running machine.
 */
export const DEFAULT_COSTS: Readonly<Record<number, OpCosts>> = {
  8192: {
    dataPrimes: 4,
    micros: { rotate: 4339, relin: 4299, mulCt: 1000, mulPt: 489, rescale: 948, modswitch: 41, add: 41 },
    encodeMicros: 675,
    encryptMicros: 4289,
    decryptMicros: 489 + 948,
  },
  16384: {
    dataPrimes: 8,
    micros: { rotate: 26477, relin: 26273, mulCt: 3953, mulPt: 1951, rescale: 3987, modswitch: 166, add: 166 },
    encodeMicros: 2528,
    encryptMicros: 14798,
    decryptMicros: 1951 + 3987,
  },
  32768: {
    dataPrimes: 15,
    micros: { rotate: 165065, relin: 163685, mulCt: 14905, mulPt: 7316, rescale: 15283, modswitch: 758, add: 758 },
    encodeMicros: 9578,
    encryptMicros: 57970,
    decryptMicros: 7316 + 15283,
  },
};

export interface LatencyEstimate {
  /** Server-side evaluation of one circuit run. */
  readonly serverMs: number;
  /** Client side: encoding and encrypting the inputs, decrypting the outputs. */
  readonly clientMs: number;
  readonly totalMs: number;
  readonly byKindMs: Readonly<Record<CostKind, number>>;
}

const KEY_SWITCHING: ReadonlySet<CostKind> = new Set(['rotate', 'relin']);

/**
 * Latency of one evaluation at ring degree `n`. Element-wise costs scale with the primes a
 * ciphertext holds (ℓ + 1 at level ℓ); key switching roughly with (ℓ + 1)(ℓ + 2) (one digit per
 * prime, each over the primes plus the special one). An N without a table entry borrows the
 * nearest one, scaled linearly in N.
 */
export function estimateLatency(counts: OpCounts, n: number, costs: OpCosts = costsFor(n)): LatencyEstimate {
  const byKindMs = { ...ZERO };
  counts.byLevel.forEach((atLevel, level) => {
    for (const kind of Object.keys(ZERO) as CostKind[]) byKindMs[kind] += (atLevel[kind] * costs.micros[kind] * levelFactor(kind, level, costs)) / 1000;
  });
  const serverMs = Object.values(byKindMs).reduce((s, x) => s + x, 0);
  const top = (counts.topLevel + 1) / costs.dataPrimes;
  const clientMs = (counts.inputs * (costs.encodeMicros + costs.encryptMicros) * top + counts.outputs * costs.decryptMicros) / 1000;
  return { serverMs, clientMs, totalMs: serverMs + clientMs, byKindMs };
}

/** What an op of `kind` at `level` costs next to one at the level `costs` were measured at. */
function levelFactor(kind: CostKind, level: Level, costs: OpCosts): number {
  const k = costs.dataPrimes;
  const primes = level + 1;
  return KEY_SWITCHING.has(kind) ? (primes * (primes + 1)) / (k * (k + 1)) : primes / k;
}

/** One op of `kind` on operands at `level` (rescale and modswitch: the level they drop from), in µs. */
export function costMicros(kind: CostKind, level: Level, costs: OpCosts): number {
  return costs.micros[kind] * levelFactor(kind, level, costs);
}

export function costsFor(n: number): OpCosts {
  const exact = DEFAULT_COSTS[n];
  if (exact) return exact;
  const known = Object.keys(DEFAULT_COSTS).map(Number);
  const nearest = known.reduce((best, m) => (Math.abs(Math.log2(m / n)) < Math.abs(Math.log2(best / n)) ? m : best));
  const base = DEFAULT_COSTS[nearest]!;
  const r = n / nearest;
  const micros = { ...base.micros };
  for (const kind of Object.keys(micros) as CostKind[]) micros[kind] *= r;
  return {
    dataPrimes: base.dataPrimes,
    micros,
    encodeMicros: base.encodeMicros * r,
    encryptMicros: base.encryptMicros * r,
    decryptMicros: base.decryptMicros * r,
  };
}
