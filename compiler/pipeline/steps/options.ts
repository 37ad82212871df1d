/**
 * What a compile asks for, as the steps read it: compileModel's options (compile.ts re-exports
 * them as its front door), the layout request and the names of the steps progress reports. They
 * live here, below compile.ts, so that the steps need nothing from the driver that runs them.
 */
import type { ApproximationOptions } from '../../approx/approximate-chain';
import type { Layout } from '../../circuit/ir';
import type { RotationKeysRequest } from '../../circuit/rotation-keys';
import type { Graph } from '../../graph/graph';
import type { NumericTensor } from '../../graph/tensor';
import type { Objective } from '../../plan/build-layout';
import type { RefreshRequest } from '../../plan/refresh-plan';
import type { RowFunctionKind } from '../../chain/rowwise';

export type LayoutRequest = Layout | 'auto';

export interface CompileOptions extends Omit<ApproximationOptions, 'degree'> {
  /**
   * One degree for every activation, or 'auto' (the default when maxError is not given either):
   * the smallest 2^k − 1 degree whose approximated chain keeps the calibration rows' predictions
   * (see degree-choice).
   */
  readonly degree?: number | 'auto';
  /** For degree 'auto': share of calibration rows whose class must survive (default DEFAULT_MIN_AGREEMENT). */
  readonly minAgreement?: number;
  /**
   * The precision the model promises: largest encrypted error of a body output as a share of the
   * calibrated output range (default DEFAULT_PRECISION, 1%). Degree auto and the parameter search
   * meet it when they can; see approx/precision-target.
   */
  readonly precision?: number;
  /**
   * The graph input for the calibration rows: [rows, ...input shape], or a function that builds it
   * from the imported graph (a data file needs the input's declared shape and type to be read).
   */
  readonly calibration: NumericTensor | ((graph: Graph) => NumericTensor);
  readonly layout?: LayoutRequest;
  /** Pack the vector layout for one row's latency (default) or for rows per second (see Objective). */
  readonly objective?: Objective;
  /** Symmetric per-channel quantization of the layers' weights to this many bits. */
  readonly nBits?: number;
  /**
   * Rescale each ReLU unit to its own calibrated range (default true; see unit-scaling). False
   * fits every activation on one range per layer.
   */
  readonly perUnitRanges?: boolean;
  /** Fold each activation's mean polynomial error on the calibration rows out of the next bias (default true; see bias-correction). */
  readonly biasCorrection?: boolean;
  /** Force the CKKS scale (bits); otherwise the parameter policy picks it. */
  readonly scaleBits?: number;
  /** Fractional bits the outputs must keep above CKKS noise (derived from `precision` otherwise). */
  readonly precisionBits?: number;
  /** Force the ring degree N. */
  readonly polyModulusDegree?: number;
  /**
   * Client-aided refresh (see refresh-plan): 'auto' (the default for objective latency) lets the
   * planner cut the body into segments with a client step between them when the whole plan is
   * faster or fits the heap only so; 'off' forbids it.
   */
  readonly refresh?: RefreshRequest;
  /**
   * 'node-seal' (default): a plan must fit node-seal's WASM heap (params/sizes.ts), else PARAMS.
   * 'simulation': the fastest plan is kept over the heap too, with a warning that says what a SEAL
   * run would need (a transformer in the batch layout: one ciphertext per value, tens of GiB).
   */
  readonly heap?: 'node-seal' | 'simulation';
  /** Round trip of one client step, in ms, for the planner's end-to-end latency (default DEFAULT_RTT_MS, a LAN). */
  readonly rttMs?: number;
  /** σ of the client steps' masks, the statistical hiding in bits; 'auto' (the default): the largest in [20, 40] keeping the precision promise (steps/mask-search.ts). */
  readonly maskBits?: number | 'auto';
  /**
   * Row-wise functions computed exactly by the client between two segments instead of by the
   * server's polynomials (passes/rows-to-client.ts): cheaper, but the client sees what each step
   * shows (a Softmax: the attention pattern; a LayerNorm: the normalized hidden state). Default none.
   */
  readonly onClient?: readonly RowFunctionKind[];
  /** Which rotation steps get Galois keys (see rotation-keys); default 'auto'. */
  readonly rotationKeys?: RotationKeysRequest;
  /** One name per element of a sample of the model input, in order (the manifest's input.featureNames). */
  readonly featureNames?: readonly string[];
  /** What the model is served as (`predict_<name>`) and what it is, for people and LLM hosts; recorded with the options. */
  readonly name?: string;
  readonly description?: string;
}

export type CompileStep = 'import' | 'passes' | 'quantize' | 'calibrate' | 'approximate' | 'lower vector' | 'lower batch';
