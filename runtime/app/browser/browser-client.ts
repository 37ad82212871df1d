import { clientViewFromJson, type ClientView } from '../../../compiler/artifact/views';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker-provider.js';
import { sealBackend } from '../../backends/seal/backend';
import { secretKeyFingerprint } from '../../client/model-keys';
import { phraseOf } from '../../client/recovery-phrase';
import { PrivateModel, type PredictProgress, type PrivatePrediction } from '../../mcp/private-model';
import type { ModelDescription } from '../../service/served-model';
import { RemoteServer, type RemoteModelSummary } from '../../mcp/remote';
import { PinStore, type ServerPins } from '../../network/pins';
import type { ClientKeyStore } from '../../client/client-keystore';

/**
 * `deeppowers client` in a page: the same PrivateModel (describe, keys from the keystore,
 * encrypt, upload evaluation keys, predict over MCP Streamable HTTP with client steps, verify the
 * log entry, decrypt), with the keystore in IndexedDB and the server pins in localStorage.
 */
export interface BrowserClientOptions {
  /** The server's MCP endpoint, e.g. `${location.origin}/mcp`. */
  readonly url: string;
  readonly token?: string;
  /** Where the secret keys are kept: a BrowserKeystore (IndexedDB under a passphrase), or any other ClientKeyStore. */
  readonly keystore: ClientKeyStore;
  /** Where the server's log key is pinned on first use (default: this origin's localStorage). */
  readonly pins?: PinStore;
}

/** What a prediction went through, in order, for a progress bar. */
export type PredictPhase =
  | { readonly phase: 'keys' }
  | { readonly phase: 'upload' }
  | { readonly phase: 'evaluation'; readonly done: number; readonly total: number }
  | { readonly phase: 'done' };

export const PINS_STORAGE_KEY = 'deeppowers/pins';

/** Server pins in this origin's localStorage, shared by every page of it. */
export function localStoragePins(key = PINS_STORAGE_KEY): PinStore {
  return PinStore.over({
    path: `localStorage ${key}`,
    dir: 'localStorage',
    read: () => {
      try {
        return JSON.parse(localStorage.getItem(key) ?? '{}') as ServerPins;
      } catch {
        // An unreadable record pins nothing; the next verified answer replaces it.
        return {};
      }
    },
    write: (all) => localStorage.setItem(key, JSON.stringify(all)),
  });
}

export class BrowserClient {
  private readonly models = new Map<string, Promise<PrivateModel>>();

  private constructor(
    private readonly remote: RemoteServer,
    private readonly keystore: ClientKeyStore,
    private readonly pins: PinStore,
  ) {}

  static async connect(options: BrowserClientOptions): Promise<BrowserClient> {
    // The SDK's default validator compiles schemas to code; the page's policy forbids eval, this one interprets them.
    const jsonSchemaValidator = new CfWorkerJsonSchemaValidator();
    const remote = await RemoteServer.connect({ url: options.url, jsonSchemaValidator, ...(options.token ? { token: options.token } : {}) });
    return new BrowserClient(remote, options.keystore, options.pins ?? localStoragePins());
  }

  get url(): string {
    return this.remote.options.url;
  }

  listModels(): Promise<RemoteModelSummary[]> {
    return this.remote.listModels();
  }

  /** A model's client view as the server describes it (inputs, feature names, calibrated ranges); no keys are made. */
  async describe(name: string): Promise<{ readonly description: ModelDescription; readonly view: ClientView }> {
    const description = await this.remote.describe(name);
    return { description, view: clientViewFromJson(description.client_view) };
  }

  /** The model's private client: its secret key from the keystore, derived from the recovery root (made now if there is none) on first use. */
  model(name: string): Promise<PrivateModel> {
    let m = this.models.get(name);
    if (!m) {
      m = PrivateModel.open(sealBackend, this.remote, this.keystore, name, () => {}, {}, async () => {}, this.pins);
      m.catch(() => this.models.delete(name));
      this.models.set(name, m);
    }
    return m;
  }

  /** SHA-256 of the model's secret key for this server as the keystore holds it (the figure `deeppowers keygen --server <this URL>` prints). */
  async fingerprint(name: string): Promise<string> {
    const m = await this.model(name);
    const stored = await this.keystore.readSecretKey(m.view.modelHash, m.scope);
    if (!stored) throw new Error(`no secret key for ${name} in ${this.keystore.dir}`);
    return secretKeyFingerprint(stored.bytes);
  }

  /** The keystore's 24-word recovery phrase (every key here is derived from it); undefined before the first key. */
  async recoveryPhrase(): Promise<string | undefined> {
    const root = await this.keystore.readRecoveryRoot();
    return root && phraseOf(root);
  }

  /** Encrypt `rows`, run them on the server, verify the log entries and decrypt: nothing but ciphertexts leaves the page. */
  async predict(name: string, rows: readonly unknown[], onPhase: (p: PredictPhase) => void = () => {}): Promise<PrivatePrediction> {
    // Key work runs on the page's thread: each phase is announced, then the page gets a turn to paint it.
    const announce = async (p: PredictPhase) => {
      onPhase(p);
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    };
    await announce({ phase: 'keys' });
    const m = await this.model(name);
    await announce({ phase: 'upload' });
    await m.ensureKeys();
    const out = await m.predict(rows, { onProgress: (p: PredictProgress) => onPhase({ phase: 'evaluation', ...p }) });
    onPhase({ phase: 'done' });
    return out;
  }

  async close(): Promise<void> {
    for (const m of this.models.values()) await m.then((x) => x.dispose()).catch(() => {});
    this.models.clear();
    await this.remote.close();
  }
}
