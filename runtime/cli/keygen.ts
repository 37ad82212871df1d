import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { readCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import { contextSpecOf } from '../backends/backend';
import { clientModelOf } from '../client/client-model';
import { FheClient } from '../client/fhe-client';
import { Keystore, PASSPHRASE_ENV } from '../client/keystore';
import { printJson } from './output';
import { textTable } from '../format/text-table';
import { sealBackend } from '../backends/seal/backend';

/**
 * `deeppowers keygen`: the client's keys for one compiled model. The secret key goes into the
 * encrypted keystore (never anywhere else); the evaluation keys, which are safe to hand to a
 * server, are written to a file when asked for (the keystore does not keep them: they are
 * regenerated from the secret key whenever a server needs them).
 */
export interface KeygenResult {
  readonly model: string;
  readonly model_hash: string;
  readonly parameter_id: string;
  readonly keystore: string;
  /** `created` for a new secret key, `reused` when the keystore already held one for this model. */
  readonly secret_key: 'created' | 'reused';
  readonly keys_id: string;
  readonly eval_key_bytes: number;
  readonly relin_key_bytes: number;
  readonly galois_key_bytes: number;
  readonly rotation_steps: readonly number[];
  readonly keygen_ms: number;
  readonly eval_keys_file: string | null;
}

export async function keygen(compiledDir: string, keystoreDir: string, options: { evalKeys?: string; force?: boolean } = {}): Promise<KeygenResult> {
  const model = readCompiledModel(compiledDir);
  const keystore = Keystore.open(keystoreDir);
  const { modelHash } = model;
  const spec = contextSpecOf(model.parameters);
  const existing = !options.force && keystore.hasSecretKey(modelHash) ? keystore.readSecretKey(modelHash) : undefined;
  if (existing && existing.parameterId !== spec.parameterId) {
    fail('BAD_ARGUMENT', `the keystore's key for this model is for parameter set ${existing.parameterId}, not ${spec.parameterId}; use --force to replace it`);
  }
  const t = performance.now();
  const client = await FheClient.create(sealBackend, clientModelOf(model.circuit, model.parameters, modelHash), existing?.bytes);
  try {
    const bundle = client.evaluationKeys();
    const keygenMs = performance.now() - t;
    if (!existing) keystore.writeSecretKey(modelHash, spec.parameterId, client.exportSecretKey());
    if (options.evalKeys !== undefined) {
      try {
        writeFileSync(options.evalKeys, bundle.bytes);
      } catch (e) {
        fail('IO', `cannot write evaluation keys to ${options.evalKeys}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    return {
      model: model.source.name,
      model_hash: modelHash,
      parameter_id: spec.parameterId,
      keystore: keystoreDir,
      secret_key: existing ? 'reused' : 'created',
      keys_id: bundle.keysId,
      eval_key_bytes: bundle.bytes.length,
      relin_key_bytes: bundle.relinBytes,
      galois_key_bytes: bundle.galoisBytes,
      rotation_steps: model.circuit.rotationSteps,
      keygen_ms: keygenMs,
      eval_keys_file: options.evalKeys ?? null,
    };
  } finally {
    client.dispose();
  }
}

export function formatKeygen(r: KeygenResult): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  return textTable(null, [
    ['model', `${r.model} (${r.model_hash.slice(0, 12)}…)`],
    ['secret key', `${r.secret_key}, encrypted in keystore ${r.keystore}`],
    ['evaluation keys', `${mb(r.eval_key_bytes)} (relin ${mb(r.relin_key_bytes)}, Galois ${mb(r.galois_key_bytes)} for ${r.rotation_steps.length} rotation steps), id ${r.keys_id.slice(0, 12)}…`],
    ['written to', r.eval_keys_file ?? '(not written; pass --eval-keys <file>)'],
    ['time', `${r.keygen_ms.toFixed(0)} ms`],
  ]);
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description(`make the client's keys for a compiled model: the secret key into an encrypted keystore (passphrase from ${PASSPHRASE_ENV}), evaluation keys optionally to a file for a server`)
    .argument('<compiled>', 'compiled model directory (deeppowers compile)')
    .requiredOption('--keystore <dir>', 'keystore directory (created if missing, mode 0700)')
    .option('--eval-keys <file>', 'also write the evaluation-key bundle (what a server needs) to this file')
    .option('--force', 'replace a secret key the keystore already holds for this model')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, opts: { keystore: string; evalKeys?: string; force?: boolean; json?: boolean }) => {
      const r = await keygen(dir, opts.keystore, { ...(opts.evalKeys !== undefined ? { evalKeys: opts.evalKeys } : {}), ...(opts.force ? { force: true } : {}) });
      if (opts.json) printJson(r);
      else process.stdout.write(formatKeygen(r));
    });
}
