/**
 * `deeppowers` for Node programs: compile an ONNX model, load a compiled one, run rows through
 * it encrypted on this machine, serve models as MCP tools over HTTP, and be the private client of
 * a remote server. Each function here is the library form of a CLI command, built from the same
 * modules; `docs/api.md` shows each in a few lines. Node >= 22 (node-seal's WebAssembly).
 */
import { readFileSync } from 'node:fs';
import { writeCompiledModel, readCompiledModel } from '../../compiler/artifact/files';
import type { CompiledModel } from '../../compiler/artifact/types';
import { fail } from '../../compiler/errors';
import type { CompileOptions } from '../../compiler/pipeline/compile';
import type { FheBackend } from '../backends/backend';
import { sealBackend } from '../backends/seal/backend';
import { Keystore } from '../client/keystore';
import type { RowBatch } from '../data/load-rows';
import { flattenRow } from '../data/flatten-row';
import type { RowSpec } from '../data/row-spec';
import { startHttpServer } from '../mcp/http';
import { loadServedModel } from '../service/load-served-model';
import { PrivateModel, type PrivatePrediction } from '../mcp/private-model';
import { RemoteServer } from '../mcp/remote';
import { DeepPowersService } from '../mcp/service';
import { loadUi } from '../mcp/static-ui';
import { TokenTable } from '../mcp/tokens';
import type { RowOutputs } from '../run/outputs';
import { predictEncrypted } from '../run/predict-encrypted';
import { compileOnnxFile, writeCompiledDirectory, type OnnxFileCompileOptions } from './compile-file';

export type { CompiledModel, CompileOptions, FheBackend, PrivatePrediction, RowOutputs };
export { readCompiledModel as loadCompiledModel, writeCompiledModel };
export { sealBackend } from '../backends/seal/backend';
export { simulationBackend } from '../backends/simulation-backend';
export { FheClient } from '../client/fhe-client';
export { Keystore } from '../client/keystore';
export { keystoreClient, secretKeyFingerprint } from '../client/model-keys';
export { LOCAL_SCOPE, serverScope, type KeyScope } from '../client/key-scope';
export { entropyOfPhrase, phraseOf } from '../client/recovery-phrase';
export { createPrivateClientServer } from '../mcp/client';
export { startHttpServer } from '../mcp/http';
export { createMcpServer } from '../mcp/server';
export { DeepPowersService } from '../mcp/service';
export { loadServedModel } from '../service/load-served-model';
export { PrivateModel } from '../mcp/private-model';
export { RemoteServer } from '../mcp/remote';
export { DeepPowersError } from '../../compiler/errors';

export interface CompileFileOptions extends OnnxFileCompileOptions {
  /** Calibration rows: a JSON or CSV data file, as `deeppowers compile --calibration` reads it. */
  readonly calibration: string;
  /** Write the compiled model to this directory too, with the source ONNX beside it, as `deeppowers compile` does (what `serve` loads and `report` reads). */
  readonly output?: string;
  /** Recorded in the manifest as the compiling tool's version. */
  readonly toolVersion?: string;
}

/** `deeppowers compile`: an ONNX file and calibration rows to a compiled model (written to `output` when given, with the source ONNX). */
export function compile(onnxFile: string, options: CompileFileOptions): CompiledModel {
  const { output, toolVersion, ...rest } = options;
  const { model } = compileOnnxFile(onnxFile, rest, toolVersion ?? packageVersion());
  if (output !== undefined) writeCompiledDirectory(output, model, onnxFile);
  return model;
}

/**
 * Rows (each a flat or nested array of numbers in the model's input shape) through a compiled
 * model with the body on real ciphertexts on this machine: keys made here, encrypted, evaluated,
 * decrypted. The simulation backend (`simulationBackend()`) gives the float64 reference instead.
 */
export async function predictPrivately(model: CompiledModel, rows: readonly unknown[], options: { readonly backend?: FheBackend } = {}): Promise<RowOutputs> {
  const spec = specOf(model);
  const flat = rows.map((row, i) => flattenRow(row, spec.rowShape, `row ${i + 1}`, spec.inputName));
  const width = spec.rowShape.reduce((a, b) => a * b, 1);
  const values = new Float64Array(flat.length * width);
  flat.forEach((r, i) => values.set(r, i * width));
  const batch: RowBatch = { file: 'rows', rows: flat.length, rowShape: spec.rowShape, values };
  return (await predictEncrypted(model, batch, { backend: options.backend ?? sealBackend })).outputs;
}

function specOf(model: CompiledModel): RowSpec {
  const { input } = model;
  if (input.dtype === 'string') fail('BAD_ARTIFACT', `model input ${input.name} holds strings; rows give numbers only`);
  return { inputName: input.name, dtype: input.dtype, rowShape: input.shape, fixedBatch: null };
}

export interface ServeOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Bearer tokens, one per line (`name:token` names the tenant); without it, loopback only and no authentication. */
  readonly tokens?: string;
  /** Where uploaded evaluation keys, tasks, the transparency log and the server's keys are kept. */
  readonly dataDir: string;
  /** Serve the browser page at / (needs `npm run build`, done when the package is installed). */
  readonly ui?: boolean;
  readonly backend?: FheBackend;
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:8750/mcp (the page, with `ui`, is at its origin's /). */
  readonly url: string;
  close(): Promise<void>;
}

/** `deeppowers serve --http`: compiled model directories as MCP tools (predict_<model>) over Streamable HTTP. */
export async function serve(compiledDirs: readonly string[], options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? (() => {});
  const service = await DeepPowersService.create(options.backend ?? sealBackend, compiledDirs.map((dir) => loadServedModel(dir)), options.dataDir);
  try {
    const http = await startHttpServer(service, {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      auth: options.tokens === undefined ? 'insecure-no-auth' : TokenTable.parse(options.tokens, 'tokens'),
      log,
      ...(options.ui ? { ui: loadUi() } : {}),
    });
    return {
      url: http.url,
      close: async () => {
        await http.close();
        await service.close();
      },
    };
  } catch (e) {
    await service.close();
    throw e;
  }
}

export interface ConnectOptions {
  /** The server's MCP endpoint. */
  readonly url: string;
  readonly token?: string;
  /** The keystore directory (as `deeppowers client --keystore`) and its passphrase. */
  readonly keystore: string;
  readonly passphrase: string;
}

export interface PrivateClient {
  /** Encrypt `rows` here, evaluate them on the server, verify the log entry, decrypt here. */
  predict(model: string, rows: readonly unknown[]): Promise<PrivatePrediction>;
  close(): Promise<void>;
}

/** `deeppowers client` as a library: private predictions on a remote server, keys in a local keystore. */
export async function connect(options: ConnectOptions): Promise<PrivateClient> {
  const remote = await RemoteServer.connect({ url: options.url, ...(options.token !== undefined ? { token: options.token } : {}) });
  const keystore = Keystore.open(options.keystore, options.passphrase);
  const models = new Map<string, Promise<PrivateModel>>();
  return {
    async predict(model, rows) {
      let m = models.get(model);
      if (!m) {
        m = PrivateModel.open(sealBackend, remote, keystore, model);
        models.set(model, m);
        m.catch(() => models.delete(model));
      }
      return (await m).predict(rows);
    },
    async close() {
      for (const m of models.values()) await m.then((x) => x.dispose()).catch(() => {});
      await remote.close();
    },
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
