import { activationLabel } from '../../compiler/activations/registry';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startSteps } from './progress';
import { MASK_BITS_AUTO, MASK_BITS_RANGE } from '../../compiler/plan/refresh-plan';
import { DEFAULT_RTT_MS } from '../../compiler/plan/plan-cost';
import type { TreeSummary } from '../../compiler/pipeline/steps/encode-trees';
import { describeBatch } from '../data/load-rows';
import { formatNumber } from '../format/values';
import { printJson } from './output';
import { textTable } from '../format/text-table';
import { describePromise, type PrecisionPromise } from '../../compiler/approx/precision-target';
import { REGRESSION_TOLERANCE } from '../../compiler/approx/degree-choice';
import { EXIT_CHECK_FAILED, ReportedFailure } from './report-error';
import { modelNameOf } from '../service/served-model';
import { CLIENT_ROW_FUNCTIONS, parseClientRowFunctions } from '../../compiler/passes/rows-to-client';
import { DeepPowersError } from '../../compiler/errors';
import type { RowFunctionKind } from '../../compiler/chain/rowwise';
import { compileFile, type CompileFileOptions, type CompileSummary, type ToolVersion } from '../app/compile-file';

function servedName(value: string): string {
  if (modelNameOf(value) !== value) throw new InvalidArgumentError(`"${value}" cannot name an MCP tool: use letters, digits, ".", "_" or "-" (e.g. "${modelNameOf(value)}")`);
  return value;
}

function featureNamesArgument(value: string): readonly string[] {
  return value.split(',').map((n) => n.trim());
}

const range = (r: readonly [number, number]): string => `[${formatNumber(r[0], 4)}, ${formatNumber(r[1], 4)}]`;

export function formatCompile(s: CompileSummary): string {
  const p = s.parameters;
  const c = s.counts;
  let out = `compiled ${s.model} → ${s.outputDir} (model hash ${s.modelHash.slice(0, 16)})\n`;
  out += textTable(null, [
    ['calibration', describeBatch(s.calibration)],
    ['layout', `${s.layout} (${layoutReasonOf(s)}), ${s.samplesPerEvaluation} sample${s.samplesPerEvaluation === 1 ? '' : 's'} per evaluation`],
    ['CKKS', `N=${p.polyModulusDegree} (${p.slots} slots), depth ${s.depth}${s.refresh ? ` in ${s.refresh.segments.length} segments (${s.refresh.segments.map((x) => x.depth).join(' + ')})` : ''}, scale 2^${p.scaleBits}, modulus ${p.coeffModulusBits.join('+')} = ${p.totalBits} of ${p.maxBitCount} bits, ${p.securityBits}-bit security`],
    ['ops', `${c.rotations} rotations, ${c.ctCtMul} ct×ct, ${c.ctPtMul} ct×pt, ${c.rescales} rescales, ${c.relins} relins, ${c.modswitches} modswitches`],
    ['rotation steps', s.rotationSteps.length > 0 ? s.rotationSteps.join(', ') : 'none'],
    ['rotation keys', rotationKeysLine(s.rotationKeys)],
    ...(s.refresh ? [['refresh', refreshLine(s.refresh)]] : []),
    ...(s.refresh?.maxPools ? [['max pool', maxPoolLine(s.refresh)]] : []),
    ...(s.refresh?.clientSees && !s.refresh.maxPools ? [['client sees', s.refresh.clientSees]] : []),
    ...(s.refresh ? [['client steps', s.refresh.dishonestClient]] : []),
    ['precision', precisionLine(s.precision)],
    ['estimated latency', latencyLine(s)],
    ['memory', `about ${formatNumber(s.memory.totalBytes / 2 ** 30, 3)} GiB of WASM heap to make the keys and evaluate (budget ${formatNumber(s.memory.budgetBytes / 2 ** 30, 3)} of node-seal's ${formatNumber(s.memory.heapBytes / 2 ** 30, 3)} GiB)`],
    ...(s.degreeChoice ? [['degree', degreeLine(s.degreeChoice)]] : []),
    ...(s.trees ? treeLines(s.trees) : []),
  ], '  ');
  for (const w of s.warnings) out += `warning: ${w}\n`;
  if (s.approximations.length > 0) {
    out += '\nactivations\n';
    out += textTable(
      ['function', 'calibrated', 'fitted on', 'degree', 'method', 'max error'],
      s.approximations.map((a) => [activationLabel(a), range(a.observedRange), range(a.range), String(a.degree), a.method, formatNumber(a.maxError, 3)]),
      '  ',
    );
  }
  return out;
}

/** The whole plan's predicted time of one prediction, with the network its client steps assume. */
function latencyLine(s: CompileSummary): string {
  const l = s.latencyMs;
  const n = s.network;
  const parts = [`server ${formatNumber(l.server, 3)} ms`, `client ${formatNumber(l.client, 3)} ms`];
  if (n.clientSteps > 0) {
    parts.push(`${n.clientSteps} client step${n.clientSteps === 1 ? '' : 's'} ${formatNumber(l.network, 3)} ms: ${formatNumber(n.rttMs, 3)} ms round trip each (--rtt-ms) and ${formatNumber(n.stepBytes / 1e6, 3)} MB at ${formatNumber((8 * n.bytesPerSecond) / 1e9, 3)} Gbit/s`);
  } else {
    parts.push(`no client steps; plans compared at ${formatNumber(n.rttMs, 3)} ms per client round trip, --rtt-ms`);
  }
  return `${formatNumber(l.total, 3)} ms per prediction end to end${s.refresh ? `, all ${s.refresh.segments.length} segments` : ''} (${parts.join(', ')})`;
}

/** Layouts are compared by their whole plans (cut or not), which the reason gives. */
function layoutReasonOf(s: CompileSummary): string {
  return s.layoutReason;
}

function refreshLine(r: NonNullable<CompileSummary['refresh']>): string {
  const depths = r.segments.map((x) => x.depth).join(', ');
  const ms = r.segments.map((x) => formatNumber(x.latencyMs, 3)).join(' + ');
  const pools = r.maxPools?.length ?? 0;
  const softmaxes = r.normalizations?.filter((n) => n.kind === 'softmax').length ?? 0;
  const layerNorms = (r.normalizations?.length ?? 0) - softmaxes;
  const refreshes = r.segments.length - 1 - pools - softmaxes - layerNorms;
  const onCoefficients = r.mask.steps.filter((s) => s.kind === 'coefficient-refresh').length;
  const masked =
    onCoefficients === refreshes
      ? `the client decrypts the result's plaintext polynomial with every coefficient masked by ±2^${r.maskBits}·⌈${formatNumber(r.maskBound, 3)}·Δ⌉ and encrypts it again as it is, never decoding it, so σ costs no precision (${maskLine(r.mask)})`
      : onCoefficients === 0
        ? `the client decrypts values masked by ±2^${r.maskBits}·${formatNumber(r.maskBound, 3)} and encrypts them again (${maskLine(r.mask)})`
        : `${onCoefficients} of them masked on the plaintext polynomial's coefficients (±2^${r.maskBits}·⌈${formatNumber(r.maskBound, 3)}·Δ⌉, never decoded, σ costing no precision), the other ${refreshes - onCoefficients} on the slots (±2^${r.maskBits}·${formatNumber(r.maskBound, 3)}, the next segment reading them in another layout) (${maskLine(r.mask)})`;
  const why = r.whyCut !== undefined ? `cut by default (--refresh off forbids it): ${r.whyCut}. ` : '';
  if (refreshes === r.segments.length - 1) return `${why}${r.segments.length} segments (depths ${depths}; estimated ${ms} ms), a client round trip between each: ${masked}`;
  const counted = (n: number, one: string, many: string): string[] => (n > 0 ? [`${n} ${n === 1 ? one : many} (below)`] : []);
  const steps = [
    ...counted(pools, 'max pool', 'max pools'),
    ...counted(softmaxes, 'softmax', 'softmaxes'),
    ...counted(layerNorms, 'layer norm', 'layer norms'),
    ...(refreshes > 0 ? [`${refreshes} refresh${refreshes === 1 ? '' : 'es'}, where ${masked}`] : []),
  ];
  return `${why}${r.segments.length} segments (depths ${depths}; estimated ${ms} ms), a client round trip between each: ${steps.join('; ')}`;
}

/** σ, what it hides (per slot and over one ciphertext), how it was chosen, and why not the ceiling. */
function maskLine(m: NonNullable<CompileSummary['refresh']>['mask']): string {
  const how = m.mode === 'auto' ? `--mask-bits auto: the largest σ in [${MASK_BITS_AUTO.min}, ${MASK_BITS_AUTO.max}] keeping the precision promise` : '--mask-bits';
  const coefficients = m.steps.some((s) => s.masking === 'coefficients');
  const values = coefficients ? `${2 * m.slots} coefficients` : `${m.slots} slots`;
  const hides = `σ = ${m.bits}: within 2^-${m.bits} statistical distance per ${coefficients ? 'masked value' : 'slot'}, 2^${m.perCiphertextLog2Distance} over the ${values} of a ciphertext`;
  return `${hides}; ${how}${m.whyNotMax !== undefined ? `; not ${MASK_BITS_AUTO.max}: ${m.whyNotMax}` : ''}`;
}

function maxPoolLine(r: NonNullable<CompileSummary['refresh']>): string {
  const pools = r.maxPools ?? [];
  const which = pools.map((p) => `${p.sources.join(', ')}: ${p.geometry}`).join('; ');
  return `${pools.length === 1 ? 'a MaxPool forces its' : `${pools.length} MaxPools force their`} client step (with --refresh off too) [${which}]. ${r.clientSees ?? ''}`;
}

function treeLines(t: TreeSummary): string[][] {
  const grid = `${t.nBits}-bit grid per feature${t.nBitsChosen ? ' (default: the fewest bits keeping every calibration row\'s leaves)' : ' (--n-bits)'}`;
  return [
    ['trees', `${t.trees} tree${t.trees === 1 ? '' : 's'}, depth ${t.depth}, ${t.branches} branches, ${t.leaves} leaves; ${t.columns} encrypted sum${t.columns === 1 ? '' : 's'} per sample`],
    ['encoding', `${t.bits} encrypted threshold bits per sample; thresholds on a ${grid}`],
    ['snap', `${t.movedThresholds} of ${t.branches} thresholds moved; ${t.calibrationRowsChanged} of ${t.calibrationRows} calibration rows reach another leaf`],
  ];
}

function rotationKeysLine(k: CompileSummary['rotationKeys']): string {
  const mb = (b: number) => `${formatNumber(b / 1e6, 3)} MB`;
  if (k.steps === 0) return `none (no rotations); about ${mb(k.keyBytes)} of evaluation keys`;
  const size = `${k.steps} step${k.steps === 1 ? '' : 's'}, about ${mb(k.keyBytes)} of evaluation keys`;
  if (k.mode === 'all') return `${size} (a key for every step)`;
  const why = k.allSteps ? `auto: a key for each of ${k.allSteps.steps} steps would take ${mb(k.allSteps.keyBytes)}` : '--rotation-keys powers-of-two';
  return `${size}: rotations by powers of two (${why})`;
}

function degreeLine(d: NonNullable<CompileSummary['degreeChoice']>): string {
  const tried = d.tried.map((t) => `${t.degree} → error ${formatNumber(t.maxError, 3)}, ${(t.agreement * 100).toFixed(1)}%`).join('; ');
  const agreement = d.comparison === 'relative-error' ? `rows within ${REGRESSION_TOLERANCE * 100}% of max(1, |y|)` : `${d.comparison} agreement`;
  const target = `error ≤ ${formatNumber(d.target.maxError, 3)} and ${agreement} ≥ ${d.target.minAgreement * 100}%`;
  return `auto: ${d.degree}, ${d.reached ? 'the smallest 2^k−1 with' : 'the best; none reached'} ${target} on ${d.rows} calibration rows (${tried})`;
}

/** The promise and its two parts, e.g. "≤ 1% of the output range [...] (0.38): approximation 0.21 + CKKS noise ≤ 0.01". */
export function precisionLine(p: PrecisionPromise): string {
  const parts = `approximation ${formatNumber(p.approximationError, 3)} + CKKS noise ≤ ${formatNumber(p.noiseBound, 3)}`;
  return `${describePromise(p)}: ${parts}${p.reached ? '' : ' — NOT MET'}`;
}

function positive(name: string, integer: boolean): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) {
      throw new InvalidArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
    }
    return x;
  };
}

function onClientArgument(v: string): RowFunctionKind[] {
  try {
    return parseClientRowFunctions(v);
  } catch (e) {
    if (e instanceof DeepPowersError) throw new InvalidArgumentError(e.message);
    throw e;
  }
}

function nonNegative(name: string): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${name} must be a non-negative number, got "${v}"`);
    return x;
  };
}

function degreeArgument(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x <= 0) throw new InvalidArgumentError(`--degree must be auto or a positive integer, got "${v}"`);
  return x;
}

function maskBitsArgument(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x <= 0) throw new InvalidArgumentError(`--mask-bits must be auto or a positive integer, got "${v}"`);
  return x;
}

function precisionArgument(v: string): number {
  const percent = v.trim().endsWith('%');
  const x = Number(percent ? v.trim().slice(0, -1) : v);
  const p = percent ? x / 100 : x;
  if (v.trim() === '' || !(p > 0 && p < 1)) throw new InvalidArgumentError(`--precision must be a share of the output range in (0, 1) such as 0.01 or 1%, got "${v}"`);
  return p;
}

function share(name: string): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !(x > 0 && x <= 1)) throw new InvalidArgumentError(`${name} must be a number in (0, 1], got "${v}"`);
    return x;
  };
}

export function registerCompile(program: Command, toolVersion: ToolVersion): void {
  program
    .command('compile')
    .description('compile an ONNX model to a CKKS circuit (a directory with manifest.json, constants.bin and the source model)')
    .argument('<model.onnx>', 'ONNX model file')
    .requiredOption('--calibration <file>', 'calibration rows (JSON or CSV) that set the activation ranges')
    .option('-o, --output <dir>', 'output directory (default: <model>.compiled in the current directory)')
    .addOption(new Option('--layout <layout>', 'slot layout: auto picks the better estimate for --objective').choices(['auto', 'vector', 'batch']).default('auto'))
    .addOption(
      new Option('--objective <objective>', 'latency (default): one row per vector-layout ciphertext, auto picks the faster prediction; throughput: as many rows per ciphertext as the slots hold, auto picks more rows per second').choices(['latency', 'throughput']),
    )
    .addOption(
      new Option('--rotation-keys <mode>', 'auto (default): powers of two when a Galois key for every rotation step would make the evaluation keys larger than 192 MiB; all: a key per step (fewest rotations); powers-of-two: keys for powers of two only (a rotation by k takes one per set bit)').choices(['auto', 'all', 'powers-of-two']),
    )
    .addOption(
      new Option('--refresh <mode>', 'auto (default): the planner may cut the body where a client round trip (masked decrypt, re-encrypt at the top level) makes the whole plan faster or is the only way to fit the heap; off: one circuit, or a one-line error saying why none fits').choices(['auto', 'off']),
    )
    .addOption(
      new Option('--heap <budget>', "node-seal (default): every plan must fit node-seal's WASM heap; simulation: keep the fastest plan over it too (predict --mode simulate runs it; a SEAL run needs what the warning says), as a transformer in the batch layout needs").choices(['node-seal', 'simulation']),
    )
    .option(
      '--on-client <functions>',
      `${CLIENT_ROW_FUNCTIONS.join(', ')} (comma-separated): computed exactly by the client between two segments instead of by the server's polynomials, masked per row like a MaxPool's windows (a softmax row under one random offset, a LayerNorm token under a random positive scale and offset); cheaper, but the client learns each softmax's attention pattern and each LayerNorm's normalized hidden state (compile's "client sees" row says exactly what); default: none, the server computes them`,
      onClientArgument,
    )
    .option('--rtt-ms <ms>', `round trip of one client step, for the planner's end-to-end latency (default ${DEFAULT_RTT_MS}, a LAN)`, nonNegative('--rtt-ms'))
    .option(
      '--mask-bits <sigma>',
      `client steps (refreshes, max pools, softmax, layer norm): the masks hide each value within 2^-sigma statistical distance; a refresh masks the plaintext polynomial's coefficients where the next segment reads the result as it is (sigma then costs modulus room only), the other steps the slots (sigma bits of float64 precision per step); auto (default): the largest sigma in [${MASK_BITS_AUTO.min}, ${MASK_BITS_AUTO.max}] that keeps the precision promise (the refresh row says which and why); an integer ${MASK_BITS_RANGE.min}..${MASK_BITS_RANGE.max} fixes it (the precision row says whether the promise still holds, as simulation rounds; SEAL rounds more: check with predict --mode fhe)`,
      maskBitsArgument,
    )
    .option('--degree <d>', 'polynomial degree for every activation, or auto (default): the smallest 2^k−1 meeting --precision and keeping the calibration rows\' predictions', degreeArgument)
    .option('--max-error <e>', 'instead of --degree: smallest 2^k−1 degree with at most this error on the range', positive('--max-error', false))
    .option('--precision <p>', 'promised bound on the encrypted error of the body outputs, as a share of their calibrated range (default 0.01 = 1%)', precisionArgument)
    .option('--min-agreement <a>', 'for --degree auto: share of calibration rows whose class the approximated chain must keep (a regression: rows within 1% of max(1, |y|)) (default 0.999)', share('--min-agreement'))
    .addOption(new Option('--method <method>', 'approximation method (default: remez, a minimax fit, with --degree auto; chebyshev interpolation with --degree D or --max-error)').choices(['chebyshev', 'remez', 'square']))
    .option('--margin <m>', 'widen calibrated ranges to centre ± m·half-width (default 1.5; at least 1)', positive('--margin', false))
    .option('--n-bits <n>', 'quantize weights to n bits (symmetric, per output channel); for a tree ensemble, the bits of the threshold grid (default: the fewest keeping every calibration row\'s leaves)', positive('--n-bits', true))
    .option('--scale-bits <b>', 'force the CKKS scale to 2^b', positive('--scale-bits', true))
    .option('--name <name>', 'the name it is served under (tool predict_<name>; letters, digits, . _ -); default: the output directory\'s name without .compiled', servedName)
    .option('--description <text>', 'what the model does, in words: shown to MCP hosts in the tool description, list_models and the model card')
    .option('--feature-names <a,b,…>', 'one name per input feature, in order, comma-separated (rows may then be given as {name: value}); listed to MCP hosts', featureNamesArgument)
    .option('--json', 'print a JSON summary')
    .action((file: string, opts: CompileFileOptions) => {
      const reporter = startSteps('compiling');
      let summary: CompileSummary;
      try {
        summary = compileFile(file, opts, toolVersion, reporter.step).summary;
      } finally {
        reporter.done();
      }
      if (opts.json) {
        // The JSON carries the warnings; stderr says them to a person, stdout stays one object.
        for (const w of summary.warnings) process.stderr.write(`warning: ${w}\n`);
        printJson(summary);
      } else {
        process.stdout.write(formatCompile(summary));
      }
      // Written, but not what was asked for: the exit status says so to scripts.
      if (!summary.precision.reached) throw new ReportedFailure(EXIT_CHECK_FAILED);
    });
}
