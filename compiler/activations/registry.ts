/**
 * The activation registry: one record per activation the compiler knows, read by every stage —
 * the ONNX operators it is recognized from (and the reference interpreter's kernels for them),
 * its float64 function (calibration, the exact chain, bias correction, the fitter's error), the
 * facts that make fits cheaper (kinks, symmetry), the degree an explicit approximation without
 * one gets, and whether per-unit range scaling applies. Adding an activation is adding a record
 * here (docs/adding-an-activation.md).
 */
import { ONNX_DOMAIN } from '../graph/graph';
import type { NodeView } from '../graph/kernel';
import { gelu, relu, sigmoid, silu } from './functions';

export const ACTIVATION_FNS = ['relu', 'sigmoid', 'tanh', 'gelu', 'silu'] as const;

export type ActivationFn = (typeof ACTIVATION_FNS)[number];

/** Named numeric parameters of an activation, by the ONNX attribute names; empty for most. */
export type ActivationParams = Readonly<Record<string, number>>;

/** What a chain stage says about its activation: which function, with which parameters. */
export interface ActivationUse {
  readonly fn: ActivationFn;
  readonly params?: ActivationParams;
}

/**
 * What symmetry f has about x = 0. The fitter finds the symmetry of each fitted range itself
 * (fit.ts symmetrize); this is the documented property, for the support table and the recipe.
 *  - odd about c: f(x) − c is odd (tanh with c = 0, sigmoid with c = ½);
 *  - even plus linear: f(x) − s·x is even for some slope s (ReLU: s = ½);
 *  - none.
 */
export type Symmetry = { readonly kind: 'odd'; readonly about: number } | { readonly kind: 'even-plus-linear' } | { readonly kind: 'none' };

/** An ONNX operator that computes the activation elementwise on its first input. */
export interface OnnxOpForm {
  readonly domain: string;
  readonly opType: string;
  /** Oldest opset version of the domain whose semantics the kernel implements. */
  readonly since: number;
  /** Whether integer and bool inputs are accepted (the kernel then rounds like the input type). */
  readonly integers: boolean;
  /** The activation's parameters as the node's attributes give them (ONNX defaults when absent). */
  readonly params: (view: NodeView) => ActivationParams;
}

export interface ActivationRecord {
  readonly fn: ActivationFn;
  /** The name docs and reports use. */
  readonly title: string;
  /** f for the given parameters, in float64. */
  readonly evaluate: (params: ActivationParams) => (x: number) => number;
  /**
   * Points where f is not smooth. Error grids include them, because the worst error of a
   * polynomial fit sits exactly at a kink and a uniform grid can step over it.
   */
  readonly kinks: (params: ActivationParams) => readonly number[];
  readonly symmetry: Symmetry;
  /** The degree an explicit chain approximation without --degree or --max-error gets (compile's default is auto). */
  readonly defaultDegree: number;
  /**
   * f(B·x) = B·f(x) for every B > 0. Then each unit's input can be divided by its own bound and
   * the output multiplied back in the neighbouring affine maps, at no cost (unit-scaling).
   */
  readonly positivelyHomogeneous: boolean;
  /** The single ONNX operators it is recognized from. */
  readonly onnx: readonly OnnxOpForm[];
}

const NO_PARAMS: ActivationParams = {};
const noParams = (): ActivationParams => NO_PARAMS;
const smooth = (): readonly number[] => [];

/**
 * Degree 31 (depth 5) for every activation: on the fixtures' wide pre-activation ranges (tanh on
 * [−32, 25], ReLU on [−55, 30] after the margin) it kept 98–100% of the test rows' labels, where
 * 15 kept 95% for tanh.
 */
const DEFAULT_DEGREE = 31;

function onnxOp(opType: string, since: number, options: { integers?: boolean; params?: (view: NodeView) => ActivationParams } = {}): OnnxOpForm {
  return { domain: ONNX_DOMAIN, opType, since, integers: options.integers ?? false, params: options.params ?? noParams };
}

const RECORDS: Readonly<Record<ActivationFn, ActivationRecord>> = {
  relu: {
    fn: 'relu',
    title: 'ReLU',
    evaluate: () => relu,
    kinks: () => [0],
    symmetry: { kind: 'even-plus-linear' },
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: true,
    onnx: [onnxOp('Relu', 1, { integers: true })],
  },
  sigmoid: {
    fn: 'sigmoid',
    title: 'Sigmoid',
    evaluate: () => sigmoid,
    kinks: smooth,
    symmetry: { kind: 'odd', about: 0.5 },
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    onnx: [onnxOp('Sigmoid', 1)],
  },
  tanh: {
    fn: 'tanh',
    title: 'Tanh',
    evaluate: () => Math.tanh,
    kinks: smooth,
    symmetry: { kind: 'odd', about: 0 },
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    onnx: [onnxOp('Tanh', 1)],
  },
  gelu: {
    fn: 'gelu',
    title: 'GELU',
    evaluate: () => gelu,
    kinks: smooth,
    symmetry: { kind: 'none' },
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    onnx: [],
  },
  silu: {
    fn: 'silu',
    title: 'SiLU',
    evaluate: () => silu,
    kinks: smooth,
    symmetry: { kind: 'none' },
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    onnx: [],
  },
};

export const ACTIVATIONS: readonly ActivationRecord[] = ACTIVATION_FNS.map((fn) => RECORDS[fn]);

export function activationRecord(fn: ActivationFn): ActivationRecord {
  return RECORDS[fn];
}

/** The float64 function a stage computes. */
export function activationFunction(use: ActivationUse): (x: number) => number {
  return RECORDS[use.fn].evaluate(use.params ?? NO_PARAMS);
}

/** The kinks of the function a stage computes. */
export function activationKinks(use: ActivationUse): readonly number[] {
  return RECORDS[use.fn].kinks(use.params ?? NO_PARAMS);
}

const BY_OPERATOR: ReadonlyMap<string, { readonly record: ActivationRecord; readonly form: OnnxOpForm }> = new Map(
  ACTIVATIONS.flatMap((record) => record.onnx.map((form) => [`${form.domain}::${form.opType}`, { record, form }] as const)),
);

/** The registry entry for an ONNX operator, if it is an activation. */
export function activationForm(domain: string, opType: string): { readonly record: ActivationRecord; readonly form: OnnxOpForm } | undefined {
  return BY_OPERATOR.get(`${domain}::${opType}`);
}
