/**
 * Per fixture and layout: what the compiler builds (degree, N, depth, rotations, op counts) and
 * how the simulated circuit agrees with the framework's own outputs on all test rows — the table
 * quoted in notes and the README, from one command:
 *
 *   npx tsx test/tools/compile-summary.ts [--json] [fixture ...]
 */
import { parseArgs } from 'node:util';
import type { Layout } from '../../compiler/circuit/ir';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run-compiled';
import { agreement } from '../helpers/agreement';
import { inputTensor, listFixtures, loadFixture } from '../helpers/fixtures';
import { compileFixture } from './compile-fixture';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
const names = positionals.length > 0 ? positionals : listFixtures();
const rows: Record<string, unknown>[] = [];

for (const name of names) {
  const f = loadFixture(name);
  for (const layout of ['vector', 'batch'] as Layout[]) {
    const compiled = compileFixture(f, layout);
    if ('refused' in compiled) {
      rows.push({ fixture: name, layout, refused: compiled.refused });
      break;
    }
    const { compilation, options } = compiled;
    const model = toCompiledModel(compilation, options, 'summary');
    const input = inputTensor(f.data, f.data.test_inputs);
    const run = await runCompiled(model, input, simulateBackend(model));
    const ops = model.circuit.ops;
    rows.push({
      fixture: name,
      layout,
      degree: compilation.approximations.map((a) => a.degree).join('/') || '–',
      n: model.parameters.polyModulusDegree,
      depth: model.circuit.depth,
      scaleBits: model.parameters.scaleBits,
      rotations: ops.filter((o) => o.op === 'rotate').length,
      ctMuls: ops.filter((o) => o.op === 'mul').length,
      ptMuls: ops.filter((o) => o.op === 'mulPlain' || o.op === 'mulScalar').length,
      rescales: ops.filter((o) => o.op === 'rescale').length,
      agreement: Object.fromEntries(
        f.data.compare.map((c) => [c.output, agreement(f, c.output, c.expected, c.kind, run.values)]),
      ),
      testRows: f.data.test_inputs.length,
    });
  }
}

if (values.json) {
  console.log(JSON.stringify({ rows }, null, 2));
} else {
  console.log('fixture | layout | degree | N | depth | scale bits | rotations | ct×ct | ct×pt | rescales | simulated agreement with expected (test rows)');
  for (const r of rows) {
    if (r.refused) {
      console.log(`${r.fixture} | refused: ${r.refused}`);
      continue;
    }
    const agree = Object.entries(r.agreement as Record<string, number>)
      .map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`)
      .join(', ');
    console.log(
      [r.fixture, r.layout, r.degree, r.n, r.depth, r.scaleBits, r.rotations, r.ctMuls, r.ptMuls, r.rescales, `${agree} of ${r.testRows}`].join(' | '),
    );
  }
}
