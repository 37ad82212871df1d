/**
 * The activation registry: one record per activation the compiler knows, read by every stage —
 * the ONNX operators it is recognized from (and the reference interpreter's kernels for them),
 * its float64 function (calibration, the exact chain, bias correction, the fitter's error), the
 * facts that make fits cheaper (kinks, symmetry), the degree an explicit approximation without
 * one gets, and whether per-unit range scaling applies. Adding an activation is adding a record
 * here (docs/adding-an-activation.md).
 */
import { ONNX_DOMAIN, type Node } from '../graph/graph';
import { NodeView } from '../graph/kernel';
import type { Tensor } from '../graph/tensor';
import {
  celu,
  clip,
  elu,
  erf,
  gelu,
  geluTanh,
  hardSigmoid,
  hardSwish,
  leakyRelu,
  mish,
  relu,
  selu,
  sigmoid,
  silu,
  softplus,
  softsign,
} from './functions';
import { either, input, op, scalar, type OnnxPattern } from './pattern';

export const ACTIVATION_FNS = [
  'relu',
  'sigmoid',
  'tanh',
  'gelu',
  'silu',
  'leaky_relu',
  'elu',
  'selu',
  'celu',
  'softplus',
  'softsign',
  'hard_sigmoid',
  'hard_swish',
  'mish',
  'clip',
  'erf',
  'exp',
] as const;

export type ActivationFn = (typeof ACTIVATION_FNS)[number];

/** Named numeric parameters of an activation, by the ONNX attribute names; empty for most. */
export type ActivationParams = Readonly<Record<string, number>>;

/** What a chain stage says about its activation: which function, with which parameters. */
export interface ActivationUse {
  readonly fn: ActivationFn;
  /** Absent when the record has no parameters (and then absent from artifacts too). */
  readonly params?: ActivationParams;
}

/**
 * What symmetry f has about x = 0. The fitter finds the symmetry of each fitted range itself
 * (fit.ts symmetrize); this is the documented property, for the support table and the recipe.
 *  - odd about c: f(x) − c is odd (tanh with c = 0, sigmoid with c = ½);
 *  - even plus linear: f(x) − s·x is even for some slope s (ReLU, GELU and SiLU: s = ½);
 *  - none.
 */
export type Symmetry = { readonly kind: 'odd'; readonly about: number } | { readonly kind: 'even-plus-linear' } | { readonly kind: 'none' };

/** A node that is not the activation after all, and why (a bound computed from the input, slopes per channel). */
export interface NotThisActivation {
  readonly refused: string;
}

/**
 * An ONNX operator that computes the activation elementwise on its first input.
 *  - 'generated': the operator has that one input; the reference interpreter's kernel is made
 *    from the record (graph/ops/activations.ts), with integer inputs accepted when `integers`.
 *  - 'own-kernel': the operator has further inputs (Clip's bounds, PRelu's slope) and its kernel
 *    lives in graph/ops; the node is the activation when those inputs are constants.
 */
export type OnnxOpForm =
  | {
      readonly kernel: 'generated';
      readonly domain: string;
      readonly opType: string;
      /** Oldest opset version of the domain whose semantics the record implements. */
      readonly since: number;
      readonly integers: boolean;
      /** The parameters from the node's attributes (ONNX defaults when absent). */
      readonly params: (view: NodeView) => ActivationParams;
    }
  | {
      readonly kernel: 'own-kernel';
      readonly domain: string;
      readonly opType: string;
      readonly since: number;
      /** When the node is this activation, in words (for the support table). */
      readonly condition: string;
      /** The parameters from attributes and constant inputs (undefined where an input is not a constant). */
      readonly params: (view: NodeView, constants: readonly (Tensor | undefined)[]) => ActivationParams | NotThisActivation;
    };

export interface ActivationRecord {
  readonly fn: ActivationFn;
  /** The name docs, reports and fused nodes use. */
  readonly title: string;
  /** Names of the parameters `evaluate` reads; artifacts accept no others. */
  readonly params: readonly string[];
  /** f for the given parameters, in float64. */
  readonly evaluate: (params: ActivationParams) => (x: number) => number;
  /**
   * Points where f is not smooth. Error grids include them, because the worst error of a
   * polynomial fit sits exactly at a kink and a uniform grid can step over it.
   */
  readonly kinks: (params: ActivationParams) => readonly number[];
  readonly symmetry: (params: ActivationParams) => Symmetry;
  /** The degree an explicit chain approximation without --degree or --max-error gets (compile's default is auto). */
  readonly defaultDegree: number;
  /**
   * f(B·x) = B·f(x) for every B > 0. Then each unit's input can be divided by its own bound and
   * the output multiplied back in the neighbouring affine maps, at no cost (unit-scaling).
   */
  readonly positivelyHomogeneous: boolean;
  /**
   * f(x) ≤ f(y) whenever x ≤ y, for the given parameters. Then max over a window commutes with f
   * (max f(x_i) = f(max x_i)), so a MaxPool after f can run before it (passes/pool-first.ts).
   */
  readonly nonDecreasing: (params: ActivationParams) => boolean;
  /** Single ONNX operators it is recognized from. */
  readonly onnx: readonly OnnxOpForm[];
  /** Subgraphs exporters write for it (torch's x·Sigmoid(x) for SiLU), fused into one node before the trace. */
  readonly patterns: readonly OnnxPattern[];
}

const NO_PARAMS: ActivationParams = {};
const noParams = (): ActivationParams => NO_PARAMS;
const smooth = (): readonly number[] => [];
const atZero = (): readonly number[] => [0];
const odd = (about: number) => (): Symmetry => ({ kind: 'odd', about });
const evenPlusLinear = (): Symmetry => ({ kind: 'even-plus-linear' });
const noSymmetry = (): Symmetry => ({ kind: 'none' });
const always = (): boolean => true;
const never = (): boolean => false;

/** A parameter the ONNX conversion always sets; `fallback` only guards artifacts written by hand. */
function param(params: ActivationParams, name: string, fallback: number): number {
  return params[name] ?? fallback;
}

/**
 * Degree 31 (depth 5) for every activation: on the fixtures' wide pre-activation ranges (tanh on
 * [−32, 25], ReLU on [−55, 30] after the margin) it kept 98–100% of the test rows' labels, where
 * 15 kept 95% for tanh.
 */
const DEFAULT_DEGREE = 31;

function onnxOp(opType: string, since: number, options: { integers?: boolean; params?: (view: NodeView) => ActivationParams } = {}): OnnxOpForm {
  return { kernel: 'generated', domain: ONNX_DOMAIN, opType, since, integers: options.integers ?? false, params: options.params ?? noParams };
}

/** The float attributes `names` with their ONNX defaults. */
function floats(defaults: Readonly<Record<string, number>>): (view: NodeView) => ActivationParams {
  return (view) => Object.fromEntries(Object.entries(defaults).map(([name, d]) => [name, view.float(name, d)]));
}

/** A constant input's single value, or why it is not one. */
function constantScalar(view: NodeView, constants: readonly (Tensor | undefined)[], index: number, what: string): number | NotThisActivation | undefined {
  if (!view.node.inputs[index]) return undefined;
  const t = constants[index];
  if (!t || t.kind !== 'numeric') return { refused: `${view.opType} with a ${what} computed from the input` };
  const first = t.data[0];
  if (first === undefined || t.data.some((v) => v !== first)) return { refused: `${view.opType} with a different ${what} per element` };
  return first;
}

const FLT_MAX = 3.4028234663852886e38;
const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

/**
 * ONNX Clip: bounds are attributes before opset 11 and optional constant inputs from 11 on. A
 * bound that is absent is no bound, and absent from the parameters (artifacts hold finite numbers).
 */
function clipParams(view: NodeView, constants: readonly (Tensor | undefined)[]): ActivationParams | NotThisActivation {
  const bounds: Record<string, number> = {};
  for (const [name, index] of [['min', 1], ['max', 2]] as const) {
    const v = view.opset >= 11 ? constantScalar(view, constants, index, `${name} bound`) : view.float(name);
    if (typeof v === 'object') return v;
    // Exporters write ±FLT_MAX for "no bound" before opset 11.
    if (v !== undefined && Math.abs(v) < FLT_MAX) bounds[name] = v;
  }
  return bounds;
}

/** PRelu with one slope for every element is a LeakyRelu; a slope per channel is not one function of the unit. */
function preluParams(view: NodeView, constants: readonly (Tensor | undefined)[]): ActivationParams | NotThisActivation {
  const slope = constantScalar(view, constants, 1, 'slope');
  if (slope === undefined) return { refused: 'PRelu without a slope' };
  return typeof slope === 'object' ? slope : { alpha: slope };
}

/** x·Φ(x) as torch writes it at opsets below 20: x/√2 → Erf → +1 → ·x → ·½, in either order of the last two. */
function geluErfPatterns(): OnnxPattern[] {
  const scaled = either(op('Div', input, scalar(Math.SQRT2)), op('Mul', input, scalar(Math.SQRT1_2)));
  const onePlusErf = op('Add', op('Erf', scaled), scalar(1));
  return [
    {
      description: 'Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5) and its reorderings (torch, opsets 9–19)',
      root: either(
        op('Mul', op('Mul', input, onePlusErf), scalar(0.5)),
        op('Mul', op('Mul', input, scalar(0.5)), onePlusErf),
        op('Mul', input, op('Mul', onePlusErf, scalar(0.5))),
      ),
      params: NO_PARAMS,
    },
  ];
}

const RECORDS: Readonly<Record<ActivationFn, ActivationRecord>> = {
  relu: {
    fn: 'relu',
    title: 'ReLU',
    params: [],
    evaluate: () => relu,
    kinks: atZero,
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: true,
    nonDecreasing: always,
    onnx: [onnxOp('Relu', 1, { integers: true })],
    patterns: [],
  },
  sigmoid: {
    fn: 'sigmoid',
    title: 'Sigmoid',
    params: [],
    evaluate: () => sigmoid,
    kinks: smooth,
    symmetry: odd(0.5),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [onnxOp('Sigmoid', 1)],
    patterns: [],
  },
  tanh: {
    fn: 'tanh',
    title: 'Tanh',
    params: [],
    evaluate: () => Math.tanh,
    kinks: smooth,
    symmetry: odd(0),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [onnxOp('Tanh', 1)],
    patterns: [],
  },
  gelu: {
    fn: 'gelu',
    title: 'GELU',
    // approximate: 1 for ONNX's approximate="tanh" form; absent for the exact x·Φ(x).
    params: ['approximate'],
    evaluate: (p) => (p['approximate'] === 1 ? geluTanh : gelu),
    kinks: smooth,
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: never,
    onnx: [
      onnxOp('Gelu', 20, {
        params: (view) => {
          const approximate = view.string('approximate', 'none');
          if (approximate === 'tanh') return { approximate: 1 };
          if (approximate !== 'none') view.unsupported(`approximate="${approximate}"`);
          return NO_PARAMS;
        },
      }),
    ],
    patterns: geluErfPatterns(),
  },
  silu: {
    fn: 'silu',
    title: 'SiLU',
    params: [],
    evaluate: () => silu,
    kinks: smooth,
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: never,
    onnx: [],
    patterns: [{ description: 'Mul(x, Sigmoid(x)) (torch SiLU, Swish)', root: op('Mul', input, op('Sigmoid', input)), params: NO_PARAMS }],
  },
  leaky_relu: {
    fn: 'leaky_relu',
    title: 'LeakyReLU',
    params: ['alpha'],
    evaluate: (p) => leakyRelu(param(p, 'alpha', 0.01)),
    kinks: atZero,
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: true,
    nonDecreasing: (p) => param(p, 'alpha', 0.01) >= 0,
    onnx: [onnxOp('LeakyRelu', 1, { params: floats({ alpha: 0.01 }) }), { kernel: 'own-kernel', domain: ONNX_DOMAIN, opType: 'PRelu', since: 7, condition: 'one constant slope', params: preluParams }],
    patterns: [],
  },
  elu: {
    fn: 'elu',
    title: 'ELU',
    params: ['alpha'],
    evaluate: (p) => elu(param(p, 'alpha', 1)),
    kinks: atZero,
    symmetry: noSymmetry,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: (p) => param(p, 'alpha', 1) >= 0,
    onnx: [onnxOp('Elu', 1, { params: floats({ alpha: 1 }) })],
    patterns: [],
  },
  selu: {
    fn: 'selu',
    title: 'SELU',
    params: ['alpha', 'gamma'],
    evaluate: (p) => selu(param(p, 'alpha', SELU_ALPHA), param(p, 'gamma', SELU_GAMMA)),
    kinks: atZero,
    symmetry: noSymmetry,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: (p) => param(p, 'alpha', SELU_ALPHA) >= 0 && param(p, 'gamma', SELU_GAMMA) >= 0,
    onnx: [onnxOp('Selu', 1, { params: floats({ alpha: SELU_ALPHA, gamma: SELU_GAMMA }) })],
    patterns: [],
  },
  celu: {
    fn: 'celu',
    title: 'CELU',
    params: ['alpha'],
    evaluate: (p) => celu(param(p, 'alpha', 1)),
    kinks: atZero,
    symmetry: noSymmetry,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: (p) => param(p, 'alpha', 1) > 0,
    onnx: [onnxOp('Celu', 12, { params: floats({ alpha: 1 }) })],
    patterns: [],
  },
  softplus: {
    fn: 'softplus',
    title: 'Softplus',
    params: [],
    evaluate: () => softplus,
    kinks: smooth,
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [onnxOp('Softplus', 1)],
    patterns: [],
  },
  softsign: {
    fn: 'softsign',
    title: 'Softsign',
    params: [],
    evaluate: () => softsign,
    // C¹ at 0, but the second derivative jumps there.
    kinks: atZero,
    symmetry: odd(0),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [onnxOp('Softsign', 1)],
    patterns: [],
  },
  hard_sigmoid: {
    fn: 'hard_sigmoid',
    title: 'HardSigmoid',
    params: ['alpha', 'beta'],
    evaluate: (p) => hardSigmoid(param(p, 'alpha', 0.2), param(p, 'beta', 0.5)),
    kinks: (p) => {
      const alpha = param(p, 'alpha', 0.2);
      const beta = param(p, 'beta', 0.5);
      return alpha === 0 ? [] : [-beta / alpha, (1 - beta) / alpha].sort((a, b) => a - b);
    },
    symmetry: (p) => (param(p, 'beta', 0.5) === 0.5 ? { kind: 'odd', about: 0.5 } : { kind: 'none' }),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: (p) => param(p, 'alpha', 0.2) >= 0,
    onnx: [onnxOp('HardSigmoid', 1, { params: floats({ alpha: 0.2, beta: 0.5 }) })],
    patterns: [],
  },
  hard_swish: {
    fn: 'hard_swish',
    title: 'HardSwish',
    params: [],
    evaluate: () => hardSwish,
    kinks: () => [-3, 3],
    symmetry: evenPlusLinear,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: never,
    onnx: [onnxOp('HardSwish', 14)],
    patterns: [
      {
        description: 'Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5)) (torch Hardswish below opset 14)',
        root: op('Mul', input, op('HardSigmoid', input, { alpha: 1 / 6, beta: 0.5 })),
        params: NO_PARAMS,
      },
    ],
  },
  mish: {
    fn: 'mish',
    title: 'Mish',
    params: [],
    evaluate: () => mish,
    kinks: smooth,
    symmetry: noSymmetry,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: never,
    onnx: [onnxOp('Mish', 18)],
    patterns: [{ description: 'Mul(x, Tanh(Softplus(x))) (torch Mish below opset 18)', root: op('Mul', input, op('Tanh', op('Softplus', input))), params: NO_PARAMS }],
  },
  clip: {
    fn: 'clip',
    title: 'Clip (ReLU6, Hardtanh)',
    params: ['min', 'max'],
    evaluate: (p) => clip(p['min'] ?? -Infinity, p['max'] ?? Infinity),
    kinks: (p) => [p['min'], p['max']].filter((b): b is number => b !== undefined),
    symmetry: (p) => ((p['min'] ?? -Infinity) === -(p['max'] ?? Infinity) ? { kind: 'odd', about: 0 } : { kind: 'none' }),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [{ kernel: 'own-kernel', domain: ONNX_DOMAIN, opType: 'Clip', since: 1, condition: 'constant bounds', params: clipParams }],
    patterns: [],
  },
  erf: {
    fn: 'erf',
    title: 'Erf',
    params: [],
    evaluate: () => erf,
    kinks: smooth,
    symmetry: odd(0),
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    onnx: [onnxOp('Erf', 9)],
    patterns: [],
  },
  exp: {
    fn: 'exp',
    title: 'Exp (in Softmax)',
    params: [],
    evaluate: () => Math.exp,
    kinks: smooth,
    symmetry: noSymmetry,
    defaultDegree: DEFAULT_DEGREE,
    positivelyHomogeneous: false,
    nonDecreasing: always,
    // Fitted for Softmax's exp on the calibrated score range (approx/exp-range.ts); a lone Exp
    // node stays a reference-interpreter operator (graph/ops/elementwise.ts), so no ONNX form here.
    onnx: [],
    patterns: [],
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

/** `{ params }` when the use has parameters, else nothing: spread into records so parameter-free ones stay as they were. */
export function paramsOf(use: ActivationUse): { readonly params?: ActivationParams } {
  return use.params === undefined ? {} : { params: use.params };
}

/** `fn(alpha=0.1)` for reports; the bare name for an activation without parameters. */
export function activationLabel(use: ActivationUse): string {
  const entries = Object.entries(use.params ?? {});
  return entries.length === 0 ? use.fn : `${use.fn}(${entries.map(([k, v]) => `${k}=${v}`).join(', ')})`;
}

/**
 * The domain of the nodes passes/fuse-activations.ts makes from a pattern match: op type the
 * activation's fn, float attributes its parameters. Never read from a model file (the importer
 * has no kernels for it); it exists only between the fusion pass and the trace.
 */
export const FUSED_ACTIVATION_DOMAIN = 'ai.deeppowers.activation';

const BY_OPERATOR: ReadonlyMap<string, { readonly record: ActivationRecord; readonly form: OnnxOpForm }> = new Map(
  ACTIVATIONS.flatMap((record) => record.onnx.map((form) => [`${form.domain}::${form.opType}`, { record, form }] as const)),
);

function useOf(fn: ActivationFn, params: ActivationParams): ActivationUse {
  return Object.keys(params).length === 0 ? { fn } : { fn, params };
}

/**
 * The activation a node computes: an ONNX operator of a record (parameters from its attributes
 * and constant inputs, `constants[i]` for input i), or a node the fusion pass made. Undefined when
 * the node is no activation; NotThisActivation when it is one in a form the body cannot hold.
 */
export function recognizeActivation(node: Node, opsets: ReadonlyMap<string, number>, constants: readonly (Tensor | undefined)[]): ActivationUse | NotThisActivation | undefined {
  if (node.domain === FUSED_ACTIVATION_DOMAIN) {
    const fn = ACTIVATION_FNS.find((f) => f === node.opType);
    if (fn === undefined) return undefined;
    const params: Record<string, number> = {};
    for (const [name, a] of node.attributes) if (a.type === 'float') params[name] = a.value;
    return useOf(fn, params);
  }
  const entry = BY_OPERATOR.get(`${node.domain}::${node.opType}`);
  const opset = opsets.get(node.domain);
  if (!entry || opset === undefined) return undefined;
  const view = new NodeView(node, opset, opsets);
  const params = entry.form.kernel === 'generated' ? entry.form.params(view) : entry.form.params(view, constants);
  if ('refused' in params) return params as NotThisActivation;
  return useOf(entry.record.fn, params as ActivationParams);
}
