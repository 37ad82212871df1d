import { readFileSync } from 'node:fs';
import { median } from './median';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { fail } from '../../compiler/errors';
import type { NumericTensor } from '../../compiler/graph/tensor';
import type { RowSpec } from '../data/row-spec';

/**
 * The plaintext baseline: the same ONNX model in onnxruntime-node, one thread, so the slowdown
 * of encrypted inference is against a fair single-core run. Median of `reps` timed runs after
 * a warm-up.
 */
export interface OrtTiming {
  readonly oneSampleMs: number;
  /** `samples` rows, in chunks of the model's fixed batch size when it has one. */
  readonly batchMs: number;
  readonly samples: number;
}

type OrtData = Float32Array | Float64Array | Int32Array | BigInt64Array;

function typedRows(spec: RowSpec, values: Float64Array): { type: ort.Tensor.Type; data: OrtData } {
  switch (spec.dtype) {
    case 'float32':
      return { type: 'float32', data: Float32Array.from(values) };
    case 'float64':
      return { type: 'float64', data: Float64Array.from(values) };
    case 'int32':
      return { type: 'int32', data: Int32Array.from(values) };
    case 'int64':
      return { type: 'int64', data: BigInt64Array.from(values, (v) => BigInt(v)) };
    default:
      return fail('BAD_ARGUMENT', `onnxruntime timing does not feed ${spec.dtype} inputs`);
  }
}

export async function timeOnnxRuntime(modelPath: string, spec: RowSpec, rows: NumericTensor, samples: number, reps: number): Promise<OrtTiming> {
  const session = await ort.InferenceSession.create(readFileSync(modelPath), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const size = spec.rowShape.reduce((a, b) => a * b, 1);
    const available = rows.shape[0]!;
    const feed = (count: number, first: number): Record<string, ort.Tensor> => {
      const values = new Float64Array(count * size);
      for (let r = 0; r < count; r++) {
        const src = (first + r) % available;
        values.set(rows.data.subarray(src * size, (src + 1) * size), r * size);
      }
      const { type, data } = typedRows(spec, values);
      return { [spec.inputName]: new ort.Tensor(type, data, [count, ...spec.rowShape]) };
    };
    const timed = async (run: () => Promise<unknown>): Promise<number> => {
      await run();
      const ms: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        await run();
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    // onnxruntime-node cannot return sequence-of-map outputs (ZipMap); fetch the tensors only,
    // which are computed by the same nodes the maps are built from.
    const tensorOutputs = session.outputMetadata.filter((m) => m.isTensor).map((m) => m.name);
    const run = (f: Record<string, ort.Tensor>) => session.run(f, tensorOutputs);
    const one = feed(1, 0);
    const oneSampleMs = await timed(() => run(one));
    const chunk = spec.fixedBatch ?? samples;
    const chunks = Array.from({ length: Math.ceil(samples / chunk) }, (_, c) => feed(spec.fixedBatch ?? Math.min(chunk, samples - c * chunk), c * chunk));
    const batchMs = await timed(async () => {
      for (const f of chunks) await run(f);
    });
    return { oneSampleMs, batchMs, samples };
  } finally {
    await session.release();
  }
}
