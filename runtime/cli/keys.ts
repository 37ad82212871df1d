import { bodySteps } from '../../compiler/client-steps/table';
import { existsSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { readCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import { clientModelOfBody } from '../client/client-model';
import { bodyCircuits } from '../../compiler/artifact/segments';
import { Keystore, PASSPHRASE_ENV } from '../client/keystore';
import { keystoreToken, openKeystore, type KeystoreToken } from '../keys/token-keystore';
import { addPkcs11Options, keystoreTokenOf, type Pkcs11CliOptions } from './pkcs11-options';
import { keystoreClient, secretKeyFingerprint } from '../client/model-keys';
import { LOCAL_SCOPE, serverScope } from '../client/key-scope';
import { entropyOfPhrase, phraseOf, RECOVERY_PHRASE_ENV } from '../client/recovery-phrase';
import { RemoteServer } from '../mcp/remote';
import { resolveToken, TOKEN_ENV } from './client';
import { formatRecoveryPhrase } from './keygen';
import { printJson } from './output';
import { textTable } from '../format/text-table';
import { sealBackend } from '../backends/seal/backend';
import { servedNameOf } from '../service/load-served-model';

/**
 * `deeppowers keys`: what a keystore holds (list), getting a model's evaluation keys to a
 * server (upload), removing a model's key (delete), and the recovery phrase (phrase, recover).
 */

interface KeystoreOption extends Pkcs11CliOptions {
  readonly keystore: string;
  readonly json?: boolean;
}

export interface KeyListing {
  readonly keystore: string;
  readonly recovery_root: boolean;
  readonly keys: readonly {
    /** The name the model was last used under (keygen, keys upload, client), null when the keystore never recorded one. */
    readonly model: string | null;
    readonly model_hash: string;
    /** The server this key is for (its URL); null for the key for local use (`predict --mode fhe`, and every key a keystore made before keys had servers). */
    readonly server: string | null;
    readonly parameter_id: string;
    /** SHA-256 of the secret key's serialization; null when neither DEEPPOWERS_PASSPHRASE nor the keystore's token is given. */
    readonly fingerprint: string | null;
    readonly uploads: readonly { readonly server: string; readonly keys_id: string }[];
  }[];
}

export async function listKeys(dir: string, token?: KeystoreToken): Promise<KeyListing> {
  // Through the token when one is given; otherwise only a passphrase keystore with its passphrase shows fingerprints.
  const keystore = token ? await openKeystore(dir, token, { create: false }) : Keystore.open(dir, undefined, { create: false });
  const canDecrypt = token !== undefined || (Boolean(process.env[PASSPHRASE_ENV]) && keystoreToken(dir) === undefined);
  const uploads = keystore.uploads();
  const names = keystore.modelNames();
  const entries = keystore.listSecretKeys();
  // An upload is listed under the server's own key; one to a server with no key of its own was made by a keystore
  // from before keys had servers, under the model's one key, which reads as the local key.
  const hasOwnKey = (server: string, modelHash: string) => entries.some((e) => e.modelHash === modelHash && e.scope.kind === 'server' && e.scope.server === server);
  return {
    keystore: dir,
    recovery_root: keystore.hasRecoveryRoot(),
    keys: entries.map((k) => ({
      model: names[k.modelHash] ?? null,
      model_hash: k.modelHash,
      server: k.scope.kind === 'server' ? k.scope.server : null,
      parameter_id: k.parameterId,
      fingerprint: canDecrypt ? secretKeyFingerprint(keystore.readSecretKey(k.modelHash, k.scope)!.bytes) : null,
      uploads: Object.entries(uploads).flatMap(([server, byModel]) => {
        const keysId = byModel[k.modelHash];
        const mine = k.scope.kind === 'server' ? k.scope.server === server : !hasOwnKey(server, k.modelHash);
        return keysId !== undefined && mine ? [{ server, keys_id: keysId }] : [];
      }),
    })),
  };
}

function formatListing(l: KeyListing): string {
  let out = `keystore ${l.keystore}: ${l.keys.length} secret key${l.keys.length === 1 ? '' : 's'}; recovery root ${l.recovery_root ? 'present' : 'none (keys made before it existed cannot be recovered from a phrase)'}\n`;
  for (const k of l.keys) {
    out += `\nmodel hash   ${k.model_hash}\n`;
    out += textTable(null, [
      ['model', k.model ?? '(no name recorded: used before names were kept; keygen or keys upload records one)'],
      ['for', k.server ?? 'local use (predict --mode fhe)'],
      ['parameters', k.parameter_id],
      ['fingerprint', k.fingerprint ?? (keystoreToken(l.keystore) ? '(give --pkcs11 <module> to show it: the keystore opens through its token)' : `(set ${PASSPHRASE_ENV} to show it)`)],
      ...k.uploads.map((u) => ['uploaded', `${u.keys_id} to ${u.server}`]),
    ], '  ');
  }
  return out;
}

export interface UploadResult {
  readonly model: string;
  readonly model_hash: string;
  readonly server: string;
  readonly keys_id: string;
  /** `uploaded` now, or `present`: the server already had the keys this keystore recorded. */
  readonly status: 'uploaded' | 'present';
  readonly bytes: number | null;
  readonly fingerprint: string;
  readonly recovery_phrase: string | null;
}

export async function uploadKeys(compiledDir: string, opts: { keystore: string; server: string; token?: string; tokenFile?: string; force?: boolean; keystoreToken?: KeystoreToken }): Promise<UploadResult> {
  const model = readCompiledModel(compiledDir);
  const token = resolveToken(opts);
  const remote = await RemoteServer.connect({ url: opts.server, ...(token ? { token } : {}) });
  try {
    const served = await remote.listModels();
    if (!served.some((m) => m.model_hash === model.modelHash)) {
      const names = served.map((m) => `${m.model} (${m.model_hash.slice(0, 12)}…)`).join(', ') || 'none';
      fail('BAD_ARGUMENT', `the server at ${remote.options.url} does not serve ${compiledDir} (model hash ${model.modelHash}); it serves: ${names}`);
    }
    const keystore = await openKeystore(opts.keystore, opts.keystoreToken);
    const { client, recoveryPhrase } = await keystoreClient(
      sealBackend,
      keystore,
      clientModelOfBody(bodyCircuits(model), model.parameters, model.modelHash, bodySteps(model)),
      serverScope(remote.options.url),
      { name: servedNameOf(compiledDir, model) },
    );
    try {
      const base = { model: model.source.name, model_hash: model.modelHash, server: remote.options.url, fingerprint: secretKeyFingerprint(client.exportSecretKey()), recovery_phrase: recoveryPhrase ?? null };
      const recorded = keystore.uploadedKeysId(remote.options.url, model.modelHash);
      if (recorded && !opts.force && (await remote.hasKeys(recorded))) return { ...base, keys_id: recorded, status: 'present', bytes: null };
      const bundle = client.evaluationKeys();
      await remote.uploadKeys(bundle.keysId, bundle.bytes);
      keystore.recordUpload(remote.options.url, model.modelHash, bundle.keysId);
      return { ...base, keys_id: bundle.keysId, status: 'uploaded', bytes: bundle.bytes.length };
    } finally {
      client.dispose();
    }
  } finally {
    await remote.close();
  }
}

function formatUpload(r: UploadResult, keystore: string): string {
  const what = r.status === 'uploaded' ? `uploaded (${((r.bytes ?? 0) / 1e6).toFixed(2)} MB)` : 'already on the server (recorded in the keystore; --force uploads a new bundle)';
  let out = textTable(null, [
    ['model', `${r.model} (${r.model_hash})`],
    ['server', r.server],
    ['keys id', r.keys_id],
    ['evaluation keys', what],
    ['fingerprint', r.fingerprint],
  ]);
  if (r.recovery_phrase !== null) out += formatRecoveryPhrase(r.recovery_phrase, keystore);
  return out;
}

/** A model hash given directly, or read from a compiled directory. */
function modelHashOf(target: string): string {
  if (/^[0-9a-f]{64}$/.test(target)) return target;
  if (existsSync(target) && statSync(target).isDirectory()) return readCompiledModel(target).modelHash;
  return fail('BAD_ARGUMENT', `${target} is neither a compiled model directory nor a 64-hex-digit model hash`);
}

export interface RecoverResult {
  readonly keystore: string;
  /** `restored`: the root was written now; `unchanged`: the keystore already held this phrase's root. */
  readonly recovery_root: 'restored' | 'unchanged';
  readonly keys: readonly { readonly model: string; readonly model_hash: string; readonly parameter_id: string; readonly fingerprint: string }[];
}

/** The phrase from DEEPPOWERS_RECOVERY_PHRASE, or standard input (typed, or piped). */
async function readPhrase(): Promise<string> {
  const fromEnv = process.env[RECOVERY_PHRASE_ENV];
  if (fromEnv) return fromEnv;
  if (process.stdin.isTTY) process.stderr.write('recovery phrase (24 words, then Enter and Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') fail('BAD_ARGUMENT', `no recovery phrase: give it on standard input or in ${RECOVERY_PHRASE_ENV}`);
  return text;
}

export async function recoverKeystore(dir: string, compiledDirs: readonly string[], phrase: string, token?: KeystoreToken): Promise<RecoverResult> {
  const entropy = entropyOfPhrase(phrase);
  const keystore = await openKeystore(dir, token);
  const existing = keystore.readRecoveryRoot();
  if (existing && !Buffer.from(existing).equals(Buffer.from(entropy))) {
    fail('BAD_ARGUMENT', `keystore ${dir} already holds a different recovery root; recover into an empty directory`);
  }
  if (!existing) keystore.writeRecoveryRoot(entropy);
  const keys: RecoverResult['keys'][number][] = [];
  for (const compiled of compiledDirs) {
    const model = readCompiledModel(compiled);
    // The keys for local use; a server's key is derived when the client first uses that server (or by `keygen --server`).
    const { client } = await keystoreClient(sealBackend, keystore, clientModelOfBody(bodyCircuits(model), model.parameters, model.modelHash, bodySteps(model)), LOCAL_SCOPE, {
      replace: true,
      name: servedNameOf(compiled, model),
    });
    try {
      keys.push({ model: model.source.name, model_hash: model.modelHash, parameter_id: client.model.parameters.parameterId, fingerprint: secretKeyFingerprint(client.exportSecretKey()) });
    } finally {
      client.dispose();
    }
  }
  return { keystore: dir, recovery_root: existing ? 'unchanged' : 'restored', keys };
}

function formatRecover(r: RecoverResult): string {
  let out = `keystore ${r.keystore}: recovery root ${r.recovery_root}; every key is derived from it when first used (deeppowers keygen, predict: the key for local use; client, keys upload: each server's own key)\n`;
  if (r.keys.length > 0) {
    out += textTable(['model', 'model hash', 'fingerprint'], r.keys.map((k) => [k.model, k.model_hash, k.fingerprint]));
  }
  return out;
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description(`manage a keystore: list its keys, upload a model's evaluation keys to a server, delete a key, show or recover the recovery phrase`);

  const list = keys
    .command('list')
    .description(`the secret keys a keystore holds: model name and hash, parameter set, fingerprint (needs ${PASSPHRASE_ENV}) and uploads`)
    .requiredOption('--keystore <dir>', 'keystore directory')
    .option('--json', 'print one JSON object');
  addPkcs11Options(list, 'open a keystore bound to a token through it (to show fingerprints)').action(async (opts: KeystoreOption) => {
    const l = await listKeys(opts.keystore, keystoreTokenOf(opts));
    if (opts.json) printJson(l);
    else process.stdout.write(formatListing(l));
  });

  const upload = keys
    .command('upload')
    .description("upload a model's evaluation keys to a `deeppowers serve` (making the secret key first if the keystore has none)")
    .argument('<compiled>', 'compiled model directory the server serves')
    .requiredOption('--server <url>', 'the server\'s MCP endpoint, e.g. http://127.0.0.1:8750/mcp')
    .requiredOption('--keystore <dir>', `keystore directory (passphrase in ${PASSPHRASE_ENV})`)
    .option('--token <token>', `bearer token (or --token-file, or ${TOKEN_ENV})`)
    .option('--token-file <file>', 'file holding the bearer token (first non-comment line; name:token accepted)')
    .option('--force', 'upload a new bundle even if the server has the recorded one')
    .option('--json', 'print one JSON object');
  addPkcs11Options(upload, 'open a keystore bound to a token through it').action(async (compiled: string, opts: KeystoreOption & { server: string; token?: string; tokenFile?: string; force?: boolean }) => {
    const keystoreTokenRef = keystoreTokenOf(opts);
    const r = await uploadKeys(compiled, { ...opts, ...(keystoreTokenRef ? { keystoreToken: keystoreTokenRef } : {}) });
    if (opts.json) printJson(r);
    else process.stdout.write(formatUpload(r, opts.keystore));
  });

  keys
    .command('delete')
    .description("remove a model's secret keys (for local use and every server) and its upload records from a keystore; a key derived from the recovery phrase can be made again")
    .argument('<model>', 'compiled model directory or model hash')
    .requiredOption('--keystore <dir>', 'keystore directory')
    .option('--json', 'print one JSON object')
    .action((target: string, opts: KeystoreOption) => {
      const modelHash = modelHashOf(target);
      const deleted = Keystore.open(opts.keystore, undefined, { create: false }).deleteSecretKey(modelHash);
      if (!deleted) fail('BAD_ARGUMENT', `keystore ${opts.keystore} holds no key for model ${modelHash}`);
      if (opts.json) printJson({ keystore: opts.keystore, model_hash: modelHash, deleted });
      else process.stdout.write(`deleted the secret keys of model ${modelHash} from ${opts.keystore}\n`);
    });

  const phrase = keys
    .command('phrase')
    .description(`show the keystore's recovery phrase (needs ${PASSPHRASE_ENV}); anyone who has it can rebuild every key`)
    .requiredOption('--keystore <dir>', 'keystore directory')
    .option('--json', 'print one JSON object');
  addPkcs11Options(phrase, 'open a keystore bound to a token through it').action(async (opts: KeystoreOption) => {
    const root = (await openKeystore(opts.keystore, keystoreTokenOf(opts), { create: false })).readRecoveryRoot();
    if (!root) fail('BAD_ARGUMENT', `keystore ${opts.keystore} has no recovery root yet; \`deeppowers keygen <compiled> --keystore ${opts.keystore}\` makes one`);
    if (opts.json) printJson({ keystore: opts.keystore, recovery_phrase: phraseOf(root) });
    else process.stdout.write(formatRecoveryPhrase(phraseOf(root), opts.keystore).trimStart());
  });

  const recover = keys
    .command('recover')
    .description(`rebuild a keystore from its recovery phrase (standard input or ${RECOVERY_PHRASE_ENV}), sealed with ${PASSPHRASE_ENV}`)
    .argument('[compiled...]', "compiled model directories whose keys for local use to rebuild now (others, and every server's key, are rebuilt when first used)")
    .requiredOption('--keystore <dir>', 'keystore directory (created if missing)')
    .option('--json', 'print one JSON object');
  addPkcs11Options(recover, "bind the rebuilt keystore to a token instead of the passphrase (its data key wrapped by an AES key made in the token)").action(async (compiled: string[], opts: KeystoreOption) => {
    const r = await recoverKeystore(opts.keystore, compiled, await readPhrase(), keystoreTokenOf(opts));
    if (opts.json) printJson(r);
    else process.stdout.write(formatRecover(r));
  });
}
