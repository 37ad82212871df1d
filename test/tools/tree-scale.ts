/**
 * How tree ensembles scale: random forests (test/helpers/synthetic-forest.ts: 30 features, every
 * threshold a distinct random float, the worst case for the bit count) of growing size compiled
 * with default options and with --n-bits 6, printing per forest the compile time, CKKS N and
 * depth, encrypted bits and sums per sample, ct×ct products, the estimated server time of one
 * batch (N/2 samples) and the input bytes per sample.
 *
 *   npx tsx test/tools/tree-scale.ts [--json]
 */
import { compileModel } from '../../compiler/pipeline/compile';
import type { NumericTensor } from '../../compiler/graph/tensor';
import { floatRows } from '../helpers/ml-model';
import { forestRows, syntheticForest } from '../helpers/synthetic-forest';

const SIZES: ReadonlyArray<readonly [trees: number, depth: number]> = [
  [10, 4],
  [20, 4],
  [50, 6],
  [100, 6],
];
const FEATURES = 30;
const CALIBRATION_ROWS = 200;

const results = [];
for (const [trees, depth] of SIZES) {
  for (const nBits of [undefined, 6]) {
    const forest = syntheticForest({ trees, depth, features: FEATURES, task: { kind: 'classifier', labels: [0, 1] }, seed: trees * 100 + depth, oneClassPerLeaf: true, votedClasses: 1 });
    const rows = forestRows(forest, FEATURES, CALIBRATION_ROWS, 1);
    const started = performance.now();
    const c = compileModel({ bytes: forest.bytes, file: `forest-${trees}x${depth}.onnx` }, { calibration: floatRows(rows) as NumericTensor, ...(nBits !== undefined ? { nBits } : {}) });
    const compileMs = performance.now() - started;
    const p = c.build.params;
    const t = c.trees!;
    // One fresh ciphertext: 2 polynomials × N coefficients × data primes at the top level × 8 bytes.
    const inputBytesPerSample = (t.bits * 2 * p.polyModulusDegree * (p.levels + 1) * 8) / p.slots;
    results.push({
      trees,
      depth,
      nBits: t.nBits,
      nBitsChosen: t.nBitsChosen,
      calibrationRowsChanged: t.calibrationRowsChanged,
      compileMs: Math.round(compileMs),
      polyModulusDegree: p.polyModulusDegree,
      circuitDepth: c.build.circuit.depth,
      bits: t.bits,
      sums: t.columns,
      ctCtMul: c.build.counts.ctCtMul,
      estimatedBatchServerMs: Math.round(c.build.latency.serverMs),
      samplesPerBatch: p.slots,
      inputBytesPerSample: Math.round(inputBytesPerSample),
    });
    process.stderr.write(`${trees}×${depth}${nBits !== undefined ? ` --n-bits ${nBits}` : ''}: ${Math.round(compileMs)} ms\n`);
  }
}

if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const head = ['trees×depth', 'n-bits', 'cal. rows changed', 'compile ms', 'N', 'depth', 'bits/sample', 'ct×ct', 'est. server ms/batch', 'samples/batch', 'input KB/sample'];
  const lines = results.map((r) => [`${r.trees}×${r.depth}`, `${r.nBits}${r.nBitsChosen ? ' (default)' : ''}`, String(r.calibrationRowsChanged), String(r.compileMs), String(r.polyModulusDegree), String(r.circuitDepth), String(r.bits), String(r.ctCtMul), String(r.estimatedBatchServerMs), String(r.samplesPerBatch), (r.inputBytesPerSample / 1024).toFixed(1)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  for (const l of [head, ...lines]) process.stdout.write(`${l.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
}
