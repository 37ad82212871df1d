/**
 * Noise flooding of released results (`deeppowers serve --flood-bits s`): before a result leaves
 * the server, every slot of every result ciphertext gets fresh noise uniform in ±2^s·ε, ε the
 * model's bound on its CKKS evaluation noise (the compile's precision promise). The decrypted
 * outputs' low bits then carry the flood instead of the evaluation noise, which depends on the
 * model's weights and the circuit (circuit privacy); per slot the evaluation noise is hidden
 * within about 2^-s statistical distance. What it costs: up to 2^s·ε more absolute error on each
 * output. What it does not do: the noise is added in the slot domain, on the real part CKKS
 * decodes; a client holding the secret key can decode the imaginary parts too, where the
 * evaluation noise is not flooded (SEAL's encoder takes real vectors only).
 */
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import type { BackendContext } from '../backends/backend';
import { drawMask } from '../../compiler/client-steps/masks';
import { addCircuit } from '../../compiler/client-steps/step-circuits';

/** The flood's half-width: 2^bits × the model's evaluation-noise bound. */
export function floodWidth(bits: number, noiseBound: number): number {
  if (!(Number.isInteger(bits) && bits >= 0 && bits <= 30)) fail('BAD_ARGUMENT', `--flood-bits must be an integer from 0 to 30, got ${bits}`);
  if (!(noiseBound > 0 && Number.isFinite(noiseBound))) fail('BAD_ARGUMENT', `the model records no CKKS noise bound to flood (${noiseBound})`);
  return 2 ** bits * noiseBound;
}

/** Adds fresh noise uniform in ±width to every slot of each result ciphertext of `circuit` (the body's last). */
export async function floodResults(ctx: BackendContext, circuit: Circuit, parts: readonly Uint8Array[], width: number): Promise<Uint8Array[]> {
  const outputs = circuit.ops.filter((op) => op.op === 'output');
  if (parts.length % outputs.length !== 0) fail('BAD_CIPHERTEXT', `${parts.length} result ciphertexts, not a multiple of the circuit's ${outputs.length} outputs`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < parts.length; i++) {
    const op = outputs.find((o) => o.op === 'output' && o.output === i % outputs.length)!;
    const loaded = ctx.loadCircuit(addCircuit(circuit, { level: op.level, scale: op.scale }, drawMask(circuit.slots, 0, width)));
    try {
      const keys = loaded.loadEvaluationKeys({ relin: null, galois: null });
      try {
        out.push((await loaded.execute([parts[i]!], keys))[0]!);
      } finally {
        keys.dispose();
      }
    } finally {
      loaded.dispose();
    }
  }
  return out;
}
