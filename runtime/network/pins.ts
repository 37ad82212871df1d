import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail } from '../../compiler/errors';

/**
 * What `deeppowers client` trusts about each server, pinned on first use in the keystore dir
 * (`pins.json`): the server's log key and the nodes that have attested its results (a node id is
 * the hash of its key, so an id always means the same key). A later answer under another log key is refused: the server, or someone in
 * front of it, changed the key the client learned to trust.
 */

export interface ServerPin {
  readonly log_vkey: string;
  readonly nodes: Record<string, string>;
}

const FILE = 'pins.json';

export type ServerPins = Record<string, ServerPin>;

export class PinStore {
  private constructor(
    private readonly pins: ServerPins,
    private readonly persist: (pins: ServerPins) => void,
  ) {}

  static open(dir: string): PinStore {
    const path = join(dir, FILE);
    const save = (pins: ServerPins) => savePins(path, pins);
    if (!existsSync(path)) return new PinStore({}, save);
    try {
      return new PinStore(JSON.parse(readFileSync(path, 'utf8')) as ServerPins, save);
    } catch (e) {
      return fail('IO', `cannot read ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  /** Pins kept elsewhere (a page's localStorage): `saved` as last persisted, `persist` called with every change. */
  static over(saved: ServerPins, persist: (pins: ServerPins) => void): PinStore {
    return new PinStore({ ...saved }, persist);
  }

  get(server: string): ServerPin | undefined {
    return this.pins[server];
  }

  /** The pinned log key for `server`, pinning `offered` if there is none yet; refuses a different one. */
  logKey(server: string, offered: string): { vkey: string; firstUse: boolean } {
    const pin = this.pins[server];
    if (!pin) {
      this.pins[server] = { log_vkey: offered, nodes: {} };
      this.save();
      return { vkey: offered, firstUse: true };
    }
    if (pin.log_vkey !== offered) fail('BAD_CIPHERTEXT', `the server's log key changed since first use (pinned ${pin.log_vkey.split('+')[0]}+${pin.log_vkey.split('+')[1]}); refusing its results`);
    return { vkey: pin.log_vkey, firstUse: false };
  }

  recordNodes(server: string, nodes: Record<string, string>): void {
    const pin = this.pins[server];
    if (!pin || Object.keys(nodes).every((id) => pin.nodes[id] === nodes[id])) return;
    this.pins[server] = { ...pin, nodes: { ...pin.nodes, ...nodes } };
    this.save();
  }

  private save(): void {
    this.persist(this.pins);
  }
}

function savePins(path: string, pins: ServerPins): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
