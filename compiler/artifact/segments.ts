import type { Circuit } from '../circuit/ir';
import type { CompiledModelContent } from './types';

/**
 * The circuits of a compiled body, in the order they run: one, or with client-aided refresh
 * (compile --refresh auto) the first segment and every one after it. Each reads what the one
 * before it wrote, after the client step (compiler/client-steps/).
 */
export function bodyCircuits(m: Pick<CompiledModelContent, 'circuit' | 'refresh'>): Circuit[] {
  return [m.circuit, ...(m.refresh?.segments.map((s) => s.circuit) ?? [])];
}

/** The circuit whose outputs the client decrypts as the body output. */
export function lastCircuit(m: Pick<CompiledModelContent, 'circuit' | 'refresh'>): Circuit {
  const all = bodyCircuits(m);
  return all[all.length - 1]!;
}

/** Client steps between segments: 0 for a body that runs as one circuit. */
export function clientStepCount(m: Pick<CompiledModelContent, 'refresh'>): number {
  return m.refresh?.segments.length ?? 0;
}
