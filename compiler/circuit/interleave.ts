import { fail } from '../errors';
import { isPowerOfTwo } from './constant-table';
import type { Circuit, Op } from './ir';

/**
 * Many samples per ciphertext in the vector layout. A vector-layout circuit lowered at B slots
 * (its widest replication period) is a valid circuit on any cyclic vector of B slots. Interleaving
 * k = slots / B samples — sample j in slots s·k + j — gives each sample such a virtual vector:
 * a left rotation by r·k over all slots moves slot (s+r)·k + j to s·k + j, i.e. rotates every
 * sample's virtual vector by r, cyclically over B, and never mixes samples. Elementwise ops are
 * per slot anyway, and a plaintext whose value v[s] fills the k slots s·k … s·k + k − 1 acts on
 * every sample as v did on one. So the interleaved circuit is the same ops with rotation steps
 * scaled by k: same rotation count, same depth, same levels and scales, one evaluation for k
 * samples.
 *
 * Contiguous blocks (sample j in slots j·B … j·B + B − 1) would need the opposite: every rotation
 * by r reads r slots into the next sample's block, so each would need masking and a second
 * rotation (or replication aligned to every period the chain passes through) — more rotations and
 * one more level per masked layer. Interleaving needs neither.
 *
 * Galois keys: one per step as before, at steps r·k instead of r, so the key count and key bytes
 * stay the same.
 */
export function interleaveSamples(circuit: Circuit, samplesPerCiphertext: number): Circuit {
  const k = samplesPerCiphertext;
  if (circuit.layout !== 'vector') fail('BAD_ARGUMENT', 'only the vector layout packs several samples per ciphertext');
  if (circuit.samplesPerCiphertext !== 1) fail('BAD_ARGUMENT', 'the circuit is already interleaved');
  if (!Number.isInteger(k) || !isPowerOfTwo(k)) fail('BAD_ARGUMENT', `samples per ciphertext must be a power of two, got ${k}`);
  if (k === 1) return circuit;
  const ops = circuit.ops.map((op): Op => (op.op === 'rotate' ? { ...op, k: op.k * k } : op));
  return {
    ...circuit,
    slots: circuit.slots * k,
    minSlots: circuit.minSlots * k,
    samplesPerCiphertext: k,
    ops,
    rotationSteps: circuit.rotationSteps.map((r) => r * k),
  };
}
