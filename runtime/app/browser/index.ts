/**
 * `deeppowers/browser`: the client side of private inference in a page. Keys are made (or
 * derived from the 24-word recovery phrase) and kept in the page, sealed in IndexedDB under the
 * user's passphrase; rows are encrypted here, the server computes on ciphertexts, each result's
 * transparency-log entry is verified here before it is decrypted here.
 *
 * SEAL's WebAssembly is fetched from `seal_throws.wasm` next to this bundle unless
 * `useSealWasm(url)` names another place, before the first model is opened.
 */
import { setSealWasmSource } from '../../backends/seal/seal-module';

export { BrowserClient, localStoragePins, PINS_STORAGE_KEY, type BrowserClientOptions, type PredictPhase } from './browser-client';
export { BrowserKeystore, PBKDF2_ITERATIONS } from './browser-keystore';
export { FheClient } from '../../client/fhe-client';
export { secretKeyFingerprint } from '../../client/model-keys';
export { entropyOfPhrase, phraseOf, secretKeySeed } from '../../client/recovery-phrase';
export { LOCAL_SCOPE, serverScope, type KeyScope } from '../../client/key-scope';
export { sealBackend } from '../../backends/seal/backend';
export { clientModelOfView, PrivateModel, type PrivatePrediction } from '../../mcp/private-model';
export { RemoteServer, type RemoteModelSummary } from '../../mcp/remote';
export { PinStore } from '../../network/pins';
export { DeepPowersError } from '../../../compiler/errors';

/** Fetch SEAL's WebAssembly from `url` (default: next to this module). */
export function useSealWasm(url: string | URL): void {
  setSealWasmSource(async () => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${String(url)}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  });
}

useSealWasm(new URL('seal_throws.wasm', import.meta.url));
