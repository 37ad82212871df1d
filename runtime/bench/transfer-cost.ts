import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { fail } from '../../compiler/errors';
import { parameterId } from '../../compiler/params/parameter-id';
import { createCoeffModulus } from '../../compiler/params/primes';
import { createSealContext, freeAll } from '../backends/seal/context';
import { loadTransferred, saveForTransfer } from '../backends/seal/transfer';

/**
 * What moving one ciphertext between two evaluation threads costs, next to an addition at the
 * same level (both are linear in N × primes, so the ratio carries across machines): saving it
 * uncompressed, posting its buffer through a MessagePort as a transferable (no copy), and loading
 * it on the other side. The parallel-time model (compiler/circuit/parallel-time.ts) charges a
 * transfer as TRANSFER_PER_ADD additions.
 */
export interface TransferCost {
  readonly polyModulusDegree: number;
  readonly level: number;
  readonly bytes: number;
  readonly ms: { readonly add: number; readonly save: number; readonly post: number; readonly load: number };
  /** (save + post + load) / add. */
  readonly perAdd: number;
}

export async function measureTransferCost(n: number, bits: readonly number[], reps = 20): Promise<TransferCost> {
  if (!Number.isInteger(reps) || reps < 1) fail('BAD_ARGUMENT', `reps must be a positive integer, got ${reps}`);
  const primes = createCoeffModulus(n, [...bits]).map((p) => p.toString());
  const ctx = await createSealContext({ polyModulusDegree: n, coeffModulusBits: bits, primes, parameterId: parameterId({ polyModulusDegree: n, primes }) });
  const { seal, encoder, evaluator } = ctx;
  const keygen = new seal.KeyGenerator(ctx.context);
  const pk = keygen.createPublicKey();
  const encryptor = new seal.Encryptor(ctx.context, pk);
  const plain = new seal.Plaintext();
  const a = new seal.Ciphertext();
  const sum = new seal.Ciphertext();
  const { port1, port2 } = new MessageChannel();
  try {
    encoder.encode(Float64Array.from({ length: ctx.slots }, (_, i) => Math.sin(i)), 2 ** 30, plain);
    encryptor.encrypt(plain, a);
    const time = (op: () => void): number => {
      op();
      const t = performance.now();
      for (let i = 0; i < reps; i++) op();
      return (performance.now() - t) / reps;
    };
    const add = time(() => evaluator.add(a, a, sum));
    let bytes = saveForTransfer(ctx, a);
    const save = time(() => (bytes = saveForTransfer(ctx, a)));
    const post = time(() => {
      const b = saveForTransfer(ctx, a);
      port1.postMessage(b, [b.buffer]);
      receiveMessageOnPort(port2);
    }) - save;
    const load = time(() => loadTransferred(ctx, bytes).delete());
    const total = save + Math.max(0, post) + load;
    return { polyModulusDegree: n, level: ctx.maxLevel, bytes: bytes.length, ms: { add, save, post: Math.max(0, post), load }, perAdd: total / add };
  } finally {
    port1.close();
    freeAll(a, sum, plain, encryptor, pk, keygen);
    ctx.dispose();
  }
}

// `npx tsx runtime/bench/transfer-cost.ts [--reps 20]`: N = 8192 and 16384 at a few chain lengths.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--reps');
  const reps = i >= 0 ? Number(process.argv[i + 1]) : 20;
  const chains: [number, number[]][] = [
    [8192, [60, 40, 40, 60]],
    [16384, [60, 40, 40, 40, 40, 60]],
    [16384, [60, 40, 40, 40, 40, 40, 40, 40, 60]],
  ];
  for (const [n, bits] of chains) {
    const r = await measureTransferCost(n, bits, reps);
    process.stdout.write(
      `N=${n} level ${r.level}: ${(r.bytes / 1e6).toFixed(2)} MB, add ${r.ms.add.toFixed(3)} ms, save ${r.ms.save.toFixed(3)} ms, post ${r.ms.post.toFixed(3)} ms, load ${r.ms.load.toFixed(3)} ms = ${r.perAdd.toFixed(1)} additions\n`,
    );
  }
}
