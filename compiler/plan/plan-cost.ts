/**
 * The predicted end-to-end latency of one prediction under a whole plan: every segment's server
 * evaluation and client encryption and decryption (their op counts at the plan's N, rotations by
 * powers of two counted as the key switches they are), plus for each client step between two
 * segments one network round trip and its bytes (masked ciphertexts down, fresh seeded ones up)
 * at an assumed bandwidth. The planner compares whole plans by this number (choose-plan.ts).
 */
import type { Circuit } from '../circuit/ir';
import type { ClientStep } from '../client-steps/kind';
import { stepKind } from '../client-steps/table';
import { ciphertextBytes } from '../params/sizes';
import type { CkksParameters } from '../params/types';
import type { LayoutBuild } from './build-layout';

export interface NetworkAssumptions {
  /** One client step's round trip, in ms (`compile --rtt-ms`). */
  readonly rttMs: number;
  /** Bytes per second either way. */
  readonly bytesPerSecond: number;
}

/** A LAN: 1 ms round trip (`compile --rtt-ms` for another network). */
export const DEFAULT_RTT_MS = 1;
/** 1 Gbit/s. */
export const DEFAULT_BYTES_PER_SECOND = 125e6;

export const DEFAULT_NETWORK: NetworkAssumptions = { rttMs: DEFAULT_RTT_MS, bytesPerSecond: DEFAULT_BYTES_PER_SECOND };

export interface PlanLatency {
  /** Every segment's server evaluation. */
  readonly serverMs: number;
  /** Every segment's client encryption of its inputs and decryption of its outputs. */
  readonly clientMs: number;
  /** Client steps between segments. */
  readonly steps: number;
  /** Their round trips and transfers. */
  readonly networkMs: number;
  /** Bytes the client steps move, both ways together. */
  readonly stepBytes: number;
  readonly totalMs: number;
}

/** Bytes of one client step: `from`'s results masked (down), `to`'s inputs fresh and seeded (up). */
export function clientStepBytes(params: CkksParameters, from: Circuit, to: Circuit, step: ClientStep): number {
  const down = from.ops.reduce((sum, op) => (op.op === 'output' ? sum + ciphertextBytes(params, op.level - stepKind(step.kind).maskLevels) : sum), 0);
  const up = to.inputs.length * ciphertextBytes(params, to.topLevel, { seeded: true });
  return down + up;
}

export function planLatency(params: CkksParameters, segments: readonly LayoutBuild[], steps: readonly ClientStep[], network: NetworkAssumptions): PlanLatency {
  if (steps.length !== segments.length - 1) throw new Error(`${segments.length} segments need ${segments.length - 1} client steps, got ${steps.length}`);
  const serverMs = segments.reduce((s, b) => s + b.latency.serverMs, 0);
  const clientMs = segments.reduce((s, b) => s + b.latency.clientMs, 0);
  const stepBytes = steps.reduce((s, step, i) => s + clientStepBytes(params, segments[i]!.circuit, segments[i + 1]!.circuit, step), 0);
  const networkMs = steps.length * network.rttMs + (1000 * stepBytes) / network.bytesPerSecond;
  return { serverMs, clientMs, steps: steps.length, networkMs, stepBytes, totalMs: serverMs + clientMs + networkMs };
}
