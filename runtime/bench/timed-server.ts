import { performance } from 'node:perf_hooks';
import type { Ciphertext } from 'node-seal';
import type { Circuit } from '../../compiler/circuit/ir';
import { fail } from '../../compiler/errors';
import type { CkksParameters } from '../../compiler/params/types';
import { loadCiphertexts, saveCiphertext } from '../backends/seal/ciphertexts';
import { checkCircuitFits, contextSpecOf } from '../backends/backend';
import { createSealContext, freeAll, type SealCkksContext } from '../backends/seal/context';
import { readEnvelope, writeEnvelope } from '../wire/envelope';
import { executeCircuit } from '../backends/seal/executor';
import { loadEvaluationKeys, type SealEvaluationKeys } from '../backends/seal/keys';
import { createPlaintextCache, type PlaintextCache } from '../backends/seal/plaintext-cache';

/**
 * The server's evaluation of one request, step by step with a clock on each: the same SEAL
 * backend calls FheServer.evaluate makes (envelope check, ciphertext loading and checks, circuit,
 * result serialization), so the benchmark can tell the circuit's time — what the cost model
 * predicts — from the time spent on the wire format around it.
 */
export interface TimedEvaluation {
  readonly result: Uint8Array;
  /** Envelope check and ciphertext loading. */
  readonly loadMs: number;
  readonly executeMs: number;
  /** Result ciphertexts serialized into the result envelope. */
  readonly saveMs: number;
  readonly totalMs: number;
  /** CPU time this thread spent on it (totalMs less the time other processes had the core). */
  readonly cpuMs: number;
}

export class TimedServer {
  private constructor(
    private readonly circuit: Circuit,
    private readonly modelHash: string,
    private readonly ctx: SealCkksContext,
    private readonly keys: SealEvaluationKeys,
    private readonly cache: PlaintextCache,
    private readonly inputScale: number,
    /** Loading and checking the evaluation keys. */
    readonly keyLoadMs: number,
  ) {}

  static async create(circuit: Circuit, parameters: CkksParameters, modelHash: string, evalKeys: Uint8Array): Promise<TimedServer> {
    const ctx = await createSealContext(contextSpecOf(parameters));
    try {
      checkCircuitFits(ctx.spec, circuit);
      const input = circuit.ops.find((op) => op.op === 'input') ?? fail('BAD_ARTIFACT', 'the circuit has no inputs');
      const t = performance.now();
      const env = readEnvelope(evalKeys, { kind: 'eval-keys', modelHash, parameterId: ctx.spec.parameterId, count: 2 });
      const [relin, galois] = env.parts;
      const keys = loadEvaluationKeys(
        ctx,
        { relin: relin!.length ? relin! : null, galois: galois!.length ? galois! : null },
        { relin: circuit.ops.some((op) => op.op === 'relin'), rotationSteps: circuit.rotationSteps },
      );
      const keyLoadMs = performance.now() - t;
      return new TimedServer(circuit, modelHash, ctx, keys, createPlaintextCache(ctx), input.scale, keyLoadMs);
    } catch (e) {
      ctx.dispose();
      throw e;
    }
  }

  /** One request holding exactly one evaluation's input ciphertexts. */
  evaluate(request: Uint8Array): TimedEvaluation {
    const { ctx, circuit } = this;
    const t0 = performance.now();
    const cpu = process.threadCpuUsage();
    const env = readEnvelope(request, { kind: 'ciphertexts', modelHash: this.modelHash, parameterId: ctx.spec.parameterId, count: circuit.inputs.length });
    const inputs = loadCiphertexts(ctx, env.parts, (i) => ({ level: circuit.topLevel, scale: this.inputScale, label: `input ciphertext ${i}` }));
    let outputs: Ciphertext[] = [];
    try {
      const t1 = performance.now();
      outputs = executeCircuit(ctx, circuit, inputs, this.keys, this.cache);
      const t2 = performance.now();
      const parts = outputs.map((ct) => saveCiphertext(ctx, ct));
      const result = writeEnvelope({ kind: 'result', modelHash: this.modelHash, parameterId: ctx.spec.parameterId, parts });
      const t3 = performance.now();
      const used = process.threadCpuUsage(cpu);
      return { result, loadMs: t1 - t0, executeMs: t2 - t1, saveMs: t3 - t2, totalMs: t3 - t0, cpuMs: (used.user + used.system) / 1000 };
    } finally {
      freeAll(...outputs, ...inputs);
    }
  }

  dispose(): void {
    this.keys.dispose();
    this.cache.dispose();
    this.ctx.dispose();
  }
}
