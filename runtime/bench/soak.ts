import { performance } from 'node:perf_hooks';
import { sealHeapBytes } from '../backends/seal/seal-module';
import { clientModelOf } from '../client/client-model';
import { FheClient } from '../client/fhe-client';
import { FheServer, serverModelOf } from '../server/fhe-server';
import type { EncryptedModel } from '../run/run-encrypted';
import { sealBackend } from '../backends/seal/backend';

/**
 * Many evaluations of one model through the real server API, to show that memory stays flat:
 * every SEAL object an evaluation makes must be freed, or the WASM heap (which only grows) and
 * the process RSS creep up request after request.
 */
export interface SoakResult {
  readonly model: string;
  readonly layout: string;
  readonly evaluations: number;
  readonly total_ms: number;
  readonly ms_per_evaluation: number;
  /** Measured after a warm-up of `warmup` evaluations, and after the soak. */
  readonly warmup: number;
  readonly wasm_heap_before: number;
  readonly wasm_heap_after: number;
  readonly wasm_heap_growth: number;
  readonly rss_before: number;
  readonly rss_after: number;
  readonly rss_growth: number;
  /** Largest difference of any decrypted output from the first evaluation's (fresh noise each time, so small but not zero). */
  readonly max_abs_drift: number;
}

export async function soak(name: string, model: EncryptedModel, sample: Float64Array, evaluations: number, onProgress: (done: number) => void = () => {}): Promise<SoakResult> {
  const server = new FheServer(sealBackend);
  const client = await FheClient.create(sealBackend, clientModelOf(model.circuit, model.parameters, model.modelHash));
  try {
    const modelId = await server.loadModel(serverModelOf(model.circuit, model.parameters, model.modelHash));
    const keysId = server.loadKeys(client.evaluationKeys().bytes);
    // Each evaluation gets a fresh encryption, as real requests do.
    const once = async (): Promise<Float64Array> => {
      const request = client.encrypt([sample]);
      const result = await server.evaluate(modelId, keysId, request.bytes);
      return client.decrypt(result, request.samples)[0]!;
    };
    const warmup = Math.min(50, evaluations);
    const reference = await once();
    for (let i = 1; i < warmup; i++) await once();
    const heapBefore = await sealHeapBytes();
    const rssBefore = process.memoryUsage().rss;
    let drift = 0;
    const t = performance.now();
    for (let i = 0; i < evaluations; i++) {
      (await once()).forEach((v, k) => (drift = Math.max(drift, Math.abs(v - reference[k]!))));
      if ((i + 1) % 100 === 0) onProgress(i + 1);
    }
    const totalMs = performance.now() - t;
    const heapAfter = await sealHeapBytes();
    const rssAfter = process.memoryUsage().rss;
    return {
      model: name,
      layout: model.circuit.layout,
      evaluations,
      total_ms: totalMs,
      ms_per_evaluation: totalMs / evaluations,
      warmup,
      wasm_heap_before: heapBefore,
      wasm_heap_after: heapAfter,
      wasm_heap_growth: heapAfter - heapBefore,
      rss_before: rssBefore,
      rss_after: rssAfter,
      rss_growth: rssAfter - rssBefore,
      max_abs_drift: drift,
    };
  } finally {
    client.dispose();
    server.dispose();
  }
}
