/**
 * `deeppowers predict` as a library call: a data file through an ONNX model (reference) or a
 * compiled model (simulate, or fhe: encrypted on this machine), one result shape for every mode.
 * runtime/cli/predict.ts parses the command line into this and prints what it returns.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import { importModel } from '../../compiler/onnx/import';
import { applyRangePolicy, DEFAULT_OUT_OF_RANGE, type OutOfRangePolicy, type RowOutOfRange } from '../data/input-range';
import { loadRows } from '../data/load-rows';
import { rowSpecOf } from '../data/row-spec';
import type { KeystoreToken } from '../keys/token-keystore';
import { SOURCE_MODEL_FILE } from '../../compiler/artifact/types';
import { outputsForAllRows, type RowOutputs } from '../run/outputs';
import { predictReference, ROW_CHUNK } from '../run/predict-reference';
import { compiledRowSpec, predictCompiledInChunks, simulateBackend } from '../run/run-compiled';
import { predictFhe, type FhePrediction, type LabelledProgress } from './predict-fhe';
import { readModelBytes } from './read-model';

/** Modes this build can run: reference on ONNX files; simulate and fhe (encrypted, node-seal CKKS) on compiled models. */
export const MODES = ['reference', 'simulate', 'fhe'] as const;
export type Mode = (typeof MODES)[number];

/** The `--json` contract shared by every mode: outputs keyed by ONNX output name, one entry per row. */
export interface PredictResult {
  readonly model: string;
  readonly mode: Mode;
  readonly rows: number;
  readonly outputs: RowOutputs;
  /** fhe mode: what the encrypted run cost (keygen/encrypt/evaluate/decrypt ms, key and ciphertext bytes). */
  readonly layout?: string;
  readonly evaluations?: number;
  readonly threads?: number;
  readonly timings?: FhePrediction['timings'];
  readonly sizes?: FhePrediction['sizes'];
  /** fhe mode: where the secret key came from (a keystore's stored key, derived from its recovery root now, or made for this run). */
  readonly secret_key?: FhePrediction['secret_key'];
  /**
   * simulate and fhe modes: each row with a value outside the calibrated input range, with what
   * --out-of-range did (clamped, refused: its outputs are null, allowed) and the values; empty when none.
   */
  readonly out_of_range?: readonly RowOutOfRange[];
}

export interface PredictOptions {
  readonly keystore?: string;
  /** The PKCS#11 token a token-bound keystore opens through. */
  readonly token?: KeystoreToken;
  /** fhe mode: threads that evaluate (default: the cores). */
  readonly threads?: number;
  /** simulate and fhe modes: what to do with a row outside the calibrated input range (default clamp). */
  readonly outOfRange?: OutOfRangePolicy;
  /** fhe mode: how keygen and the encrypted evaluations report progress (default: not at all). */
  readonly progress?: LabelledProgress;
}

/** ONNX file → reference (the default); compiled directory → simulate (the default). */
export async function predictPath(path: string, dataFile: string, mode: Mode | undefined, options: PredictOptions = {}): Promise<PredictResult> {
  const compiled = isDirectory(path);
  // A keystore holds keys for encrypted runs: naming one asks for one.
  const chosen = mode ?? (options.keystore !== undefined ? 'fhe' : compiled ? 'simulate' : 'reference');
  if (options.keystore !== undefined && chosen !== 'fhe') fail('BAD_ARGUMENT', `--keystore is for encrypted runs (--mode fhe), not --mode ${chosen}`);
  if (compiled && chosen === 'reference') {
    fail('BAD_ARGUMENT', `${path} is a compiled model; --mode reference runs an ONNX file (${join(path, SOURCE_MODEL_FILE)} is its source), --mode simulate runs the circuit`);
  }
  if (!compiled && chosen !== 'reference') {
    fail('BAD_ARGUMENT', `--mode ${chosen} runs a compiled model directory; compile ${path} first: deeppowers compile ${path} --calibration <data>`);
  }
  if (!compiled) {
    // An ONNX file has no calibrated range: the float64 interpreter answers every row as it is.
    if (options.outOfRange !== undefined) fail('BAD_ARGUMENT', `--out-of-range is for compiled models (--mode simulate or fhe); --mode reference runs ${path} in float64 on every row as given`);
    return predictFile(path, dataFile, chosen);
  }
  const model = readCompiledModel(path);
  const given = loadRows(dataFile, compiledRowSpec(model));
  const { input, calibration } = model;
  const calibrated = calibration.input === null ? null : { range: calibration.input, margin: calibration.margin };
  const { batch, kept, outOfRange } = applyRangePolicy({ calibrated, featureNames: input.featureNames, shape: input.shape }, given, options.outOfRange ?? DEFAULT_OUT_OF_RANGE);
  const names = model.outputs.map((o) => o.name);
  const all = (outputs: RowOutputs) => outputsForAllRows(outputs, names, kept, given.rows);
  const listed = calibrated === null ? {} : { out_of_range: outOfRange };
  if (batch.rows === 0) return { model: path, mode: chosen, rows: given.rows, outputs: all({}), ...listed };
  if (chosen === 'fhe') {
    const { outputs, layout, evaluations, threads, timings, sizes, secret_key } = await predictFhe(model, batch, {
      ...(options.keystore !== undefined ? { keystore: options.keystore } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(options.progress !== undefined ? { progress: options.progress } : {}),
    });
    return { model: path, mode: chosen, rows: given.rows, outputs: all(outputs), layout, evaluations, threads, timings, sizes, secret_key, ...listed };
  }
  const outputs = await predictCompiledInChunks(model, batch, simulateBackend(model), ROW_CHUNK);
  return { model: path, mode: chosen, rows: given.rows, outputs: all(outputs), ...listed };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function predictFile(modelFile: string, dataFile: string, mode: Mode): PredictResult {
  const graph = importModel(readModelBytes(modelFile), modelFile);
  const spec = rowSpecOf(graph);
  const batch = loadRows(dataFile, spec);
  return { model: modelFile, mode, rows: batch.rows, outputs: predictReference(graph, spec, batch) };
}
