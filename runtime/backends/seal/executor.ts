import type { Ciphertext, GaloisKeys, Plaintext, RelinKeys } from 'node-seal';
import type { Circuit, Op } from '../../../compiler/circuit/ir';
import { lastUses, operandsOf } from '../../../compiler/circuit/ir';
import { DeepPowersError, fail } from '../../../compiler/errors';
import { freeAll, type SealCkksContext } from './context';
import type { SealEvaluationKeys } from './keys';
import type { PlaintextCache } from './plaintext-cache';
import { sealErrorMessage } from './seal-module';

/** SEAL computes scales in doubles; the IR mirrors that arithmetic, so they agree to rounding. */
const SCALE_TOLERANCE = 1e-9;

export interface ExecuteOptions {
  /**
   * Called with every value right after it is computed (before it may be freed), e.g. to decrypt
   * intermediates and compare them with simulation when debugging a circuit. The ciphertext is
   * only valid during the call.
   */
  readonly observe?: (index: number, op: Op, value: Ciphertext) => void;
  /** Run only this thread's part of a split evaluation (see CircuitPart). */
  readonly part?: CircuitPart;
}

/**
 * One thread's share of an evaluation split over threads (compiler/circuit/parallel-time.ts):
 * the ops it runs, in the plan's order, with the values other threads compute received when
 * first read and the values it computes handed on as soon as they exist. Inputs it does not
 * read may be missing; the outputs it returns are only those whose output op it runs.
 */
export interface CircuitPart {
  /** Every op of the circuit once, operands before readers: the order this thread runs its ops in. */
  readonly order: Int32Array;
  /** Whether this thread runs op i (for an input: reads it). */
  runs(i: number): boolean;
  /** Op v's value from the thread that computed it (waits for it); the executor owns it. */
  receive(v: number): Ciphertext;
  /** Called with each value this thread computed, while it is valid: sends it to the threads that read it. */
  computed(i: number, value: Ciphertext): void;
}

/**
 * Run the circuit on the input ciphertexts with evaluation keys only. Inputs stay owned by the
 * caller; the returned outputs (one per `circuit.outputs` entry) are owned by the caller too.
 * Every intermediate is deleted as soon as the last op reading it has run, so peak memory is
 * the live set of the schedule, not the whole circuit.
 */
export function executeCircuit(
  ctx: SealCkksContext,
  circuit: Circuit,
  inputs: readonly (Ciphertext | undefined)[],
  keys: SealEvaluationKeys,
  cache: PlaintextCache,
  options: ExecuteOptions = {},
): Ciphertext[] {
  if (inputs.length !== circuit.inputs.length) {
    fail('BAD_CIPHERTEXT', `the model takes ${circuit.inputs.length} input ciphertexts, got ${inputs.length}`);
  }
  const ops = circuit.ops;
  const part = options.part;
  const order = part?.order ?? Int32Array.from(ops.keys());
  const runs = (i: number): boolean => !part || part.runs(i);
  const lastUse = part ? lastLocalUses(ops, order, runs) : lastUses(ops);

  const values: (Ciphertext | undefined)[] = new Array(ops.length);
  // Input ciphertexts belong to the caller: never freed or modified in place here.
  const borrowed = new Set<number>();
  const outputs: (Ciphertext | undefined)[] = new Array(circuit.outputs.length);
  const { seal, evaluator } = ctx;

  /** The operand's ciphertext, reusable in place when this op is its last reader and we own it. */
  const take = (v: number, at: number): { ct: Ciphertext; reusable: boolean } => {
    const ct = values[v];
    if (!ct) {
      if (part && !part.runs(v)) {
        const received = part.receive(v);
        values[v] = received;
        check(v, ops[v]!, received);
        return { ct: received, reusable: lastUse[v] === at };
      }
      fail('BAD_ARTIFACT', `op ${at} reads value ${v}, which is not defined or already freed`);
    }
    return { ct, reusable: lastUse[v] === at && !borrowed.has(v) };
  };

  try {
    for (const i of order) {
      if (!runs(i)) continue;
      const op = ops[i]!;
      let result: Ciphertext;
      try {
        result = runOp(i, op);
      } catch (e) {
        if (e instanceof DeepPowersError) throw e;
        fail('BAD_CIPHERTEXT', `op ${i} (${op.op}) failed in SEAL: ${sealErrorMessage(seal, e)}`);
      }
      if (op.op !== 'output') {
        values[i] = result;
        check(i, op, result);
        options.observe?.(i, op, result);
        if (op.op !== 'input') part?.computed(i, result);
      }
      // Operands whose last reader was this op are freed, unless they are the caller's inputs or
      // were handed on as this op's result (in-place ops, outputs that took their value).
      for (const v of operandsOf(op)) {
        if (lastUse[v] !== i) continue;
        const ct = values[v];
        values[v] = undefined;
        if (ct && ct !== result && !borrowed.has(v)) ct.delete();
      }
    }
    // A part returns only the outputs its own output ops wrote (the others are left empty).
    const missing = part ? -1 : outputs.findIndex((o) => !o);
    if (missing >= 0) fail('BAD_ARTIFACT', `the circuit never produces output ${missing}`);
    return outputs as Ciphertext[];
  } catch (e) {
    values.forEach((ct, v) => {
      if (!borrowed.has(v)) freeAll(ct);
    });
    freeAll(...outputs);
    throw e;
  }

  function runOp(i: number, op: Op): Ciphertext {
    switch (op.op) {
      case 'input': {
        const ct = inputs[op.input];
        if (!ct) fail('BAD_ARTIFACT', `op ${i} reads input ${op.input}, but only ${inputs.length} were given`);
        borrowed.add(i);
        return ct;
      }
      case 'output': {
        const { ct, reusable } = take(op.a, i);
        if (outputs[op.output]) fail('BAD_ARTIFACT', `output ${op.output} is written twice (op ${i})`);
        outputs[op.output] = reusable ? ct : ct.copy();
        return outputs[op.output]!;
      }
      case 'add':
      case 'sub':
      case 'mul': {
        const a = take(op.a, i);
        const b = take(op.b, i);
        if (op.a !== op.b && a.reusable) {
          if (op.op === 'add') evaluator.addInplace(a.ct, b.ct);
          else if (op.op === 'sub') evaluator.subInplace(a.ct, b.ct);
          else evaluator.multiplyInplace(a.ct, b.ct);
          return a.ct;
        }
        const out = new seal.Ciphertext();
        return guarded(out, () => {
          if (op.op === 'add') evaluator.add(a.ct, b.ct, out);
          else if (op.op === 'sub') evaluator.sub(a.ct, b.ct, out);
          else if (op.a === op.b) evaluator.square(a.ct, out);
          else evaluator.multiply(a.ct, b.ct, out);
        });
      }
      case 'neg':
        return unary(i, op.a, (x) => evaluator.negateInplace(x), (x, out) => evaluator.negate(x, out));
      case 'relin': {
        const rk = relinKeys(keys.relin, i);
        return unary(i, op.a, (x) => evaluator.relinearizeInplace(x, rk), (x, out) => evaluator.relinearize(x, rk, out));
      }
      case 'rescale':
        return unary(i, op.a, (x) => evaluator.rescaleToNextInplace(x), (x, out) => evaluator.rescaleToNext(x, out));
      case 'modswitch': {
        const target = ctx.parmsIdAt(op.level);
        return unary(i, op.a, (x) => evaluator.cipherModSwitchToInplace(x, target), (x, out) => evaluator.cipherModSwitchTo(x, target, out));
      }
      case 'rotate': {
        const gk = galoisKeys(keys.galois, i);
        return unary(i, op.a, (x) => evaluator.rotateVectorInplace(x, op.k, gk), (x, out) => evaluator.rotateVector(x, op.k, gk, out));
      }
      case 'mulPlain':
      case 'addPlain':
      case 'mulScalar':
      case 'addScalar': {
        const level = ops[op.a]!.level;
        const run = (pt: Plaintext): Ciphertext => {
          if (pt.isZero()) {
            // SEAL refuses to produce a transparent (all-zero) ciphertext, and it would tell nothing anyway.
            fail('BAD_ARTIFACT', `op ${i} (${op.op}) uses a constant that encodes to all zeros at scale 2^${Math.log2(op.encodeScale).toFixed(1)}; the compiler must drop it`);
          }
          const multiply = op.op === 'mulPlain' || op.op === 'mulScalar';
          return unary(
            i,
            op.a,
            (x) => (multiply ? evaluator.multiplyPlainInplace(x, pt) : evaluator.addPlainInplace(x, pt)),
            (x, out) => (multiply ? evaluator.multiplyPlain(x, pt, out) : evaluator.addPlain(x, pt, out)),
          );
        };
        if ('c' in op) {
          const values = circuit.constants[op.c];
          if (!values) fail('BAD_ARTIFACT', `op ${i} reads constant ${op.c}, which is not in the constant table`);
          return run(cache.constant(op.c, values, circuit.samplesPerCiphertext, level, op.encodeScale));
        }
        return cache.withScalar(op.value, level, op.encodeScale, run);
      }
    }
  }

  function unary(i: number, v: number, inPlace: (x: Ciphertext) => void, copying: (x: Ciphertext, out: Ciphertext) => void): Ciphertext {
    const a = take(v, i);
    if (a.reusable) {
      inPlace(a.ct);
      return a.ct;
    }
    const out = new seal.Ciphertext();
    return guarded(out, () => copying(a.ct, out));
  }

  /** Each op's result must be exactly what the compiler planned: level, polynomial count, scale. */
  function check(i: number, op: Op, ct: Ciphertext): void {
    const level = ct.coeffModulusSize() - 1;
    if (level !== op.level) fail('BAD_CIPHERTEXT', `op ${i} (${op.op}) is at level ${level} in SEAL, the circuit planned ${op.level}`);
    if (ct.size() !== op.size) fail('BAD_CIPHERTEXT', `op ${i} (${op.op}) has ${ct.size()} polynomials in SEAL, the circuit planned ${op.size}`);
    const scale = ct.scale();
    if (Math.abs(scale - op.scale) > SCALE_TOLERANCE * op.scale) {
      fail('BAD_CIPHERTEXT', `op ${i} (${op.op}) has scale 2^${Math.log2(scale).toFixed(6)} in SEAL, the circuit planned 2^${Math.log2(op.scale).toFixed(6)}`);
    }
  }
}

/** lastUses (ir.ts) for one thread's part: the last op in `order` that this thread runs and that reads each value. */
function lastLocalUses(ops: readonly Op[], order: Int32Array, runs: (i: number) => boolean): Int32Array {
  const last = new Int32Array(ops.length).fill(-1);
  for (const i of order) if (runs(i)) for (const v of operandsOf(ops[i]!)) last[v] = i;
  return last;
}

function guarded(out: Ciphertext, run: () => void): Ciphertext {
  try {
    run();
    return out;
  } catch (e) {
    out.delete();
    throw e;
  }
}

function relinKeys(rk: RelinKeys | null, i: number): RelinKeys {
  return rk ?? fail('BAD_CIPHERTEXT', `op ${i} relinearizes, but no relinearization key was loaded`);
}

function galoisKeys(gk: GaloisKeys | null, i: number): GaloisKeys {
  return gk ?? fail('BAD_CIPHERTEXT', `op ${i} rotates, but no Galois keys were loaded`);
}
