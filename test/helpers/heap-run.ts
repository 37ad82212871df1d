/**
 * Child process of test/e2e/default-plans.test.ts: loads a compiled model, makes its keys and
 * runs one test row encrypted on SEAL (client and server in this one node-seal instance, as
 * `predict --mode fhe` does), then prints one JSON line: the WASM heap the instance claimed (its
 * linear memory only grows, so this is the peak) and the row's body outputs. A run that overflows
 * the heap fails here, not in the test's own process.
 *
 *   node --import tsx test/helpers/heap-run.ts <compiled dir> <fixture>
 */
import { readCompiledModel } from '../../compiler/artifact/files';
import { sealHeapBytes } from '../../runtime/backends/seal/seal-module';
import { runCompiled } from '../../runtime/run/run-compiled';
import { fheBackend } from '../../runtime/run/run-encrypted';
import { inputTensor, loadFixture } from './fixtures';

const [dir, name] = process.argv.slice(2);
if (!dir || !name) throw new Error('usage: heap-run.ts <compiled dir> <fixture>');
const model = readCompiledModel(dir);
const f = loadFixture(name);
const run = await runCompiled(model, inputTensor(f.data, f.data.test_inputs.slice(0, 1)), fheBackend(model).backend);
process.stdout.write(`${JSON.stringify({ heapBytes: await sealHeapBytes(), bodyOutputs: run.bodyOutputs.map((r) => [...r]) })}\n`);
