// `import ... from 'deeppowers'`: the library is TypeScript (runtime/app/node.ts), loaded through
// tsx's loader like the CLI, so the package has no compiled copy of itself to fall out of date.
// node-seal's WebAssembly needs Node >= 22.
import { tsImport } from 'tsx/esm/api';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) throw new Error(`deeppowers needs Node >= 22 (node-seal's WebAssembly); this is Node ${process.versions.node}`);

const api = await tsImport('../runtime/app/node.ts', import.meta.url);

export const {
  compile,
  loadCompiledModel,
  writeCompiledModel,
  predictPrivately,
  serve,
  connect,
  sealBackend,
  simulationBackend,
  FheClient,
  Keystore,
  keystoreClient,
  secretKeyFingerprint,
  LOCAL_SCOPE,
  serverScope,
  entropyOfPhrase,
  phraseOf,
  createPrivateClientServer,
  startHttpServer,
  createMcpServer,
  DeepPowersService,
  loadServedModel,
  PrivateModel,
  RemoteServer,
  DeepPowersError,
} = api;
