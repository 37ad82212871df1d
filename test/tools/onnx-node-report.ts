/**
 * Per-operator outcomes of the ONNX backend node tests (Debian libonnx-testdata) on the float64
 * reference. Usage: npx tsx test/tools/onnx-node-report.ts [--json] [--root DIR]
 *   passed:   outputs match (rtol 1e-3, atol 1e-5; exact for integers, booleans, strings)
 *   rejected: refused at import with UNSUPPORTED_OP / UNSUPPORTED_ATTRIBUTE
 *   failed:   anything else (wrong numbers, crashes, other errors)
 *   skipped:  the model uses an operator without a kernel, or values that are not tensors
 * Exit status 1 when any test failed, 2 when the test data is missing.
 */
import { existsSync } from 'node:fs';
import { countByOp, listCases, NODE_TEST_ROOT, runCase, type CaseResult } from '../conformance/onnx-node-runner';

const args = process.argv.slice(2);
const json = args.includes('--json');
const rootAt = args.indexOf('--root');
const root = rootAt >= 0 ? args[rootAt + 1] ?? '' : NODE_TEST_ROOT;

if (!existsSync(root)) {
  console.error(`ONNX node test data not found at ${root} (apt-get install -y libonnx-testdata)`);
  process.exit(2);
}

const results: CaseResult[] = listCases(root).map(runCase);
const table = countByOp(results);
// An operator is "supported" when some test of it got past classification.
const supported = [...table].filter(([, n]) => n.passed + n.rejected + n.failed > 0).sort(([a], [b]) => a.localeCompare(b));
const unsupported = [...table].filter(([, n]) => n.passed + n.rejected + n.failed === 0).sort(([a, x], [b, y]) => y.skipped - x.skipped || a.localeCompare(b));
const totals = { passed: 0, rejected: 0, failed: 0, skipped: 0 };
for (const r of results) totals[r.outcome]++;

if (json) {
  console.log(
    JSON.stringify(
      {
        root,
        totals,
        operators: Object.fromEntries([...supported, ...unsupported]),
        tests: results.map((r) => ({ name: r.name, ops: r.ops, outcome: r.outcome, detail: r.detail })),
      },
      null,
      2,
    ),
  );
} else {
  const header = `${'operator'.padEnd(22)}${'passed'.padStart(8)}${'rejected'.padStart(10)}${'failed'.padStart(8)}${'skipped'.padStart(9)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const [op, n] of supported) {
    console.log(`${op.padEnd(22)}${String(n.passed).padStart(8)}${String(n.rejected).padStart(10)}${String(n.failed).padStart(8)}${String(n.skipped).padStart(9)}`);
  }
  console.log('-'.repeat(header.length));
  console.log(`${'tests'.padEnd(22)}${String(totals.passed).padStart(8)}${String(totals.rejected).padStart(10)}${String(totals.failed).padStart(8)}${String(totals.skipped).padStart(9)}`);
  for (const r of results.filter((x) => x.outcome === 'rejected' || x.outcome === 'failed')) console.log(`${r.outcome}: ${r.name}: ${r.detail}`);
  console.log(`operators without kernels (${unsupported.length}): ${unsupported.map(([op, n]) => `${op} ${n.skipped}`).join(', ')}`);
}
process.exit(totals.failed > 0 ? 1 : 0);
