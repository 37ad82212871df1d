import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail } from '../../compiler/errors';
import type { NodeRole } from './attestation';

/**
 * What `deeppowers client` trusts about each server, kept in the keystore dir (`pins.json`) and
 * written only after a response verified:
 * - the server's log key (a later answer under another key is refused);
 * - the node set: every node (id, role, Ed25519 key) whose attestation was behind the first
 *   verified response. Later, only pinned review nodes count towards the quorum, and a result
 *   attested by the server or one compute node alone must come from the pinned key;
 * - the quorum it requires (the largest of the server's own and `--min-quorum`);
 * - the largest checkpoint it has verified (C2SP tlog-checkpoint note), so a newer one is
 *   accepted only with a consistency proof from it and an older one only if it is a prefix.
 * Every change re-reads the file first, so clients (and models) sharing a keystore do not undo
 * each other's pins.
 */

export interface PinnedNode {
  readonly role: NodeRole;
  /** Ed25519 public key, base64. */
  readonly public_key: string;
}

export interface ServerPin {
  readonly log_vkey: string;
  /** Absent until a response verified (or after `client --repin --nodes-only`). */
  readonly node_set?: Record<string, PinnedNode>;
  readonly min_quorum?: number;
  /** The signed note of the largest checkpoint verified for this server. */
  readonly checkpoint?: string;
}

export const PINS_FILE = 'pins.json';

export type ServerPins = Record<string, ServerPin>;

/** Where pins are kept: pins.json in a keystore dir (Node), or a page's localStorage (browser). */
export interface PinStorage {
  /** Where the pins are (a file, or `localStorage <key>`): messages name it, and concurrent updates are serialized per path. */
  readonly path: string;
  /** The keystore dir they belong to, for the commands an error names. */
  readonly dir: string;
  read(): ServerPins;
  write(all: ServerPins): void;
}

export class PinStore {
  private constructor(private readonly storage: PinStorage) {}

  static open(dir: string): PinStore {
    const store = new PinStore(fileStorage(join(dir, PINS_FILE)));
    store.read();
    return store;
  }

  /** Pins kept somewhere else than a keystore dir (a page's localStorage). */
  static over(storage: PinStorage): PinStore {
    return new PinStore(storage);
  }

  get path(): string {
    return this.storage.path;
  }

  /** The keystore dir the pins live in (for the commands an error names). */
  get dir(): string {
    return this.storage.dir;
  }

  get(server: string): ServerPin | undefined {
    return this.read()[server];
  }

  set(server: string, pin: ServerPin): void {
    const all = this.read();
    all[server] = pin;
    this.storage.write(all);
  }

  /**
   * Forget what was pinned for `server`: everything (the next verified response pins a new log
   * key, node set and checkpoint), or only the node set and quorum. Returns whether there was a pin.
   */
  forget(server: string, what: 'all' | 'nodes'): boolean {
    const all = this.read();
    const pin = all[server];
    if (!pin) return false;
    if (what === 'all') delete all[server];
    else all[server] = { log_vkey: pin.log_vkey, ...(pin.checkpoint ? { checkpoint: pin.checkpoint } : {}) };
    this.storage.write(all);
    return true;
  }

  private read(): ServerPins {
    return this.storage.read();
  }
}

function fileStorage(path: string): PinStorage {
  return {
    path,
    dir: dirname(path),
    read() {
      if (!existsSync(path)) return {};
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as ServerPins;
      } catch (e) {
        return fail('IO', `cannot read ${path}: ${(e as Error).message.split('\n')[0]}`);
      }
    },
    write(all) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, path);
    },
  };
}

/** The command that deliberately forgets a server's pins, as errors name it. */
export function repinCommand(server: string, keystoreDir: string, nodesOnly = false): string {
  return `deeppowers client --repin --server ${server} --keystore ${keystoreDir}${nodesOnly ? ' --nodes-only' : ''}`;
}
