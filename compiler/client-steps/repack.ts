import type { Circuit } from '../circuit/ir';
import { packSamples, samplesPerEvaluation, unpackOutputs } from '../circuit/packing';
import { fail } from '../errors';

/**
 * One evaluation's slot vectors at the end of `from` → per sample `each` of its outputs → packed
 * as `to`'s inputs. Both sides work on whole evaluations (all N/2 samples of a batch-layout
 * evaluation, one in vector layout), so they pack the same slots without the server knowing how
 * many rows the client filled: an empty slot carries the mask alone and comes back to 0.
 */
export function repackSlots(from: Circuit, to: Circuit, slotVectors: readonly Float64Array[], each: (row: Float64Array) => Float64Array = (row) => row): Float64Array[] {
  const rows = unpackOutputs(from, slotVectors, samplesPerEvaluation(from)).map(each);
  const groups = packSamples(to, rows);
  if (groups.length !== 1) fail('BAD_ARTIFACT', 'a client step repacks one evaluation at a time');
  return groups[0]!.inputs;
}
