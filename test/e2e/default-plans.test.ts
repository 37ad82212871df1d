/**
 * Defaults that run (issue 22): every fixture the compiler accepts compiles with default options
 * to a plan whose heap, recomputed from the artifact (params/sizes.ts), is within node-seal's
 * budget; the heaviest then make their keys and run one encrypted row in a child process, whose
 * measured WASM heap must stay under that estimate (the estimate is an upper bound, so the budget
 * check means something) and under 4 GiB, with outputs within the model's precision promise of
 * the simulation. On the compiler before the planner knew the heap, pt_mlp_digits_relu and
 * pt_resmlp_digits compiled to one circuit at N = 32768 and pt_lenet_digits16 to one at N = 32768
 * that missed its promise, all three estimated over the budget.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCompiledModel } from '../../compiler/artifact/files';
import { bodyCircuits } from '../../compiler/artifact/segments';
import type { CompiledModel } from '../../compiler/artifact/types';
import { HEAP_BUDGET_BYTES, WASM_HEAP_BYTES } from '../../compiler/params/sizes';
import { planMemory } from '../../compiler/plan/plan-memory';
import { runCompiled, simulateBackend } from '../../runtime/run/run-compiled';
import { compiledFixture } from '../helpers/compiled-fixture';
import { FIXTURE_STAGE } from '../helpers/fixture-status';
import { inputTensor, listFixtures, loadFixture } from '../helpers/fixtures';
import { ROOT } from '../helpers/paths';

/** The heaviest plans: two-ReLU and residual MLPs, the 16×16 LeNet, the CNN with the most rotation steps, the max-pool CNN. */
const HEAVY = ['pt_resmlp_digits', 'pt_mlp_digits_relu', 'pt_lenet_digits16', 'pt_cnn_stride2_digits', 'pt_cnn_maxpool_digits'];

const work = mkdtempSync(join(tmpdir(), 'default-plans-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const compiled = new Map<string, CompiledModel>();

const accepted = listFixtures().filter((n) => FIXTURE_STAGE[n] !== 'refused-at-import' && FIXTURE_STAGE[n] !== 'refused-at-compile');

describe('every fixture with default options', () => {
  it('names the heavy fixtures among those the compiler accepts', () => {
    for (const n of HEAVY) expect(accepted).toContain(n);
  });

  for (const name of accepted) {
    it(`${name}: its plan fits the heap budget and keeps its promise`, () => {
      const model = compiledFixture(loadFixture(name));
      // Kept before the checks, so the heavy runs below try even a plan the estimate refuses.
      compiled.set(name, model);
      const memory = planMemory(model.parameters, bodyCircuits(model));
      expect(memory.total, `${(memory.total / 2 ** 30).toFixed(2)} GiB at N=${model.parameters.polyModulusDegree}`).toBeLessThanOrEqual(HEAP_BUDGET_BYTES);
      expect(model.calibration.precision.reached).toBe(true);
    }, 120_000);
  }
});

/** Children at once: one per core of a 2-core CI machine (each holds up to ~2 GB). */
const CHILDREN = 2;
let running = 0;
const waiting: (() => void)[] = [];

/** Runs heap-run.ts on `dir`, at most CHILDREN at a time; resolves with its exit code and output. */
async function heapRun(dir: string, name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (running >= CHILDREN) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'heap-run.ts'), dir, name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

describe('the heaviest: keygen and one encrypted row in a child process', () => {
  for (const name of HEAVY) {
    it.concurrent(`${name}: the measured WASM heap stays under the estimate and 4 GiB; the row is within the promise`, async () => {
      const model = compiled.get(name);
      if (!model) throw new Error(`${name} did not compile above`);
      const dir = join(work, name);
      writeCompiledModel(dir, model);
      const child = await heapRun(dir, name);
      expect(child.code, child.stderr.slice(-2000)).toBe(0);
      const { heapBytes, bodyOutputs } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { heapBytes: number; bodyOutputs: number[][] };
      const estimate = planMemory(model.parameters, bodyCircuits(model)).total;
      expect(heapBytes).toBeLessThanOrEqual(estimate);
      expect(heapBytes).toBeLessThan(WASM_HEAP_BYTES);
      const f = loadFixture(name);
      const simulated = await runCompiled(model, inputTensor(f.data, f.data.test_inputs.slice(0, 1)), simulateBackend(model));
      const { bound } = model.calibration.precision;
      bodyOutputs[0]!.forEach((v, i) => expect(Math.abs(v - simulated.bodyOutputs[0]![i]!)).toBeLessThan(bound));
    }, 300_000);
  }
});
