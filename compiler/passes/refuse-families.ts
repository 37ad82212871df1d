/**
 * Model families refused before tracing, each with its own one-line reason (the NOT_ENCRYPTABLE
 * error), so that compile and inspect say what the model is rather than which node the tracer
 * stopped at.
 *
 * Before → after:
 *   any graph → the same graph unchanged, or NOT_ENCRYPTABLE with the first family's reason
 *   (refuse-neighbours: a TopK over distances)
 * Transformers are not refused here: see attention-facts.ts.
 */
import type { Graph } from '../graph/graph';
import { refuseNearestNeighbours } from './refuse-neighbours';

export function refuseKnownFamilies(graph: Graph): void {
  refuseNearestNeighbours(graph);
}
