import { bodySteps } from '../../compiler/client-steps/table';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { readCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import { clientModelOfBody } from '../client/client-model';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { PASSPHRASE_ENV } from '../client/keystore';
import { keystoreToken, openKeystore, type KeystoreToken } from '../keys/token-keystore';
import { addPkcs11Options, keystoreTokenOf, type Pkcs11CliOptions } from './pkcs11-options';
import { keystoreClient, secretKeyFingerprint } from '../client/model-keys';
import { LOCAL_SCOPE, serverScope } from '../client/key-scope';
import { printJson } from './output';
import { startProgress } from './progress';
import { textTable } from '../format/text-table';
import { sealBackend } from '../backends/seal/backend';
import { servedNameOf } from '../service/load-served-model';

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
  /** The server whose key this is (`--server`; the key `deeppowers client` and `keys upload` use there), null for the key for local use (`predict --mode fhe`). */
  readonly server: string | null;
  /** Label of the PKCS#11 token whose AES key wraps the keystore's data key; null for a passphrase keystore. */
  readonly token: string | null;
  /** `derived` for a key made now from the keystore's recovery root, `reused` when the keystore already held one for this model. */
  readonly secret_key: 'derived' | 'reused';
  /** SHA-256 of the secret key's serialization; `deeppowers keys list` shows the same, before and after a recovery. */
  readonly fingerprint: string;
  /** The 24-word phrase that rebuilds this keystore's keys, only when this run made the keystore's recovery root; otherwise null. */
  readonly recovery_phrase: string | null;
  /** SHA-256 of this run's evaluation-key bundle: randomized, so it differs per run for the same secret key (the fingerprint does not). */
  readonly keys_id: string;
  readonly eval_key_bytes: number;
  readonly relin_key_bytes: number;
  readonly galois_key_bytes: number;
  readonly rotation_steps: readonly number[];
  readonly keygen_ms: number;
  readonly eval_keys_file: string | null;
}

export async function keygen(compiledDir: string, keystoreDir: string, options: { evalKeys?: string; force?: boolean; token?: KeystoreToken; server?: string } = {}): Promise<KeygenResult> {
  const scope = options.server === undefined ? LOCAL_SCOPE : serverScope(options.server);
  const model = readCompiledModel(compiledDir);
  const keystore = await openKeystore(keystoreDir, options.token);
  const { modelHash } = model;
  const clientModel = clientModelOfBody(bodyCircuits(model), model.parameters, modelHash, bodySteps(model));
  const t = performance.now();
  const progress = startProgress(`keygen N=${model.parameters.polyModulusDegree}`, 2);
  const { client, secretKey, recoveryPhrase } = await keystoreClient(sealBackend, keystore, clientModel, scope, { replace: options.force === true, name: servedNameOf(compiledDir, model) });
  try {
    progress.update(1);
    const bundle = client.evaluationKeys();
    progress.finish();
    const keygenMs = performance.now() - t;
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
      parameter_id: clientModel.parameters.parameterId,
      keystore: keystoreDir,
      server: scope.kind === 'server' ? scope.server : null,
      token: keystoreToken(keystoreDir)?.tokenLabel ?? null,
      secret_key: secretKey === 'stored' ? 'reused' : 'derived',
      fingerprint: secretKeyFingerprint(client.exportSecretKey()),
      recovery_phrase: recoveryPhrase ?? null,
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
  let out = textTable(null, [
    ['model', r.model],
    ['model hash', r.model_hash],
    ...(r.server === null ? [] : [['for server', `${r.server} (its own key: no other server, nor local use, shares it)`]]),
    ['secret key', `${r.secret_key === 'reused' ? 'reused' : 'derived from the recovery phrase'}, encrypted in keystore ${r.keystore}${r.token === null ? '' : ` (data key wrapped by a key in token "${r.token}")`}`],
    ['fingerprint', r.fingerprint],
    ['evaluation keys', `${mb(r.eval_key_bytes)} (relin ${mb(r.relin_key_bytes)}, Galois ${mb(r.galois_key_bytes)} for ${r.rotation_steps.length} rotation steps)`],
    // Key generation is randomized: the same secret key gives a new bundle, so a new id, each run.
    ['keys id', `${r.keys_id} (this bundle's SHA-256; each keygen makes a new one, the fingerprint stays)`],
    ['written to', r.eval_keys_file ?? '(not written; pass --eval-keys <file>, or upload with `deeppowers keys upload`)'],
    ['time', `${r.keygen_ms.toFixed(0)} ms`],
  ]);
  if (r.recovery_phrase !== null) out += formatRecoveryPhrase(r.recovery_phrase, r.keystore);
  return out;
}

/** The phrase as it is shown once: numbered words and what they are for. */
export function formatRecoveryPhrase(phrase: string, keystore: string): string {
  const words = phrase.split(' ');
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += 6) rows.push(`  ${words.slice(i, i + 6).map((w, j) => `${String(i + j + 1).padStart(2)}. ${w.padEnd(9)}`).join(' ').trimEnd()}`);
  return (
    `\nrecovery phrase for keystore ${keystore}: write it down and keep it offline; \`deeppowers keys recover\` rebuilds every key of this keystore from it:\n` +
    `${rows.join('\n')}\n`
  );
}

export function registerKeygen(program: Command): void {
  const command = program
    .command('keygen')
    .description(`make the client's keys for a compiled model: the secret key into an encrypted keystore (passphrase from ${PASSPHRASE_ENV}), evaluation keys optionally to a file for a server`)
    .argument('<compiled>', 'compiled model directory (deeppowers compile)')
    .requiredOption('--keystore <dir>', 'keystore directory (created if missing, mode 0700)')
    .option('--eval-keys <file>', 'also write the evaluation-key bundle (what a server needs) to this file')
    .option('--server <url>', "make the key for this server (the one `deeppowers client --server <url>` and `keys upload` use there; nothing is sent) instead of the key for local use")
    .option('--force', 'replace a secret key the keystore already holds for this model (and server)')
    .option('--json', 'print one JSON object');
  addPkcs11Options(command, "a new keystore's data key is wrapped by an AES key made in the token, and the keystore opens only through it").action(
    async (dir: string, opts: { keystore: string; evalKeys?: string; force?: boolean; server?: string; json?: boolean } & Pkcs11CliOptions) => {
      const token = keystoreTokenOf(opts);
      const r = await keygen(dir, opts.keystore, {
        ...(opts.evalKeys !== undefined ? { evalKeys: opts.evalKeys } : {}),
        ...(opts.force ? { force: true } : {}),
        ...(token ? { token } : {}),
        ...(opts.server !== undefined ? { server: opts.server } : {}),
      });
      if (opts.json) printJson(r);
      else process.stdout.write(formatKeygen(r));
    },
  );
}
