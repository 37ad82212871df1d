/**
 * Per fixture and layout: what the compiler builds (degree, N, depth, rotations, op counts) and
 * how the simulated circuit agrees with the framework's own outputs on all test rows — the table
 * quoted in notes and the README, from one command:
 *
 *   npx tsx test/tools/compile-summary.ts [--json | --readme] [--layouts vector,batch] [fixture ...]
 *
 * --readme rewrites the measured-agreement table of docs/supported-models.md (between its fixture-agreement markers)
 * from the fixtures named (all of them by default), with default compile options in every layout
 * the compiler supports.
 */
import { parseArgs } from 'node:util';
import type { Layout } from '../../compiler/circuit/ir';
import { toCompiledModel } from '../../compiler/pipeline/compiled-model';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { agreement } from '../helpers/agreement';
import { inputTensor, listFixtures, loadFixture } from '../helpers/fixtures';
import { compileFixture } from './compile-fixture';
import { FIXTURE_AGREEMENT_SECTION, writeReadmeSection } from './readme-section';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { json: { type: 'boolean', default: false }, readme: { type: 'boolean', default: false }, layouts: { type: 'string', default: 'vector,batch' } },
});
const names = positionals.length > 0 ? positionals : listFixtures();
const rows: Record<string, unknown>[] = [];

for (const name of names) {
  const f = loadFixture(name);
  const layouts = values.layouts.split(',') as Layout[];
  const compiled = layouts.map((layout) => ({ layout, result: compileFixture(f, layout) }));
  const reasons = compiled.map(({ result }) => ('refused' in result ? result.refused : undefined));
  // A model refused in every layout for one reason is one row; a layout the model does not offer (trees: vector) is its own.
  if (reasons.every((r) => r !== undefined && r === reasons[0])) {
    rows.push({ fixture: name, refused: reasons[0] });
    continue;
  }
  for (const { layout, result } of compiled) {
    if ('refused' in result) {
      rows.push({ fixture: name, layout, refused: result.refused });
      continue;
    }
    const { compilation, options } = result;
    const model = toCompiledModel(compilation, options, 'summary');
    const input = inputTensor(f.data, f.data.test_inputs);
    const run = await runCompiled(model, input, simulateBackend(model));
    const ops = model.circuit.ops;
    rows.push({
      fixture: name,
      layout,
      activations: [...new Set(compilation.approximations.map((a) => a.fn))].join(', ') || '–',
      degree: compilation.approximations.map((a) => a.degree).join('/') || '–',
      n: model.parameters.polyModulusDegree,
      depth: model.circuit.depth,
      scaleBits: model.parameters.scaleBits,
      rotations: ops.filter((o) => o.op === 'rotate').length,
      ctMuls: ops.filter((o) => o.op === 'mul').length,
      ptMuls: ops.filter((o) => o.op === 'mulPlain' || o.op === 'mulScalar').length,
      rescales: ops.filter((o) => o.op === 'rescale').length,
      promiseReached: compilation.precision.reached,
      agreement: Object.fromEntries(
        f.data.compare.map((c) => [c.output, agreement(f, c.output, c.expected, c.kind, run.values)]),
      ),
      testRows: f.data.test_inputs.length,
    });
  }
}

function agreementText(r: Record<string, unknown>): string {
  return Object.entries(r.agreement as Record<string, number>)
    .map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`)
    .join(', ');
}

function markdown(): string {
  const lines = [
    '| Fixture | Layout | Activations | Degree | N | Simulated agreement with the framework (test rows) |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const why = String(r.refused ?? '').replace(/\|/g, '\\|');
    if (r.refused) lines.push(`| ${r.fixture} | ${r.layout ?? '–'} | – | – | – | refused: ${why} |`);
    else lines.push(`| ${r.fixture} | ${r.layout} | ${r.activations} | ${r.degree} | ${r.n} | ${agreementText(r)} of ${r.testRows}${r.promiseReached ? '' : ' (misses its 1% promise)'} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (values.readme) {
  writeReadmeSection(FIXTURE_AGREEMENT_SECTION, markdown());
  console.log(`docs/supported-models.md: measured agreement of ${names.length} fixtures written`);
} else if (values.json) {
  console.log(JSON.stringify({ rows }, null, 2));
} else {
  console.log('fixture | layout | degree | N | depth | scale bits | rotations | ct×ct | ct×pt | rescales | simulated agreement with expected (test rows)');
  for (const r of rows) {
    if (r.refused) {
      console.log(`${r.fixture} | refused: ${r.refused}`);
      continue;
    }
    const agree = agreementText(r);
    console.log(
      [r.fixture, r.layout, r.degree, r.n, r.depth, r.scaleBits, r.rotations, r.ctMuls, r.ptMuls, r.rescales, `${agree} of ${r.testRows}`].join(' | '),
    );
  }
}
