/**
 * `report --fhe`: the compiled model run encrypted on the report's rows (node-seal CKKS, client
 * and server exchanging envelopes), with what it cost and how far it lands from the simulation
 * of the same circuit (the CKKS noise, since the circuit is the same) and from the reference.
 */
import type { CountedProgress } from '../run/counted-progress';
import type { CompiledModel } from '../../compiler/artifact/types';
import type { RowBatch } from '../data/load-rows';
import type { RowOutputs } from '../run/outputs';
import type { FheBackend } from '../backends/backend';
import { predictEncrypted } from '../run/predict-encrypted';
import { type EncryptedRunSizes, type EncryptedRunTimings } from '../run/run-encrypted';
import { compareRuns, type Accuracy } from './accuracy';
import { measuredRelativeError, type PrecisionPromise } from '../../compiler/approx/precision-target';

export interface FheReport {
  readonly layout: string;
  readonly evaluations: number;
  readonly samplesPerEvaluation: number;
  /** Totals over the rows, and the per-evaluation ones left out (they are in `predict --mode fhe --json`). */
  readonly timings: Omit<EncryptedRunTimings, 'per_evaluation'> & {
    /** Mean per evaluation (per row in vector layout). */
    readonly perEvaluation: { readonly encrypt_ms: number; readonly evaluate_ms: number; readonly decrypt_ms: number };
  };
  readonly sizes: EncryptedRunSizes;
  /** The compiler's estimate for one evaluation on the server (from the manifest's cost model; every segment of a refreshed body). */
  readonly predictedServerMs: number;
  /** A refreshed body: client steps per evaluation and their mean measured cost (mask, client decrypt and encrypt, unmask) and bytes. */
  /** Steps per evaluation, their ms and bytes per evaluation, and the round trips of the whole run (one per step and request). */
  readonly clientSteps: { readonly perEvaluation: number; readonly ms: number; readonly bytes: number; readonly roundTrips: number } | null;
  /** Encrypted against simulated: body maxAbsDelta is the CKKS error; label agreement is the FHE agreement. */
  readonly vsSimulate: Accuracy;
  /** Encrypted against the float64 reference (and against labels when given). */
  readonly vsReference: Accuracy;
  /** What the compiled model promises on its body outputs' encrypted error. */
  readonly precision: PrecisionPromise;
  /** Largest |encrypted − reference| body output as a share of the calibrated output range. */
  readonly measuredRelativeError: number;
  /**
   * Body outputs (logits, scores) of the plaintext model and of the encrypted run, pair by pair
   * (row-major, at most SCATTER_POINTS): what the HTML report plots one against the other.
   */
  readonly bodyPairs: { readonly plaintext: readonly number[]; readonly encrypted: readonly number[] };
}

/** Pairs kept for the plot: enough to see the spread, few enough for a light page. */
export const SCATTER_POINTS = 2000;

export interface ReportRuns {
  readonly reference: RowOutputs;
  readonly referenceBody: readonly Float64Array[];
  readonly simulated: RowOutputs;
  readonly simulatedBody: readonly Float64Array[];
  readonly labels: readonly (number | string)[] | null;
}

export async function fheSection(model: CompiledModel, batch: RowBatch, runs: ReportRuns, progress?: CountedProgress, backend?: FheBackend, keygenProgress?: CountedProgress): Promise<FheReport> {
  const { run, outputs, encrypted } = await predictEncrypted(model, batch, { ...(progress ? { progress } : {}), ...(keygenProgress ? { keygenProgress } : {}), ...(backend ? { backend } : {}) });
  const { per_evaluation: _each, ...totals } = encrypted.timings;
  const per = (v: number) => v / encrypted.evaluations;
  return {
    layout: encrypted.layout,
    evaluations: encrypted.evaluations,
    samplesPerEvaluation: encrypted.samplesPerEvaluation,
    timings: {
      ...totals,
      perEvaluation: { encrypt_ms: per(totals.encrypt_ms), evaluate_ms: per(totals.evaluate_ms), decrypt_ms: per(totals.decrypt_ms) },
    },
    sizes: encrypted.sizes,
    predictedServerMs: model.cost.latency.serverMs + (model.refresh?.segments.reduce((sum, x) => sum + x.cost.latency.serverMs, 0) ?? 0),
    clientSteps: clientStepsOf(encrypted.timings.per_evaluation),
    vsSimulate: compareRuns(runs.simulated, outputs, runs.simulatedBody, run.bodyOutputs, null),
    vsReference: compareRuns(runs.reference, outputs, runs.referenceBody, run.bodyOutputs, runs.labels),
    precision: model.calibration.precision,
    measuredRelativeError: measuredRelativeError(model.calibration.precision, runs.referenceBody, run.bodyOutputs),
    bodyPairs: bodyPairsOf(runs.referenceBody, run.bodyOutputs),
  };
}

function bodyPairsOf(plaintext: readonly Float64Array[], encrypted: readonly Float64Array[]): FheReport['bodyPairs'] {
  const p: number[] = [];
  const e: number[] = [];
  for (let r = 0; r < Math.min(plaintext.length, encrypted.length) && p.length < SCATTER_POINTS; r++) {
    const a = plaintext[r]!;
    const b = encrypted[r]!;
    for (let k = 0; k < Math.min(a.length, b.length) && p.length < SCATTER_POINTS; k++) {
      p.push(a[k]!);
      e.push(b[k]!);
    }
  }
  return { plaintext: p, encrypted: e };
}

/** Per evaluation: the steps it goes through, their ms and bytes (a request's round trips carry all its evaluations at once). */
function clientStepsOf(each: EncryptedRunTimings['per_evaluation']): FheReport['clientSteps'] {
  const first = each[0];
  if (!first || first.client_steps === undefined) return null;
  const evaluations = each.reduce((sum, e) => sum + e.evaluations, 0);
  const perEvaluation = (f: (e: (typeof each)[number]) => number): number => each.reduce((sum, e) => sum + f(e), 0) / evaluations;
  return { perEvaluation: first.client_steps, ms: perEvaluation((e) => e.client_step_ms ?? 0), bytes: perEvaluation((e) => e.client_step_bytes ?? 0), roundTrips: each.reduce((sum, e) => sum + (e.client_steps ?? 0), 0) };
}
