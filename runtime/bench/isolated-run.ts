import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Layout } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import type { SealOpsBenchResult } from './seal-ops';
import type { BenchResult } from './bench-model';
import type { BenchFailure } from './bench-targets';

const BIN = fileURLToPath(new URL('../../bin/deeppowers.js', import.meta.url));

export interface IsolatedOutcome {
  readonly result: BenchResult | BenchFailure;
  readonly ops: Record<string, SealOpsBenchResult[]>;
}

/**
 * One fixture/layout benchmarked in a child process. node-seal's WASM heap only grows (up to
 * 4 GiB) and is never given back, so after a model that needed gigabytes the next one would run
 * in a nearly full, fragmented heap; a fresh process per model keeps runs independent and makes
 * each one's peak RSS and WASM heap its own.
 */
export function benchInChild(model: string, layout: Layout, args: readonly string[], log: (line: string) => void): Promise<IsolatedOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'bench', '--in-process', '--json', '--soak', '0', '--models', model, '--layouts', layout, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      for (const line of d.split('\n')) if (line.trim() !== '' && !line.startsWith(model)) log(line);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      try {
        if (code !== 0) fail('IO', `the benchmark of ${model} (${layout}) exited with ${signal ?? code}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
        const report = JSON.parse(stdout) as { results: (BenchResult | BenchFailure)[]; ops: Record<string, SealOpsBenchResult[]> };
        const result = report.results[0];
        if (!result) fail('IO', `the benchmark of ${model} (${layout}) returned no result`);
        resolve({ result, ops: report.ops });
      } catch (e) {
        reject(e);
      }
    });
  });
}
