/**
 * Reference (float64 ONNX interpreter) against simulated (the compiled circuit) on the same rows,
 * and either against true labels when given.
 */
import { fail } from '../../compiler/errors';
import type { OutputEntry, RowOutputs } from '../run/outputs';

export interface OutputComparison {
  readonly name: string;
  /** 'label': one number or string per row, compared for equality; 'values': numbers, compared by |Δ|. */
  readonly kind: 'label' | 'values';
  /** Share of rows whose entry is identical (labels) or whose values are all within 1e-9. */
  readonly agreement: number;
  /** Largest |reference − simulated| over every number of the output (0 for string labels). */
  readonly maxAbsDelta: number;
}

export interface BodyComparison {
  /** Largest |Δ| of the encrypted body's outputs (the logits, before the epilogue). */
  readonly maxAbsDelta: number;
  /** Largest |Δ| / max(1, |reference|). */
  readonly maxRelativeDelta: number;
  /** Share of rows with the same argmax, when the body outputs more than one value per row. */
  readonly argmaxAgreement: number | null;
}

export type TaskMetric =
  | { readonly task: 'classification'; readonly from: string; readonly reference: number; readonly simulated: number }
  | {
      readonly task: 'regression';
      readonly from: string;
      readonly r2: { readonly reference: number; readonly simulated: number };
      readonly maxRelativeError: { readonly reference: number; readonly simulated: number };
    };

export interface Accuracy {
  readonly rows: number;
  readonly outputs: readonly OutputComparison[];
  readonly body: BodyComparison;
  /**
   * The headline agreement: the label output's when the model has one, else the argmax of the
   * body outputs, else null (a single-valued body: regression or one logit; see maxAbsDelta).
   */
  readonly labelAgreement: number | null;
  readonly labelAgreementFrom: string | null;
  readonly labels: TaskMetric | null;
}

function numbersOf(e: OutputEntry, out: number[] = []): number[] {
  if (typeof e === 'number') out.push(e);
  else if (e === null) out.push(NaN);
  else if (Array.isArray(e)) for (const x of e) numbersOf(x as OutputEntry, out);
  else if (typeof e === 'object') out.push(...Object.values(e));
  return out;
}

function isLabel(entries: readonly OutputEntry[]): boolean {
  return entries.every((e) => typeof e === 'string' || (typeof e === 'number' && Number.isInteger(e)));
}

function compareOutput(name: string, ref: readonly OutputEntry[], sim: readonly OutputEntry[]): OutputComparison {
  const label = isLabel(ref);
  let same = 0;
  let maxAbsDelta = 0;
  ref.forEach((r, i) => {
    const s = sim[i]!;
    const a = numbersOf(r);
    const b = numbersOf(s);
    let rowMax = a.length === b.length ? 0 : Infinity;
    a.forEach((x, k) => {
      const d = Math.abs(x - b[k]!);
      rowMax = Math.max(rowMax, Number.isNaN(d) ? Infinity : d);
    });
    maxAbsDelta = Math.max(maxAbsDelta, rowMax);
    if (label ? r === s : rowMax <= 1e-9) same++;
  });
  return { name, kind: label ? 'label' : 'values', agreement: ref.length > 0 ? same / ref.length : 1, maxAbsDelta };
}

function argmax(v: Float64Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

function compareBody(ref: readonly Float64Array[], sim: readonly Float64Array[]): BodyComparison {
  let maxAbsDelta = 0;
  let maxRelativeDelta = 0;
  let same = 0;
  ref.forEach((r, i) => {
    const s = sim[i]!;
    r.forEach((x, k) => {
      const d = Math.abs(x - s[k]!);
      maxAbsDelta = Math.max(maxAbsDelta, d);
      maxRelativeDelta = Math.max(maxRelativeDelta, d / Math.max(1, Math.abs(x)));
    });
    if (argmax(r) === argmax(s)) same++;
  });
  const width = ref[0]?.length ?? 0;
  return { maxAbsDelta, maxRelativeDelta, argmaxAgreement: width > 1 && ref.length > 0 ? same / ref.length : null };
}

/** Per-row predicted labels from a model's outputs, and where they came from. */
function predictedLabels(outputs: RowOutputs, body: readonly Float64Array[]): { from: string; labels: (number | string)[] } | null {
  for (const [name, entries] of Object.entries(outputs)) {
    if (entries.length > 0 && isLabel(entries)) return { from: `output ${name}`, labels: entries as (number | string)[] };
  }
  const [name, first] = Object.entries(outputs)[0] ?? [];
  if (name === undefined || first === undefined) return null;
  const rows = first.map((e) => numbersOf(e));
  if (rows.every((r) => r.length > 1)) return { from: `argmax of output ${name}`, labels: rows.map((r) => argmax(Float64Array.from(r))) };
  // One probability per row (a binary classifier whose epilogue ends in a sigmoid).
  if (rows.every((r) => r.length === 1 && r[0]! >= 0 && r[0]! <= 1)) return { from: `output ${name} > 0.5`, labels: rows.map((r) => (r[0]! > 0.5 ? 1 : 0)) };
  if (body[0] && body[0].length > 1) return { from: 'argmax of the body outputs', labels: body.map(argmax) };
  return null;
}

function regressionValues(outputs: RowOutputs): { from: string; values: number[] } | null {
  for (const [name, entries] of Object.entries(outputs)) {
    const rows = entries.map((e) => numbersOf(e));
    if (rows.every((r) => r.length === 1)) return { from: `output ${name}`, values: rows.map((r) => r[0]!) };
  }
  return null;
}

function r2(pred: readonly number[], truth: readonly number[]): number {
  const mean = truth.reduce((a, b) => a + b, 0) / truth.length;
  let res = 0;
  let tot = 0;
  truth.forEach((y, i) => {
    res += (y - pred[i]!) ** 2;
    tot += (y - mean) ** 2;
  });
  return tot > 0 ? 1 - res / tot : res === 0 ? 1 : -Infinity;
}

function maxRelativeError(pred: readonly number[], truth: readonly number[]): number {
  return truth.reduce((m, y, i) => Math.max(m, Math.abs(pred[i]! - y) / Math.max(Math.abs(y), Number.EPSILON)), 0);
}

/**
 * Classification when every true label is a string or an integer and the model gives labels;
 * regression otherwise (a single number per row).
 */
function taskMetric(ref: RowOutputs, sim: RowOutputs, refBody: readonly Float64Array[], simBody: readonly Float64Array[], truth: readonly (number | string)[]): TaskMetric {
  const rows = Object.values(ref)[0]?.length ?? 0;
  if (truth.length !== rows) fail('BAD_DATA', `--labels has ${truth.length} labels for ${rows} data rows`);
  const classes = truth.every((y) => typeof y === 'string' || Number.isInteger(y));
  const refLabels = classes ? predictedLabels(ref, refBody) : null;
  const simLabels = classes ? predictedLabels(sim, simBody) : null;
  if (refLabels && simLabels) {
    const acc = (p: readonly (number | string)[]): number => p.filter((x, i) => String(x) === String(truth[i])).length / truth.length;
    return { task: 'classification', from: refLabels.from, reference: acc(refLabels.labels), simulated: acc(simLabels.labels) };
  }
  const refValues = regressionValues(ref);
  const simValues = regressionValues(sim);
  if (!refValues || !simValues || truth.some((y) => typeof y !== 'number')) {
    fail('BAD_DATA', 'the labels are not class labels the model predicts, nor numbers to compare with a single-valued output');
  }
  const y = truth as number[];
  return {
    task: 'regression',
    from: refValues.from,
    r2: { reference: r2(refValues.values, y), simulated: r2(simValues.values, y) },
    maxRelativeError: { reference: maxRelativeError(refValues.values, y), simulated: maxRelativeError(simValues.values, y) },
  };
}

export function compareRuns(
  reference: RowOutputs,
  simulated: RowOutputs,
  referenceBody: readonly Float64Array[],
  simulatedBody: readonly Float64Array[],
  labels: readonly (number | string)[] | null,
): Accuracy {
  const outputs = Object.keys(reference).map((name) => compareOutput(name, reference[name]!, simulated[name] ?? []));
  const body = compareBody(referenceBody, simulatedBody);
  const labelOutput = outputs.find((o) => o.kind === 'label');
  return {
    rows: referenceBody.length,
    outputs,
    body,
    labelAgreement: labelOutput ? labelOutput.agreement : body.argmaxAgreement,
    labelAgreementFrom: labelOutput ? `output ${labelOutput.name}` : body.argmaxAgreement !== null ? 'argmax of the body outputs' : null,
    labels: labels ? taskMetric(reference, simulated, referenceBody, simulatedBody, labels) : null,
  };
}
