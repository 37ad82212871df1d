import type { Command } from 'commander';
import { DeepPowersError } from '../../compiler/errors';
import { ONNX_DOMAIN, type ValueInfo } from '../../compiler/graph/graph';
import { isFloatType } from '../../compiler/graph/tensor';
import { decodeModel, type DecodedModel } from '../../compiler/onnx/decode';
import { importModel, operatorSupport } from '../../compiler/onnx/import';
import { describeLowered, describeTreeBody, loweredJson, treeLoweredJson, type LoweredJson, type TreeLoweredJson } from '../../compiler/passes/describe';
import { refuseKnownFamilies } from '../../compiler/passes/refuse-families';
import { attentionFacts, describeAttention } from '../../compiler/passes/attention-facts';
import { splitBody } from '../../compiler/passes/split-graph';
import { formatNumber, formatType } from '../format/values';
import { printJson } from './output';
import { readModelBytes } from '../app/read-model';
import { textTable } from '../format/text-table';

export interface OperatorRow {
  readonly op: string;
  readonly domain: string;
  readonly count: number;
  readonly supported: boolean;
  readonly reason?: string;
}

export interface ValueSummary {
  readonly name: string;
  readonly type: string;
  readonly dtype: string;
  /** Dimensions: numbers, symbolic names, or null where unknown; null for non-tensors. */
  readonly shape: (number | string | null)[] | null;
}

export interface InspectReport {
  readonly file: string;
  readonly name: string;
  readonly producer: string;
  readonly irVersion: number;
  readonly opsets: Record<string, number>;
  readonly inputs: ValueSummary[];
  readonly outputs: ValueSummary[];
  readonly initializers: number;
  /**
   * Floating-point values (weights) in initializers plus those in node attributes, where
   * ai.onnx.ml keeps them. Integer tensors (shapes, pads, indices) are not parameters.
   */
  readonly parameters: number;
  readonly initializerParameters: number;
  readonly nodes: number;
  readonly operators: OperatorRow[];
  readonly imports: boolean;
  readonly importError: { code: string; message: string } | null;
  /**
   * A model that imports but whose family the compiler refuses before tracing (k-nearest
   * neighbours, transformers), with the one-line reason `compile` gives; null otherwise (whether
   * the rest compiles shows with --lowered, or by compiling).
   */
  readonly refusedFamily: { code: string; message: string } | null;
  /** For a transformer: how the compiler holds its attention, Softmax and LayerNorm (one line); null otherwise. */
  readonly transformer: string | null;
  /** With --lowered: the client prologue / encrypted body (a chain, or a tree ensemble) / client epilogue, or why there is none. */
  readonly lowered?:
    | { readonly chain: LoweredJson; readonly text: string[] }
    | { readonly trees: TreeLoweredJson; readonly text: string[] }
    | { readonly error: { code: string; message: string } };
}

/**
 * What a model file contains, and whether it imports. Decoding alone must succeed (a file that
 * is not ONNX is an error); unsupported operators are reported, not thrown, so users see the
 * whole picture of a model they cannot run yet.
 */
export function inspectModel(file: string, options: { lowered?: boolean } = {}): InspectReport {
  const bytes = readModelBytes(file);
  const decoded = decodeModel(bytes, file);
  let importError: InspectReport['importError'] = null;
  let typed: { inputs: readonly ValueInfo[]; outputs: readonly ValueInfo[] } = decoded;
  let lowered: InspectReport['lowered'];
  let refusedFamily: InspectReport['refusedFamily'] = null;
  let transformer: string | null = null;
  try {
    const graph = importModel(bytes, file);
    typed = graph;
    const attention = attentionFacts(graph);
    if (attention) {
      // The passes say whether this one gets that far (nn.MultiheadAttention moves the batch axis).
      let refusal = '';
      try {
        splitBody(graph);
      } catch (e) {
        if (!(e instanceof DeepPowersError)) throw e;
        refusal = `; not encryptable yet: ${e.message}`;
      }
      transformer = `${describeAttention(attention, graph)}${refusal}`;
    }
    try {
      refuseKnownFamilies(graph);
    } catch (e) {
      if (!(e instanceof DeepPowersError)) throw e;
      refusedFamily = { code: e.code, message: e.message };
    }
    if (options.lowered) {
      try {
        const body = splitBody(graph);
        lowered = body.kind === 'chain' ? { chain: loweredJson(body.split), text: describeLowered(body.split) } : { trees: treeLoweredJson(body.trees), text: describeTreeBody(body.trees) };
      } catch (e) {
        if (!(e instanceof DeepPowersError)) throw e;
        lowered = { error: { code: e.code, message: e.message } };
      }
    }
  } catch (e) {
    if (!(e instanceof DeepPowersError)) throw e;
    importError = { code: e.code, message: e.message };
    if (options.lowered) lowered = { error: importError };
  }
  let initializerParameters = 0;
  for (const t of decoded.initializers.values()) if (isFloatType(t.dtype)) initializerParameters += t.data.length;
  return {
    file,
    name: decoded.name,
    producer: decoded.producer,
    irVersion: decoded.irVersion,
    opsets: Object.fromEntries([...decoded.opsets].sort(([a], [b]) => (a === ONNX_DOMAIN ? -1 : b === ONNX_DOMAIN ? 1 : a.localeCompare(b)))),
    inputs: typed.inputs.map(summarize),
    outputs: typed.outputs.map(summarize),
    initializers: decoded.initializers.size,
    parameters: initializerParameters + attributeParameters(decoded),
    initializerParameters,
    nodes: decoded.nodes.length,
    operators: operatorTable(decoded),
    imports: importError === null,
    importError,
    refusedFamily,
    transformer,
    ...(lowered ? { lowered } : {}),
  };
}

/** Floats and tensors held in attributes: ai.onnx.ml coefficients, tree thresholds, Constant values. */
function attributeParameters(m: DecodedModel): number {
  let n = 0;
  for (const node of m.nodes) {
    for (const a of node.attributes.values()) {
      if (a.type === 'floats') n += a.value.length;
      else if (a.type === 'tensor' && isFloatType(a.value.dtype)) n += a.value.data.length;
    }
  }
  return n;
}

function summarize(v: ValueInfo): ValueSummary {
  const t = v.type;
  return t.kind === 'tensor'
    ? { name: v.name, type: formatType(t), dtype: t.dtype, shape: t.shape ? [...t.shape] : null }
    : { name: v.name, type: formatType(t), dtype: t.valueType, shape: null };
}

/** One row per (domain, op) in first-use order; support is per operator and opset. */
function operatorTable(m: DecodedModel): OperatorRow[] {
  const rows = new Map<string, OperatorRow>();
  for (const node of m.nodes) {
    const key = `${node.domain}::${node.opType}`;
    const seen = rows.get(key);
    if (seen) {
      rows.set(key, { ...seen, count: seen.count + 1 });
      continue;
    }
    const s = operatorSupport(node, m.opsets);
    rows.set(key, s.supported ? { op: node.opType, domain: node.domain, count: 1, supported: true } : { op: node.opType, domain: node.domain, count: 1, supported: false, reason: s.reason });
  }
  return [...rows.values()];
}

export function formatInspect(r: InspectReport): string {
  const opsets = Object.entries(r.opsets).map(([d, v]) => `${d} ${v}`).join(', ');
  const values = (vs: ValueSummary[]) => vs.map((v) => [v.name, v.type]);
  let s = textTable(null, [
    ['model', r.name],
    ['file', r.file],
    ['producer', r.producer || '(not recorded)'],
    ['IR version', String(r.irVersion)],
    ['opsets', opsets],
    ['parameters', `${formatNumber(r.parameters)} (${formatNumber(r.initializerParameters)} in ${r.initializers} initializer${r.initializers === 1 ? '' : 's'}, ${formatNumber(r.parameters - r.initializerParameters)} in node attributes)`],
    ['nodes', String(r.nodes)],
  ]);
  s += '\ninputs\n' + textTable(null, values(r.inputs), '  ');
  s += 'outputs\n' + textTable(null, values(r.outputs), '  ');
  s += '\noperators\n';
  s += textTable(
    ['op', 'domain', 'count', 'supported'],
    r.operators.map((o) => [o.op, o.domain, String(o.count), o.supported ? 'yes' : `no: ${o.reason}`]),
    '  ',
  );
  s += r.imports ? '\nimports cleanly: yes\n' : `\nimports cleanly: no: ${r.importError!.message}\n`;
  if (r.transformer) s += `transformer: ${r.transformer}\n`;
  if (r.refusedFamily) s += `encryptable: no: ${r.refusedFamily.message}\n`;
  else if (r.lowered) {
    s += 'error' in r.lowered ? `encryptable: no: ${r.lowered.error.message}\n` : `\nlowered\n${r.lowered.text.map((l) => `  ${l}`).join('\n')}\n`;
  }
  return s;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show a model: inputs, outputs, parameters, operators and whether each is supported')
    .argument('<model.onnx>', 'ONNX model file')
    .option('--json', 'print one JSON object')
    .option('--lowered', 'also show the chain the compiler reduces the model to: client prologue, encrypted affine/activation stages, client epilogue')
    .action((file: string, opts: { json?: boolean; lowered?: boolean }) => {
      const report = inspectModel(file, { lowered: opts.lowered === true });
      if (opts.json) printJson(report);
      else process.stdout.write(formatInspect(report));
    });
}
