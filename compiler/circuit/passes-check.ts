/**
 * The circuit check every compiled circuit passes (and the artifact loader runs again).
 *
 * Before → after:
 *   %0 = input 0 @L2 2^40   %1 = mulPlain %0, c0 @L2 2^80   %2 = add %1, %0 @L2
 *   BAD_ARTIFACT "circuit op 2 (add): operand scales differ: 2^80 vs 2^40" (SEAL adds equal scales only),
 *   or nothing: a circuit that passes comes back unchanged
 */
import { fail } from '../errors';
import { isPowerOfTwo } from './constant-table';
import { operandsOf, type Circuit, type Op } from './ir';
import { areClose, canonicalScales, deriveMeta, MAX_INPUT_BOOST_BITS, type ValueMeta } from './op-rules';

function bad(why: string): never {
  fail('BAD_ARTIFACT', `circuit: ${why}`);
}

/**
 * Verifies a circuit end to end and throws on the first violation: SSA structure, inputs and
 * outputs, constants, the rotation-step list, and at every op the level, size and scale SEAL
 * would compute, including SEAL's equal-scale rule for additions. Once scales are assigned it also
 * checks the plan's own invariant: every rescale lands on its target level's canonical scale.
 */
export interface CheckOptions {
  /**
   * Where every rescale must land: a compiled segment's on its target level's canonical scale; a
   * client step's mask and unmask circuits (compiler/client-steps/) back on their input's scale.
   */
  readonly rescalesLand?: 'on the canonical scale' | 'on the input scale';
}

export function checkCircuit(c: Circuit, options: CheckOptions = {}): void {
  const keepInputScale = options.rescalesLand === 'on the input scale';
  if (!isPowerOfTwo(c.slots) || c.slots < c.minSlots) bad(`slot count ${c.slots} (needs a power of two ≥ ${c.minSlots})`);
  if (c.topLevel < c.depth) bad(`top level ${c.topLevel} below depth ${c.depth}`);
  if (c.primes !== null && c.primes.length !== c.topLevel) bad(`${c.primes.length} primes for top level ${c.topLevel}`);
  const k = c.samplesPerCiphertext;
  if (!isPowerOfTwo(k) || c.slots % k !== 0 || (c.layout === 'batch' && k !== 1)) bad(`${k} samples per ciphertext in the ${c.layout} layout of ${c.slots} slots`);
  c.constants.forEach((v, id) => {
    if (!isPowerOfTwo(v.length) || c.slots % (v.length * k) !== 0) bad(`constant ${id} has length ${v.length}, not a divisor of ${c.slots / k} (slots per sample)`);
    for (const x of v) if (!Number.isFinite(x)) bad(`constant ${id} holds ${x}`);
  });

  const ctx = { topLevel: c.topLevel, primes: c.primes };
  const metas: ValueMeta[] = [];
  const inputSeen = new Array<boolean>(c.inputs.length).fill(false);
  const outputSeen = new Array<boolean>(c.outputs.length).fill(false);
  const steps = new Set<number>();
  let canonical: number[] | null = null;
  let minLevel = c.topLevel;

  c.ops.forEach((op, i) => {
    for (const a of operandsOf(op)) {
      if (!Number.isInteger(a) || a < 0 || a >= i) bad(`op ${i} (${op.op}) reads value ${a}, not defined before it`);
      if (c.ops[a]!.op === 'output') bad(`op ${i} (${op.op}) reads output op ${a}`);
    }
    checkOperandsOfKind(c, op, i);
    if (op.op === 'input') {
      if (inputSeen[op.input] !== false) bad(`op ${i}: input ${op.input} missing from the input list or read twice`);
      inputSeen[op.input] = true;
    }
    if (op.op === 'output') {
      if (outputSeen[op.output] !== false) bad(`op ${i}: output ${op.output} missing from the output list or written twice`);
      outputSeen[op.output] = true;
      if (op.size !== 2) bad(`op ${i}: output must be relinearised`);
    }
    if (op.op === 'rotate') {
      if (op.k < 1 || op.k >= c.slots) bad(`op ${i}: rotation step ${op.k} outside [1, ${c.slots})`);
      // Interleaved samples stay apart only under rotations by whole multiples of k.
      if (op.k % k !== 0) bad(`op ${i}: rotation step ${op.k} mixes samples (${k} per ciphertext)`);
      steps.add(op.k);
    }
    const derived = deriveMeta(i, op, (id) => metas[id]!, ctx);
    if (derived.level !== op.level) bad(`op ${i} (${op.op}) records level ${op.level}, computes ${derived.level}`);
    if (derived.size !== op.size) bad(`op ${i} (${op.op}) records size ${op.size}, computes ${derived.size}`);
    if (op.level < 0 || op.level > c.topLevel) bad(`op ${i} (${op.op}) at level ${op.level} outside [0, ${c.topLevel}]`);
    minLevel = Math.min(minLevel, op.level);
    if (c.primes !== null) {
      if (!(op.scale > 0) || !areClose(derived.scale, op.scale)) {
        bad(`op ${i} (${op.op}) records scale 2^${Math.log2(op.scale)}, computes 2^${Math.log2(derived.scale)}`);
      }
      if (op.op === 'input') canonical ??= keepInputScale ? new Array<number>(c.topLevel + 1).fill(op.scale) : canonicalScales(canonicalTopScale(c, op.scale), c.primes, c.topLevel);
      if (op.op === 'rescale') {
        const want = canonical![op.target]!;
        if (!areClose(derived.scale, want)) {
          bad(`op ${i} (rescale) lands on 2^${Math.log2(derived.scale)}, not ${keepInputScale ? 'the input scale' : 'the canonical'} 2^${Math.log2(want)}${keepInputScale ? '' : ` of level ${op.target}`}`);
        }
      }
    }
    metas.push(derived);
  });

  if (inputSeen.some((s) => !s)) bad('an input in the input list is never read');
  if (outputSeen.some((s) => !s)) bad('an output in the output list is never written');
  const listed = [...c.rotationSteps];
  const used = [...steps].sort((a, b) => a - b);
  if (listed.length !== used.length || listed.some((s, k) => s !== used[k])) {
    bad(`rotation steps listed [${listed.join(', ')}] differ from those used [${used.join(', ')}]`);
  }
  if (c.topLevel - minLevel > c.depth) bad(`values reach level ${minLevel}, deeper than the declared depth ${c.depth}`);
}

function checkOperandsOfKind(c: Circuit, op: Op, i: number): void {
  if (op.op === 'mulPlain' || op.op === 'addPlain') {
    if (!Number.isInteger(op.c) || op.c < 0 || op.c >= c.constants.length) bad(`op ${i} (${op.op}) uses missing constant ${op.c}`);
  }
  if ((op.op === 'mulScalar' || op.op === 'addScalar') && !Number.isFinite(op.value)) bad(`op ${i} (${op.op}) scalar ${op.value}`);
  if (op.op === 'rescale' && (op.target < 0 || !Number.isInteger(op.target))) bad(`op ${i} (rescale) target level ${op.target}`);
}

/**
 * The canonical scale of the top level. Fresh inputs carry it, or (see assignScales) it times
 * 2^b when the inputs only feed plaintext multiplies; b is the smallest boost under which every
 * rescale lands on its target's canonical scale. Dividing by a power of two is exact, so this
 * recovers bit for bit the top scale the compiler used. With no such b, the input's own scale is
 * returned and the landing check reports the first miss.
 */
export function canonicalTopScale(c: Circuit, inputScale: number): number {
  const primes = c.primes;
  if (primes === null) return inputScale;
  const rescales = c.ops.filter((op): op is Extract<Op, { op: 'rescale' }> => op.op === 'rescale');
  for (let b = 0; b <= MAX_INPUT_BOOST_BITS; b++) {
    const top = inputScale / 2 ** b;
    const canonical = canonicalScales(top, primes, c.topLevel);
    if (rescales.every((op) => areClose(op.scale, canonical[op.target]!))) return top;
  }
  return inputScale;
}
