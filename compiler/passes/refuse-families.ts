/**
 * Model families refused before tracing, each with its own one-line reason (the NOT_ENCRYPTABLE
 * error), so that compile and inspect say what the model is rather than which node the tracer
 * stopped at.
 *
 * Before → after:
 *   any graph → the same graph unchanged, or NOT_ENCRYPTABLE with the first family's reason
 *   (refuse-neighbours: a TopK over distances; refuse-attention: a MatMul of two input-derived tensors)
 */
import type { Graph } from '../graph/graph';
import { refuseAttention } from './refuse-attention';
import { refuseNearestNeighbours } from './refuse-neighbours';

export function refuseKnownFamilies(graph: Graph): void {
  refuseNearestNeighbours(graph);
  refuseAttention(graph);
}
