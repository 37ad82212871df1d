import { describe, expect, it } from 'vitest';
import type { Circuit } from '../../compiler/circuit/ir';
import { lowerChain } from '../../compiler/circuit/lower';
import { canonicalTopScale, checkCircuit } from '../../compiler/circuit/passes-check';
import { assignScales } from '../../compiler/circuit/passes-scales';
import type { AffineStage, ApproxStage, PolyStage } from '../../compiler/chain/stages';
import { nttPrimes } from '../../compiler/params/primes';
import { DeepPowersError } from '../../compiler/errors';
import { lcg } from '../helpers/random';
import { affineStage } from '../helpers/stages';

/** SEAL's util::are_close, written out from its definition. */
function areClose(a: number, b: number): boolean {
  return Math.abs(a - b) < Number.EPSILON * Math.max(Number.MIN_VALUE, Math.abs(a), Math.abs(b));
}

/**
 * The canonical scale of each level from SEAL's arithmetic, by hand: a product of two values at
 * scale S_ℓ has scale S_ℓ·S_ℓ, and the rescale divides by the prime it drops (primes[0] is dropped
 * from the top level), so S_{ℓ−1} = S_ℓ·S_ℓ / q_ℓ.
 */
function canonicalByHand(top: number, primes: readonly number[], topLevel: number): number[] {
  const s: number[] = [];
  s[topLevel] = top;
  for (let level = topLevel; level >= 1; level--) s[level - 1] = (s[level]! * s[level]!) / primes[topLevel - level]!;
  return s;
}

function affine(rows: number, cols: number, r: () => number): AffineStage {
  return affineStage(rows, cols, () => (2 * r() - 1) / cols, () => 0.1 * r());
}

function poly(size: number, degree: number, r: () => number): PolyStage {
  const chebyshev = Float64Array.from({ length: degree + 1 }, () => (2 * r() - 1) / (degree + 1));
  return { kind: 'poly', sources: ['act'], fn: 'sigmoid', size, range: [-1, 1], method: 'chebyshev', chebyshev, degree, maxError: 0 };
}

function chain(seed: number): ApproxStage[] {
  const r = lcg(seed);
  return [affine(6, 9, r), poly(6, 1 + Math.floor(r() * 7), r), affine(5, 6, r), poly(5, 1 + Math.floor(r() * 4), r), affine(2, 5, r)];
}

/** `count` distinct random primes ≡ 1 mod 2N just below 2^bits, in random order. */
function randomPrimes(bits: number, count: number, slots: number, r: () => number): number[] {
  const pool = nttPrimes(2 * slots, bits, count + 8).map(Number);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/**
 * The exact-scale invariants, checked independently of checkCircuit: SEAL's equal-scale rule on
 * every addition and every rescale landing on its target's canonical scale (within SEAL's
 * tolerance). Returns how many landings are bit-exact, of how many.
 */
function expectInvariants(c: Circuit): [number, number] {
  let exact = 0;
  let landings = 0;
  const primes = c.primes!;
  const S = canonicalByHand(canonicalTopScale(c, c.ops[0]!.scale), primes, c.topLevel);
  for (const op of c.ops) {
    if (op.op === 'add' || op.op === 'sub') {
      const a = c.ops[op.a]!;
      const b = c.ops[op.b]!;
      expect(a.level).toBe(b.level);
      expect(areClose(a.scale, b.scale)).toBe(true);
    }
    if (op.op === 'mul') expect(c.ops[op.a]!.level).toBe(c.ops[op.b]!.level);
    if (op.op === 'addPlain' || op.op === 'addScalar') expect(op.encodeScale).toBe(c.ops[op.a]!.scale);
    if (op.op === 'rescale') {
      expect(areClose(op.scale, S[op.target]!)).toBe(true);
      landings++;
      if (op.scale === S[op.target]) exact++;
    }
    // Stage boundaries and outputs sit at the canonical scale of their level.
    if (op.op === 'output') expect(areClose(op.scale, S[op.level]!)).toBe(true);
  }
  // The canonical scales stay half a bit under the primes instead of drifting down the chain.
  for (const s of S) expect(Math.abs(Math.log2(s) - Math.round(Math.log2(primes[0]!)))).toBeLessThan(0.01);
  return [exact, landings];
}

describe('assignScales', () => {
  for (const [bits, label] of [[40, '2^40'], [30, '2^30']] as const) {
    it(`holds the invariants for random chains and random prime chains near ${label}`, () => {
      for (let seed = 1; seed <= 6; seed++) {
        const r = lcg(1000 * bits + seed);
        for (const layout of ['vector', 'batch'] as const) {
          const lowered = lowerChain(chain(seed), { layout, slots: 16 });
          const circuit = assignScales(lowered, randomPrimes(bits, lowered.depth, 16, r));
          checkCircuit(circuit);
          expectInvariants(circuit);
        }
      }
    });
  }

  it('stays bit-exact over many prime chains at N = 8192, where 30-bit primes sit farthest from 2^30', () => {
    const lowered = lowerChain(chain(7), { layout: 'batch', slots: 16 });
    const pool = nttPrimes(8192, 30, 40).map(Number);
    let exact = 0;
    let landings = 0;
    for (let start = 0; start + lowered.depth <= pool.length; start++) {
      const [e, l] = expectInvariants(assignScales(lowered, pool.slice(start, start + lowered.depth)));
      exact += e;
      landings += l;
    }
    expect(exact).toBe(landings);
  });

  it('lands every rescale exactly (bit for bit) on the canonical scale', () => {
    const lowered = lowerChain(chain(3), { layout: 'batch', slots: 8 });
    const circuit = assignScales(lowered, nttPrimes(16, 40, lowered.depth).map(Number));
    const S = canonicalByHand(canonicalTopScale(circuit, circuit.ops[0]!.scale), circuit.primes!, circuit.topLevel);
    for (const op of circuit.ops) if (op.op === 'rescale') expect(op.scale).toBe(S[op.target]);
  });

  it('spare primes raise every level; too few primes are refused', () => {
    const lowered = lowerChain(chain(2), { layout: 'vector', slots: 16 });
    const primes = nttPrimes(32, 40, lowered.depth + 2).map(Number);
    const circuit = assignScales(lowered, primes);
    expect(circuit.topLevel).toBe(lowered.depth + 2);
    expect(circuit.depth).toBe(lowered.depth);
    expect(Math.min(...circuit.ops.map((o) => o.level))).toBe(2);
    expect(() => assignScales(lowered, primes.slice(0, lowered.depth - 1))).toThrow(DeepPowersError);
  });

  it('a lowered circuit without scales still passes the level checks', () => {
    const lowered = lowerChain(chain(4), { layout: 'vector', slots: 16 });
    expect(lowered.primes).toBeNull();
    checkCircuit(lowered);
  });
});
