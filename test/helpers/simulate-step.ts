import type { StepCircuit } from '../../compiler/client-steps/step-circuits';
import { simulateCircuit } from '../../runtime/backends/simulate';

/** One evaluation's ciphertexts (slot vectors, in the step's order) through a step's circuits in float64, each result at its ciphertext's index. */
export function simulateStep(circuits: readonly StepCircuit[], inputs: readonly Float64Array[]): Float64Array[] {
  const out = new Array<Float64Array>(inputs.length);
  for (const { circuit, ciphertexts } of circuits) {
    const results = simulateCircuit(circuit, ciphertexts.map((k) => inputs[k]!));
    ciphertexts.forEach((k, j) => (out[k] = results[j]!));
  }
  return out;
}
